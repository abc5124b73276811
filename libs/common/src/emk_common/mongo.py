"""The MongoDB client every service uses (PyMongo's async API)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from emk_common.settings import ServiceSettings


def mongo_client(settings: ServiceSettings) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        settings.mongodb_uri,
        tz_aware=True,
        uuidRepresentation="standard",
        appname=settings.service_name,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=3000,
    )
