"""Builds the identity service: the FastAPI app and its FastStream broker, nothing else."""

from __future__ import annotations

from emk_common import catalog
from emk_common.service import create_app, create_runtime
from identity.settings import IdentitySettings

settings = IdentitySettings()
runtime = create_runtime(
    settings,
    produces=[catalog.IDENTITY],
    outbox_collections=["users"],
)
app = create_app(
    runtime,
    title="ЭМК — identity",
    description="Registration, two-factor login, tokens, personal data and staff accounts.",
)
