"""How the services' Kafka clients connect: ``KAFKA_SECURITY_PROTOCOL`` and its companions read
into settings, turned into one set of options (``emk_common.kafka.kafka_security``) that the
FastStream broker, the admin client and the revocation reader all get — and the password in none
of the logs or documents."""

from __future__ import annotations

import datetime
import logging
import ssl
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiokafka.errors import KafkaError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faststream.specification import AsyncAPI
from pydantic import ValidationError

from emk_common import kafka
from emk_common.kafka import client_options, create_broker, ensure_topics, kafka_security
from emk_common.revocation import RevocationReader, RevokedSessions
from emk_common.settings import ServiceSettings

PASSWORD = "not-to-be-seen-1f4c9"  # a test's made-up password


class ProbeSettings(ServiceSettings):
    service_name: ClassVar[str] = "probe"


@pytest.fixture(scope="module")
def cafile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed CA (PEM), as Strimzi's cluster CA certificate is mounted."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "emk-test-cluster-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path_factory.mktemp("kafka-ca") / "ca.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _trusts_only(context: Any, common_name: str) -> None:
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    certs: list[Any] = context.get_ca_certs()
    subjects = [dict(part[0] for part in ca["subject"]) for ca in certs]
    assert {"commonName": common_name} in subjects


def test_plaintext_is_the_default_and_adds_no_option() -> None:
    settings = ProbeSettings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert kafka_security(settings) is None
    assert client_options(settings) == {}
    broker = create_broker(settings, None)
    # aiokafka's own default, PLAINTEXT, with no credentials.
    assert broker._connection_kwargs.get("security_protocol", "PLAINTEXT") == "PLAINTEXT"
    assert broker._connection_kwargs.get("sasl_plain_password") is None


def test_ssl_verifies_the_brokers_with_the_given_ca(cafile: Path) -> None:
    options = client_options(ProbeSettings(kafka_security_protocol="SSL", kafka_ssl_cafile=cafile))
    assert options["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in options
    _trusts_only(options["ssl_context"], "emk-test-cluster-ca")


def test_ssl_without_a_ca_file_trusts_the_systems_cas() -> None:
    options = client_options(ProbeSettings(kafka_security_protocol="SSL", kafka_ssl_cafile=""))
    assert options["security_protocol"] == "SSL"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert "emk-test-cluster-ca" not in str(context.get_ca_certs())


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_sasl_ssl_sends_the_users_credentials_over_tls(mechanism: str, cafile: Path) -> None:
    settings = ProbeSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="probe",
        kafka_sasl_password=PASSWORD,
        kafka_ssl_cafile=cafile,
    )
    options = client_options(settings)
    assert {k: v for k, v in options.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "probe",
        "sasl_plain_password": PASSWORD,
    }
    _trusts_only(options["ssl_context"], "emk-test-cluster-ca")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_sasl_plaintext_has_credentials_and_no_tls(mechanism: str) -> None:
    options = client_options(
        ProbeSettings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism=mechanism,
            kafka_sasl_username="probe",
            kafka_sasl_password=PASSWORD,
        )
    )
    assert options == {
        "security_protocol": "SASL_PLAINTEXT",
        "ssl_context": None,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "probe",
        "sasl_plain_password": PASSWORD,
    }


@pytest.mark.parametrize("missing", ["kafka_sasl_username", "kafka_sasl_password"])
def test_sasl_without_credentials_is_refused_at_start(missing: str) -> None:
    values: dict[str, Any] = {
        "kafka_sasl_username": "probe",
        "kafka_sasl_password": PASSWORD,
        missing: "",
    }
    with pytest.raises(ValidationError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        ProbeSettings(kafka_security_protocol="SASL_SSL", **values)


@pytest.mark.parametrize(
    ("field", "value"),
    [("kafka_security_protocol", "TLS"), ("kafka_sasl_mechanism", "SCRAM-SHA-1")],
)
def test_an_unknown_protocol_or_mechanism_is_refused(field: str, value: str) -> None:
    values: dict[str, Any] = {field: value}
    with pytest.raises(ValidationError, match=field):
        ProbeSettings(**values)


def test_the_manifests_variables_are_read(monkeypatch: pytest.MonkeyPatch, cafile: Path) -> None:
    """As deploy/k8s sets them: shared in the ConfigMap, the user and password per service."""
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", str(cafile))
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "probe")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", PASSWORD)
    settings = ProbeSettings()
    assert settings.kafka_ssl_cafile == cafile
    assert settings.kafka_sasl_password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings.model_dump())
    assert client_options(settings)["sasl_mechanism"] == "SCRAM-SHA-512"


def _sasl_ssl(cafile: Path, **extra: Any) -> ProbeSettings:
    return ProbeSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="probe",
        kafka_sasl_password=PASSWORD,
        kafka_ssl_cafile=cafile,
        **extra,
    )


async def test_every_client_gets_the_same_options(
    cafile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker (its producer and consumers), the admin client and the revocation reader."""
    settings = _sasl_ssl(cafile)
    wanted = client_options(settings)
    plain = {k: v for k, v in wanted.items() if k != "ssl_context"}

    broker = create_broker(settings, None)
    assert {k: broker._connection_kwargs[k] for k in plain} == plain

    made: list[dict[str, Any]] = []

    class RefusedError(Exception):
        pass

    class RecordingAdmin:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

        async def start(self) -> None:
            raise RefusedError

    monkeypatch.setattr(kafka, "AIOKafkaAdminClient", RecordingAdmin)
    with pytest.raises(RefusedError):
        await ensure_topics(settings, ["emk.probe"])
    [admin] = made
    assert {k: admin[k] for k in plain} == plain
    _trusts_only(admin["ssl_context"], "emk-test-cluster-ca")

    consumer = RevocationReader(settings, RevokedSessions())._consumer()
    client = consumer._client
    assert (client._security_protocol, client._sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (client._sasl_plain_username, client._sasl_plain_password) == ("probe", PASSWORD)
    _trusts_only(client._ssl_context, "emk-test-cluster-ca")


async def test_the_password_is_in_no_log_and_no_document(
    cafile: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed connection logs at every level without it; the AsyncAPI document names the
    mechanism only."""
    caplog.set_level(logging.DEBUG)
    # Nothing listens on port 9 here: the bootstrap fails at once.
    settings = _sasl_ssl(cafile, kafka_bootstrap_servers="127.0.0.1:9")
    with pytest.raises((KafkaError, OSError)):
        await ensure_topics(settings, ["emk.probe"])
    assert caplog.records, "the failure was logged"
    assert PASSWORD not in caplog.text
    broker = create_broker(settings, None)
    document = AsyncAPI(broker, title="probe").to_specification().to_json()
    assert "scramSha512" in document
    assert PASSWORD not in document
