"""Path segments that are secrets (a share code is a bearer secret: whoever has the URL can
check the book). A service names them when it builds its app (``create_app(secret_paths=…)``,
regular expressions matching the secret part); they are then replaced by ``{secret}`` in
what the service writes down about a request: span attributes and the lines it logs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

REDACTED = "{secret}"
_STATE = "secret_paths"


def compile_secret_paths(patterns: Sequence[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


def remember(app: Any, pattern: re.Pattern[str] | None) -> None:
    setattr(app.state, _STATE, pattern)


def redact(path: str, pattern: re.Pattern[str] | None) -> str:
    return pattern.sub(REDACTED, path) if pattern is not None else path


def redacted_path(app: Any, path: str) -> str:
    """``path`` as the app may write it down (``app``: the ASGI app of the request)."""
    state = getattr(app, "state", None)
    return redact(path, getattr(state, _STATE, None) if state is not None else None)
