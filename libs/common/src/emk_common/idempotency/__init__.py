"""``Idempotency-Key`` for every POST and PATCH of every service: a retry gets the first answer.

Follows the IETF draft "The Idempotency-Key HTTP Header Field". :func:`create_app
<emk_common.service.create_app>` installs :class:`IdempotencyMiddleware` in every service,
storing keys in the service's own database (collection ``idempotency_keys``, kept for
``IDEMPOTENCY_TTL_HOURS``, 24 h by default, by a TTL index on ``expires_at``).

* Only POST and PATCH requests carrying the header take part; anything else, and a
  request without it, passes straight through (no database round trip). A key is 1–255
  printable ASCII characters, bare or as a structured-field string (``"…"``); anything
  else, or the header twice, is a 400 problem.
* **Scope.** A key belongs to the verified caller: with a valid ``Authorization: Bearer``
  access token (checked by ``app.state.access_verifier``) the scope is the user id; with
  no ``Authorization`` at all (public endpoints) it is "anonymous", where only a request
  identical in method, path, query and every byte of the body gets the stored answer. An
  ``Authorization`` header that does not verify — expired, foreign, a service token, no
  verifier — makes the request pass through untracked: the route answers it (401), nothing
  is stored, and an unverified subject never selects someone else's answer.
* **First request.** A record ``{_id: hash(scope, key), state: "processing", owner, lease}``
  is inserted atomically, then the route runs. The request body is hashed as the route reads
  it (nothing is buffered: a 5 MB upload streams through); a body the route did not read is
  drained and hashed just before the answer is sent. The answer is stored before its body
  reaches the client, so a client that has it never sees a 409 for its own key.
  Not stored, the key released so that a retry runs again: 5xx, 401, 403, 408, 413, 429, an
  answer of several body messages (streamed) or over 1 MB, a request body over the limit
  (8 MB), and a route that raised.
* **Repeat while the first runs** → 409 with ``Retry-After: 1``. The first request renews
  its lease while it runs (every ``lease_seconds / 3``); a record whose lease lapsed (its
  process died) is taken over by the next request with the key.
* **Repeat after it finished.** The repeat's body is hashed (up to the limit, else 422) and
  its method, path, query and body compared with the first's: a difference is a 422
  (``idempotency-key-reused``), a match replays the stored status, headers and body with
  ``Idempotent-Replayed: true`` — the route does not run again.

Stored answers may hold tokens, secrets or medical data, so they are encrypted (AES-256-GCM)
under a key derived from the scope and the idempotency key, and the request fingerprint is an
HMAC under another: the database holds neither the idempotency key nor anything readable
without it. That protection is as strong as the client's key — clients send a random UUID.
"""

from __future__ import annotations

from emk_common.idempotency.keys import HEADER, REPLAYED_HEADER, parse_key
from emk_common.idempotency.middleware import IdempotencyMiddleware, install_idempotency
from emk_common.idempotency.store import COLLECTION, Claim, IdempotencyStore

__all__ = [
    "COLLECTION",
    "HEADER",
    "REPLAYED_HEADER",
    "Claim",
    "IdempotencyMiddleware",
    "IdempotencyStore",
    "install_idempotency",
    "parse_key",
]
