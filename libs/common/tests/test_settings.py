from __future__ import annotations

from typing import ClassVar

import pytest

from emk_common.settings import ServiceSettings, decode_keyring, encode_keyring


class IdentitySettings(ServiceSettings):
    service_name: ClassVar[str] = "identity"
    http_port: int = 8001  # a service names its own port; the library knows none


def test_shared_variables_apply_and_a_prefixed_one_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://shared:27017")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("IDENTITY_MONGODB_URI", "mongodb://own:27017")
    monkeypatch.setenv("IDENTITY_TRUSTED_CALLERS", '["notifications"]')
    settings = IdentitySettings()
    assert settings.mongodb_uri == "mongodb://own:27017"
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.trusted_callers == ["notifications"]


def test_defaults_follow_the_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IDENTITY_HTTP_PORT", "HTTP_PORT", "MONGODB_DATABASE", "S3_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    settings = IdentitySettings()
    assert settings.http_port == 8001
    assert settings.mongodb_database == "emk_identity"
    assert settings.s3_bucket == "emk-identity"
    assert settings.kafka_consumer_group == "identity"


def test_keyrings_round_trip_in_one_format() -> None:
    keys = {"k1": bytes(range(32)), "k2": b"\xff" * 32}
    assert decode_keyring(encode_keyring(keys)) == keys
    padded_standard = '{"k1": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}'
    assert decode_keyring(padded_standard) == {"k1": bytes(range(32))}


@pytest.mark.parametrize("raw", ["{}", "[]", '{"k1": 5}', '{"": "AAAA"}'])
def test_a_malformed_keyring_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="keyring"):
        decode_keyring(raw)
