"""The five services as real processes, started by the same supervisor as `make run`."""

from __future__ import annotations

import time

import httpx
import pytest

from emk_devstack.ports import SERVICES
from emk_devstack.stack import Stack


@pytest.fixture(scope="module")
def services(platform: Stack) -> dict[str, str]:
    return {name: platform.service_url(name) for name in SERVICES}


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_up_with_its_docs(services: dict[str, str], service: str) -> None:
    with httpx.Client(base_url=services[service], timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["mongodb"] == "ok"
        # Readiness does not wait for Kafka (by design); the connection follows shortly.
        deadline = time.monotonic() + 30
        while http.get("/readyz").json()["info"]["kafka"] != "connected":
            assert time.monotonic() < deadline, "Kafka never connected"
            time.sleep(0.1)
        assert "swagger" in http.get("/docs").text.lower()
        assert http.get("/openapi.json").json()["info"]["title"] == f"ЭМК — {service}"
        assert "asyncapi" in http.get("/asyncapi").text.lower()
        channels = http.get("/asyncapi.json").json()["channels"]
        assert any(c["address"] == f"emk.{service}" for c in channels.values())


def test_an_unknown_path_is_a_russian_problem(services: dict[str, str]) -> None:
    response = httpx.get(f"{services['records']}/api/v1/records/nowhere", timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
    assert any("а" <= ch <= "я" for ch in response.json()["title"].lower())
