"""Settings from the environment, the same shape for every service.

Infrastructure endpoints are shared, unprefixed variables (``KAFKA_BOOTSTRAP_SERVERS``,
``MONGODB_URI``, ``S3_ENDPOINT`` …) so that one environment points every service at the
same cluster. What belongs to one service carries its prefix (``IDENTITY_HTTP_PORT``,
``IDENTITY_SIGNING_KEYS`` …); a prefixed variable also overrides a shared one, so a single
service can be pointed elsewhere (``DOCUMENTS_MONGODB_URI``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)


def decode_keyring(raw: str | dict[str, str]) -> dict[str, bytes]:
    """Parse the one keyring format every service uses: JSON ``{kid: base64(key)}``.

    URL-safe and standard base64 are both accepted, padding optional.
    """
    data = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(data, dict) or not data:
        raise ValueError("a keyring is a non-empty JSON object {kid: base64 key}")
    keys: dict[str, bytes] = {}
    for kid, value in data.items():
        if not isinstance(kid, str) or not kid or not isinstance(value, str):
            raise ValueError("a keyring maps a non-empty key id to a base64 string")
        padded = value + "=" * (-len(value) % 4)
        keys[kid] = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    return keys


def encode_keyring(keys: dict[str, bytes]) -> str:
    return json.dumps(
        {kid: base64.urlsafe_b64encode(key).decode().rstrip("=") for kid, key in keys.items()}
    )


class _PrefixFirstEnv(EnvSettingsSource):
    """Reads ``<PREFIX><NAME>`` first and falls back to the unprefixed ``<NAME>``."""

    def __call__(self) -> dict[str, Any]:
        prefixed = super().__call__()
        saved = self.env_prefix
        self.env_prefix = ""
        try:
            shared = super().__call__()
        finally:
            self.env_prefix = saved
        return {**shared, **prefixed}


class ServiceSettings(BaseSettings):
    """Base of every service's settings; a service subclasses it and sets ``service_name``."""

    service_name: ClassVar[str] = "service"
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # --- HTTP ---------------------------------------------------------------
    http_host: str = "127.0.0.1"
    # Each service's settings set its own default (API.md: identity 8001 … notifications 8005).
    http_port: int = 8000
    # Proxies whose X-Forwarded-For is trusted (the API gateway's addresses).
    trusted_proxies: list[str] = Field(default_factory=list)
    # How long the answer to a POST/PATCH with an Idempotency-Key is replayed to retries.
    idempotency_ttl_hours: float = Field(default=24.0, gt=0)
    # The largest request body read (bytes, EMK_MAX_BODY_BYTES): a larger one is a 413 before
    # it is read. A route that streams a larger body itself (the documents upload) is given
    # its own limit by its service (create_app's body_limits).
    emk_max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # The Retry-After (seconds) of a 503 when MongoDB, S3 or identity's keys are unreachable.
    unavailable_retry_after_seconds: int = Field(default=5, ge=1)

    # --- infrastructure (shared, unprefixed names) --------------------------
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_partitions: int = 3
    kafka_topic_replication: int = 1
    # How long a fetch may wait at the broker for data. Apache Kafka answers a waiting fetch
    # as soon as data arrives; Tansu answers only when the wait ends, so the local stack
    # sets a short wait (at the cost of more idle fetches).
    kafka_fetch_max_wait_ms: int = 500
    # One consumer group per service (default: its name); replicas share it.
    kafka_consumer_group: str = ""
    # How long the group coordinator waits for a silent member before it hands the member's
    # partitions to the others (heartbeats every third of it). Tansu also waits half of it
    # for more members whenever one joins, and holds a restarted member back until its old
    # self has timed out (LeaveGroup is not honoured): the local stack sets 3 s, so a start
    # joins in ~1.5 s and a restart in ~7 s. Apache Kafka refuses less than its
    # group.min.session.timeout.ms (6 s by default).
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    # How every Kafka client of the service connects (emk_common.kafka.kafka_security):
    # PLAINTEXT locally; in the cluster TLS with SCRAM (deploy/k8s: SASL_SSL, SCRAM-SHA-512,
    # the cluster CA's file, the service's own Kafka user). The password is never logged.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    # The CA that signed the brokers' certificates (PEM); unset: the system's trusted CAs.
    kafka_ssl_cafile: Path | None = None
    mongodb_uri: str = "mongodb://127.0.0.1:27017"
    mongodb_database: str = ""
    # Every MongoDB operation's budget (pymongo's timeoutMS: server selection, connection,
    # the round trip and its retries together), so a request gives up within 2 s when MongoDB
    # is away or frozen and answers 503 (emk_common.unavailable). Background loops share it.
    mongodb_timeout_ms: int = Field(default=1000, gt=0)
    # Opening a connection (TCP and the handshake); within the budget above.
    mongodb_connect_timeout_ms: int = Field(default=1000, gt=0)
    # Startup's index builds and hooks together (they may scan a large collection once).
    mongodb_startup_timeout_seconds: float = Field(default=60.0, gt=0)
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_access_key: str = "emk-local"
    s3_secret_key: str = "emk-local-secret"  # noqa: S105 - the local stand-in's default only
    s3_region: str = "us-east-1"
    s3_bucket: str = ""
    # S3 calls give up quickly (a request answers 503 within 2 s when S3 is away): connecting,
    # and each wait for data; only a connection that could not be opened is retried, once.
    s3_connect_timeout_seconds: float = Field(default=0.5, gt=0)
    s3_read_timeout_seconds: float = Field(default=1.5, gt=0)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    emk_var_dir: Path = Path("var")
    otel_exporter_otlp_endpoint: str | None = None
    log_level: str = "INFO"

    # --- delivery -----------------------------------------------------------
    outbox_shards: int = 8
    outbox_lease_seconds: float = 10.0
    outbox_poll_seconds: float = 0.25
    outbox_batch_size: int = 500
    consumer_max_attempts: int = 5
    # Events a consumer applies in one MongoDB transaction with one offset commit (what one
    # fetch returns, at most this many); 1 applies them one by one. A transaction should stay
    # small and short (MongoDB aborts one after 60 s), so keep this in the hundreds at most.
    consumer_batch_max: int = Field(default=100, ge=1)
    consumer_backoff_seconds: float = 0.2
    consumer_backoff_max_seconds: float = 5.0

    # --- identity, which every service asks for its keys (JWKS) ---------------
    # (Other peers are in the settings of the services that call them.)
    identity_url: str = "http://127.0.0.1:8001"

    # --- users' access tokens (signed by identity, verified everywhere) -------
    access_token_issuer: str = "emk-identity"  # noqa: S105 - a claim, not a secret
    access_token_audience: str = "emk"  # noqa: S105 - a claim, not a secret
    jwks_cache_seconds: float = 300.0
    # How long fetching identity's JWKS may take (within the 2 s budget of a request).
    jwks_timeout_seconds: float = Field(default=0.75, gt=0)
    # How long an access token lives (seconds; identity signs them so): a service keeps a
    # revoked session in memory that long, and on start reads that far back the revocations
    # on emk.identity.sessions (emk_common.revocation).
    access_token_ttl_seconds: int = Field(default=900, gt=0)

    # --- data at rest -------------------------------------------------------
    # Field encryption keyring {kid: base64(32 bytes)} and the active kid (default: the only one).
    emk_field_keys: str = ""
    emk_field_kid: str = ""
    # The blind index's own key: base64(32 bytes), padding optional.
    emk_blind_index_key: str = ""

    # --- service-to-service tokens ------------------------------------------
    # This service's Ed25519 signing keys as a keyring {kid: base64(raw 32-byte seed)}.
    signing_keys: str = ""
    signing_kid: str = ""
    # Every service's public keys: {"identity": {kid: base64(raw public key)}, ...}.
    service_public_keys: str = "{}"
    # The services allowed to call this one's /internal API.
    trusted_callers: list[str] = Field(default_factory=list)
    service_token_ttl_seconds: int = 60

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        prefix = f"{cls.service_name.upper()}_"
        return (init_settings, _PrefixFirstEnv(settings_cls, env_prefix=prefix))

    @field_validator("mongodb_database")
    @classmethod
    def _default_database(cls, value: str) -> str:
        return value or f"emk_{cls.service_name}"

    @field_validator("kafka_consumer_group")
    @classmethod
    def _default_group(cls, value: str) -> str:
        return value or cls.service_name

    @field_validator("kafka_ssl_cafile", mode="before")
    @classmethod
    def _no_cafile(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _sasl_credentials(self) -> Self:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        return self

    @field_validator("s3_bucket")
    @classmethod
    def _default_bucket(cls, value: str) -> str:
        return value or f"emk-{cls.service_name}"

    def signing_keyring(self) -> dict[str, bytes]:
        return decode_keyring(self.signing_keys) if self.signing_keys else {}

    def public_keyrings(self) -> dict[str, dict[str, bytes]]:
        raw = json.loads(self.service_public_keys or "{}")
        return {service: decode_keyring(ring) for service, ring in raw.items()}
