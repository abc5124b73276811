"""Test infrastructure for the cross-service suites.

By default the session starts the real local servers (Tansu, SecantusDB, SeaweedFS's S3,
aiosmtpd, clamd) on free ports in a temporary ``EMK_VAR_DIR`` and stops them at the end. Set
``EMK_TEST_EXTERNAL=1`` with ``KAFKA_BOOTSTRAP_SERVERS``, ``MONGODB_URI``, ``S3_ENDPOINT`` …
to run the same suite against servers you run (Apache Kafka, MongoDB, any S3); tests that
must stop the broker then need ``-m "not broker_restart"``.

One marker scheme: a test that needs the servers (the ``stack`` fixture, directly or through
its fixtures) is marked ``integration`` here, automatically; so ``-m "not integration"`` (``make
unit``) runs everything that needs no server. A test under a ``tests/unit`` folder may not
need one: that is a collection error, not a slow unit test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from emk_devstack.stack import Ports, Stack


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misplaced = []
    for item in items:
        if "stack" not in getattr(item, "fixturenames", ()):
            continue
        item.add_marker(pytest.mark.integration)
        if "tests/unit/" in item.path.as_posix():
            misplaced.append(item.nodeid)
    if misplaced:
        raise pytest.UsageError(
            "unit tests may not use the servers (move them to tests/api): " + ", ".join(misplaced)
        )


class BrokerControl:
    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    def stop(self) -> None:
        self._stack.stop_server("kafka")

    def start(self) -> None:
        self._stack.start_server("kafka")

    def ensure_running(self) -> None:
        if not self._stack.is_running("kafka"):
            self._stack.start_server("kafka")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack | None]:
    if os.environ.get("EMK_TEST_EXTERNAL") == "1":
        yield None
        return
    var_dir: Path = tmp_path_factory.mktemp("emk-var")
    with Stack(var_dir, Ports.free(), kafka_storage="s3", log=lambda _: None) as running:
        running.start_infra()
        saved = dict(os.environ)
        os.environ.update(running.env)
        try:
            yield running
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture(scope="session")
def platform(stack: Stack | None) -> Iterator[Stack]:
    """The five services as real processes, started once for the session."""
    if stack is None:
        pytest.fail("end-to-end tests start the services themselves: run them on the local stack")
    stack.start_services()
    stack.start_gateway()
    try:
        yield stack
    finally:
        stack.stop_server("gateway")
        stack.stop_services()


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: Stack | None) -> str:
    return os.environ["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture(scope="session")
async def mongo(stack: Stack | None) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        os.environ["MONGODB_URI"], tz_aware=True
    )
    yield client
    await client.close()


@pytest.fixture
def broker_control(stack: Stack | None) -> BrokerControl:
    if stack is None:
        pytest.fail("this test stops the broker: run it on the local stack, or deselect it")
    return BrokerControl(stack)
