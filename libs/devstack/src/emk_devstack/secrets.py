"""The local stack's keys and bootstrap admin, made once under ``$EMK_VAR_DIR/secrets``.

Kept across runs, so tokens, encrypted fields and documents written in one run still
verify and decrypt in the next. The environment variables they become are a contract
with ``emk_common.settings``: keyrings are JSON ``{kid: base64url(raw key)}``.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_urlsafe

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from emk_common.settings import encode_keyring
from emk_devstack.ports import SERVICES
from emk_devstack.processes import StackError

DEFAULT_ADMIN_EMAIL = "admin@emk.local"
ADMIN_PASSWORD_VARIABLE = "EMK_BOOTSTRAP_ADMIN_PASSWORD"  # noqa: S105 - a variable's name
FIELD_KEY_ID = "f1"
DOCUMENTS_MASTER_KEY_ID = "m1"
OTP_KEY_ID = "otp-1"
KEY_SIZE = 32


def signing_kid(service: str) -> str:
    return f"{service}-1"


@dataclass(frozen=True)
class StackSecrets:
    """The keys and the bootstrap admin; no key or password is in its ``repr``."""

    # service -> raw 32-byte Ed25519 private key (the seed)
    signing_keys: Mapping[str, bytes] = field(repr=False)
    field_key: bytes = field(repr=False)
    blind_index_key: bytes = field(repr=False)
    documents_master_key: bytes = field(repr=False)
    # raw X25519 private key of the notifications service
    otp_private_key: bytes = field(repr=False)
    admin_email: str
    admin_password: str = field(repr=False)
    # Given by the developer (EMK_BOOTSTRAP_ADMIN_PASSWORD), not made here: never printed.
    admin_password_from_env: bool = False

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        public: dict[str, dict[str, str]] = {}
        for service, seed in self.signing_keys.items():
            kid = signing_kid(service)
            env[f"{service.upper()}_SIGNING_KEYS"] = encode_keyring({kid: seed})
            env[f"{service.upper()}_SIGNING_KID"] = kid
            public_key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
            public[service] = json.loads(encode_keyring({kid: public_key.public_bytes_raw()}))
        env["SERVICE_PUBLIC_KEYS"] = json.dumps(public)
        env["EMK_FIELD_KEYS"] = encode_keyring({FIELD_KEY_ID: self.field_key})
        env["EMK_BLIND_INDEX_KEY"] = b64url(self.blind_index_key)
        env["DOCUMENTS_MASTER_KEYS"] = encode_keyring(
            {DOCUMENTS_MASTER_KEY_ID: self.documents_master_key}
        )
        otp_public = X25519PrivateKey.from_private_bytes(self.otp_private_key).public_key()
        env["NOTIFICATIONS_OTP_PRIVATE_KEYS"] = encode_keyring({OTP_KEY_ID: self.otp_private_key})
        env["NOTIFICATIONS_OTP_PUBLIC_KEYS"] = encode_keyring(
            {OTP_KEY_ID: otp_public.public_bytes_raw()}
        )
        env["EMK_BOOTSTRAP_ADMIN_EMAIL"] = self.admin_email
        env[ADMIN_PASSWORD_VARIABLE] = self.admin_password
        return env


def b64url(raw: bytes) -> str:
    """The encoding of every key in the environment: base64url without padding."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def load_or_create(directory: Path, environ: Mapping[str, str] | None = None) -> StackSecrets:
    """Read the secrets under ``directory``, making any that are missing.

    The bootstrap admin comes from ``EMK_BOOTSTRAP_ADMIN_EMAIL`` / ``_PASSWORD`` in
    ``environ`` when set; otherwise ``admin@emk.local`` and a password made once.
    """
    environ = os.environ if environ is None else environ
    store = _SecretStore(directory)
    given = environ.get(ADMIN_PASSWORD_VARIABLE)
    password = (
        given
        or store.get(
            "bootstrap-admin-password", lambda: token_urlsafe(18).encode(), size=None
        ).decode()
    )
    return StackSecrets(
        signing_keys={
            service: store.get(f"{service}-signing.ed25519", _ed25519_seed) for service in SERVICES
        },
        field_key=store.get("field-key.bin", _random_key),
        blind_index_key=store.get("blind-index-key.bin", _random_key),
        documents_master_key=store.get("documents-master-key.bin", _random_key),
        otp_private_key=store.get("notifications-otp.x25519", _x25519_private),
        admin_email=environ.get("EMK_BOOTSTRAP_ADMIN_EMAIL") or DEFAULT_ADMIN_EMAIL,
        admin_password=password,
        admin_password_from_env=bool(given),
    )


class _SecretStore:
    """One file per secret, mode 0600, in a 0700 directory; a file, once made, is kept."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)  # mkdir's mode is subject to the umask

    def get(self, name: str, make: Callable[[], bytes], size: int | None = KEY_SIZE) -> bytes:
        path = self.directory / name
        if not path.exists():
            self._create(path, make)
        path.chmod(0o600)
        value = path.read_bytes()
        if size is not None and len(value) != size:
            raise StackError(
                f"{path} should hold a {size}-byte key but has {len(value)} bytes; "
                "delete it to make a new one"
            )
        return value

    def _create(self, path: Path, make: Callable[[], bytes]) -> None:
        # Written in full under a private name, then linked into place: a concurrent
        # reader never sees half a key, and if two runs race, both use the first key.
        temporary = self.directory / f".{path.name}.{os.getpid()}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(make())
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)


def _random_key() -> bytes:
    return os.urandom(KEY_SIZE)


def _ed25519_seed() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes_raw()


def _x25519_private() -> bytes:
    return X25519PrivateKey.generate().private_bytes_raw()
