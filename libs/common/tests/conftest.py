"""Unit tests of libs/common build settings from the environment: give them a clean one.

The session's stack (root conftest) exports its endpoints and keys into ``os.environ``;
a unit test that runs after it must not pick those up by accident.
"""

from __future__ import annotations

import os

import pytest

from emk_common.settings import ServiceSettings

_FIELDS = tuple(name.upper() for name in ServiceSettings.model_fields)


@pytest.fixture(autouse=True)
def clean_settings_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if any(name == field or name.endswith(f"_{field}") for field in _FIELDS):
            monkeypatch.delenv(name)
