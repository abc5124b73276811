"""What several end-to-end modules share."""

from __future__ import annotations

from typing import Any

import pytest

from emk_devstack.demo import Journey
from emk_devstack.stack import Stack


@pytest.fixture(scope="session")
async def demo(platform: Stack) -> tuple[dict[str, Any], list[str]]:
    """The whole ``make demo`` journey, run once on the platform: what it returned and said."""
    said: list[str] = []
    record: dict[str, Any] = await Journey.on(platform, said.append).run()
    return record, said
