"""The stack's keys: made once, private, reused, and in the format emk_common reads."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from emk_common.settings import decode_keyring
from emk_devstack.ports import SERVICES
from emk_devstack.processes import StackError
from emk_devstack.secrets import load_or_create


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_are_made_once_private_and_reused(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"

    first = load_or_create(directory, environ={})
    again = load_or_create(directory, environ={})

    assert first == again
    assert mode(directory) == 0o700
    files = list(directory.iterdir())
    assert files
    assert all(mode(file) == 0o600 for file in files)
    assert not [file for file in files if file.name.endswith(".tmp")]


def test_every_service_gets_a_signing_keyring_and_everyone_its_public_key(
    tmp_path: Path,
) -> None:
    env = load_or_create(tmp_path / "secrets", environ={}).env()

    public = json.loads(env["SERVICE_PUBLIC_KEYS"])
    assert set(public) == set(SERVICES)
    for service in SERVICES:
        kid = env[f"{service.upper()}_SIGNING_KID"]
        assert kid == f"{service}-1"
        seed = decode_keyring(env[f"{service.upper()}_SIGNING_KEYS"])[kid]
        assert len(seed) == 32
        expected = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
        assert decode_keyring(public[service]) == {kid: expected}
        # base64url without padding, as emk_common.settings.encode_keyring writes it
        assert "=" not in env[f"{service.upper()}_SIGNING_KEYS"]


def test_data_keys_and_the_otp_key_pair(tmp_path: Path) -> None:
    env = load_or_create(tmp_path / "secrets", environ={}).env()

    field_keys = decode_keyring(env["EMK_FIELD_KEYS"])
    master_keys = decode_keyring(env["DOCUMENTS_MASTER_KEYS"])
    blind_index_key = decode_keyring({"k": env["EMK_BLIND_INDEX_KEY"]})["k"]
    assert [len(key) for key in field_keys.values()] == [32]
    assert set(field_keys) == {"f1"}
    assert [len(key) for key in master_keys.values()] == [32]
    assert set(master_keys) == {"m1"}
    assert len(blind_index_key) == 32
    assert len({field_keys["f1"], master_keys["m1"], blind_index_key}) == 3

    private = decode_keyring(env["NOTIFICATIONS_OTP_PRIVATE_KEYS"])["otp-1"]
    public = decode_keyring(env["NOTIFICATIONS_OTP_PUBLIC_KEYS"])["otp-1"]
    assert X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw() == public


def test_the_bootstrap_admin_defaults_and_keeps_its_password(tmp_path: Path) -> None:
    first = load_or_create(tmp_path / "secrets", environ={})
    again = load_or_create(tmp_path / "secrets", environ={})

    assert first.env()["EMK_BOOTSTRAP_ADMIN_EMAIL"] == "admin@emk.local"
    assert len(first.admin_password) >= 16
    assert again.admin_password == first.admin_password


def test_the_bootstrap_admin_comes_from_the_environment_when_set(tmp_path: Path) -> None:
    environ = {
        "EMK_BOOTSTRAP_ADMIN_EMAIL": "root@example.org",
        "EMK_BOOTSTRAP_ADMIN_PASSWORD": "correct horse battery staple",
    }

    env = load_or_create(tmp_path / "secrets", environ=environ).env()

    assert env["EMK_BOOTSTRAP_ADMIN_EMAIL"] == "root@example.org"
    assert env["EMK_BOOTSTRAP_ADMIN_PASSWORD"] == "correct horse battery staple"
    assert not (tmp_path / "secrets" / "bootstrap-admin-password").exists()


def test_a_damaged_key_file_is_reported_not_used(tmp_path: Path) -> None:
    load_or_create(tmp_path / "secrets", environ={})
    (tmp_path / "secrets" / "field-key.bin").write_bytes(b"short")

    with pytest.raises(StackError, match=r"field-key\.bin should hold a 32-byte key"):
        load_or_create(tmp_path / "secrets", environ={})


def test_the_stack_secrets_know_whether_the_admin_password_was_given(tmp_path: Path) -> None:
    given = load_or_create(
        tmp_path / "given", environ={"EMK_BOOTSTRAP_ADMIN_PASSWORD": "correct horse battery"}
    )
    made = load_or_create(tmp_path / "made", environ={})

    assert given.admin_password_from_env
    assert not made.admin_password_from_env
    # No key or password in a repr, should one ever reach a log.
    for secrets in (given, made):
        shown = repr(secrets)
        assert secrets.admin_password not in shown
        assert secrets.field_key.hex() not in shown
        assert str(secrets.field_key) not in shown
        assert "admin@emk.local" in shown
