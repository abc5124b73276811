"""Issue #13: nothing a person types travels on a topic. The events that carried an operator's
words have a v2 without them (a flag says there is a text to ask its owner for); v1 stays in
the catalog, since old events may still be in the log."""

from __future__ import annotations

import pytest

from emk_common import catalog
from emk_common.events import EventData

# Event name → (the free-text field of v1, the flag of v2).
FREE_TEXT = {
    "ApplicationStatusChanged": ("comment", "has_comment"),
    "ApplicationRejected": ("reason", "has_reason"),
    "DocumentRejected": ("reason", "has_reason"),
}


@pytest.mark.parametrize("name", sorted(FREE_TEXT))
def test_the_latest_version_carries_a_flag_not_the_text(name: str) -> None:
    text, flag = FREE_TEXT[name]
    versions = {cls.version: cls for cls in catalog.CATALOG.values() if cls.name == name}
    assert sorted(versions) == [1, 2]
    assert text in versions[1].model_fields  # still readable from the log
    latest = versions[2].model_fields
    assert text not in latest
    assert latest[flag].annotation is bool
    assert set(versions[1].model_fields) - {text} <= set(latest)  # nothing else was lost


def test_no_published_field_is_free_text_by_its_name() -> None:
    latest: dict[str, type[EventData]] = {}
    for cls in catalog.CATALOG.values():
        if cls.name not in latest or cls.version > latest[cls.name].version:
            latest[cls.name] = cls
    texts = {
        f"{cls.name}.{field}"
        for cls in latest.values()
        for field in cls.model_fields
        if field in {"comment", "note", "message", "text"}
    }
    assert texts == set()
