"""Builds the identity service: the FastAPI app and its FastStream broker, nothing else."""

from __future__ import annotations

from identity.app import build
from identity.settings import IdentitySettings

app = build(IdentitySettings())
