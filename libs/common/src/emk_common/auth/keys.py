"""Where identity's public keys come from: its JWKS, cached, or a fixed set."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from emk_common.eddsa import ALGORITHM
from emk_common.settings import ServiceSettings
from emk_common.unavailable import DependencyUnavailableError

# A JWK we verify with: (member, required value, value assumed when absent).
_JWK_MUST = (
    ("kty", "OKP", None),
    ("crv", "Ed25519", None),
    ("alg", ALGORITHM, ALGORITHM),
    ("use", "sig", "sig"),
)
_log = logging.getLogger(__name__)


class KeySource(Protocol):
    """Where the verifier finds identity's public key for a ``kid`` (``None``: unknown)."""

    async def key(self, kid: str) -> Ed25519PublicKey | None: ...


class StaticKeys:
    """A fixed set of keys: for tests, and for whoever holds the keys already."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    async def key(self, kid: str) -> Ed25519PublicKey | None:
        return self._keys.get(kid)


class JwksCache:
    """Identity's JWKS, cached by ``kid``.

    Keys are re-read after ``ttl`` seconds, and at once when a token names an unknown
    ``kid`` (identity rotated its key). Every fetch, whatever caused it, is at least
    ``min_refresh_interval`` apart, and concurrent callers share one fetch, so a flood of
    tokens with made-up kids costs identity one request per interval. While identity is
    unreachable the last keys stay in use: a known key keeps working. A token whose key is
    not among them cannot be checked then — its key may be identity's newest — so it is
    not refused either: :class:`~emk_common.unavailable.DependencyUnavailableError`, a 503
    with ``Retry-After`` (the fetch failure is a warning in our log, once per attempt). A
    successful fetch replaces the set, so a key identity stops publishing stops being
    accepted (a 401). A fetch gives up after ``timeout`` seconds, connecting included, so a
    frozen identity costs a request at most that long, and the next ones within the
    interval nothing. Without ``client`` each fetch opens its own short-lived client.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: float,
        client: httpx.AsyncClient | None = None,
        min_refresh_interval: float = 5.0,
        timeout: float = 0.75,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._ttl = ttl
        self._client = client
        self._min_interval = min_refresh_interval
        self._timeout = timeout
        self._clock = clock
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch, successful or not
        self._failing = False  # the last fetch failed: an unknown kid cannot be told
        self._generation = 0
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls, settings: ServiceSettings, client: httpx.AsyncClient | None = None
    ) -> JwksCache:
        url = f"{settings.identity_url.rstrip('/')}/.well-known/jwks.json"
        return cls(
            url,
            ttl=settings.jwks_cache_seconds,
            client=client,
            timeout=settings.jwks_timeout_seconds,
        )

    async def key(self, kid: str) -> Ed25519PublicKey | None:
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
        if stale or kid not in self._keys:
            await self._refresh()
        found = self._keys.get(kid)
        if found is None and self._failing:
            raise DependencyUnavailableError("identity-keys", self._retry_after())
        return found

    async def warm(self, *, every: float = 1.0) -> None:
        """Fetch the keys at start, until it works (identity may start after us): the first
        token a replica sees is then checked against keys in hand, not against a fetch made
        while the machine is busy starting everything. A background task of ``create_app``."""
        while self._fetched_at is None:
            self._attempted_at = None  # not the request path: no interval to keep
            await self._refresh()
            if self._fetched_at is None:
                await asyncio.sleep(every)

    def _retry_after(self) -> float:
        """Seconds until the next fetch may be tried."""
        since = self._clock() - (self._attempted_at or 0.0)
        return max(1.0, self._min_interval - since)

    async def _refresh(self) -> None:
        generation = self._generation
        async with self._lock:
            if self._generation != generation:
                return  # someone else fetched while we waited
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._min_interval:
                return
            self._attempted_at = now
            try:
                async with asyncio.timeout(self._timeout):  # connecting and reading together
                    document = await self._fetch()
                self._keys = _parse_jwks(document)
                self._fetched_at = now
                self._failing = False
            except (httpx.HTTPError, ValueError, TimeoutError) as exc:
                self._failing = True
                _log.warning(
                    "JWKS %s unavailable (%s), keeping %d cached keys",
                    self.url,
                    type(exc).__name__,
                    len(self._keys),
                )
            finally:
                # Bumped once the fetch is over, so whoever queued behind it uses its result.
                self._generation += 1

    async def _fetch(self) -> Any:
        if self._client is not None:
            response = await self._client.get(self.url, timeout=self._timeout)
        else:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.get(self.url)
        response.raise_for_status()
        return response.json()


def _parse_jwks(document: Any) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 signing keys of a JWKS; anything else in it is skipped."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("not a JWKS document")
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or any(
            entry.get(name, default) != want for name, want, default in _JWK_MUST
        ):
            continue
        kid, x = entry.get("kid"), entry.get("x")
        if not (kid and isinstance(kid, str) and isinstance(x, str)):
            continue
        try:
            raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 32:
            keys[kid] = Ed25519PublicKey.from_public_bytes(raw)
    return keys
