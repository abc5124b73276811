"""Nothing typed by a person travels on a topic (issue #13), yet the citizen is told it.

The ``make demo`` journey on the platform: the operator's clarification comment reaches the
citizen's e-mail and in-app notification — notifications read it from applications' internal
API — while the records of ``emk.applications``, read raw from Kafka as any consumer could,
hold only ids, codes and ``has_comment``.
"""

from __future__ import annotations

import json
import time
from email.header import decode_header, make_header
from email.message import Message
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from emk_common.catalog import APPLICATIONS
from emk_devstack.stack import Stack
from emk_testing import eventually

from .journey import Inbox

# What the demo's operator and citizen type (emk_devstack.demo, steps 7 and 8).
CLARIFICATION = "Скан паспорта нечитаем, загрузите разворот с фотографией."
ANSWER = "Загрузила новый скан."


async def raw_records(bootstrap: str, key: str) -> list[bytes]:
    """Every record of ``emk.applications`` keyed ``key``, as stored in Kafka: the whole topic
    read from its start to the end it has now, without a consumer group."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await reader.start()
    try:
        await reader.topics()
        partitions = [
            TopicPartition(APPLICATIONS, p)
            for p in sorted(reader.partitions_for_topic(APPLICATIONS) or ())
        ]
        assert partitions, "no emk.applications topic"
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        ends = await reader.end_offsets(partitions)
        found: list[bytes] = []
        deadline = time.monotonic() + 60
        while [p for p in partitions if await reader.position(p) < ends[p]]:
            assert time.monotonic() < deadline, "emk.applications not read to its end in 60 s"
            batches = await reader.getmany(timeout_ms=500)
            found.extend(
                r.value
                for records in batches.values()
                for r in records
                if r.key == key.encode() and r.value is not None
            )
        return found
    finally:
        await reader.stop()


def subject_of(message: Message) -> str:
    return str(make_header(decode_header(str(message["Subject"]))))


def plain_text(message: Message) -> str:
    [plain] = [part for part in message.walk() if part.get_content_type() == "text/plain"]
    payload = plain.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


async def test_a_clarifications_comment_reaches_the_citizen_but_never_the_topic(
    platform: Stack, demo: tuple[dict[str, Any], list[str]], kafka_bootstrap: str
) -> None:
    record, _ = demo
    application = record["application"]
    # What the operator typed, kept in the application's history (the request's own entry).
    typed = [
        h["comment"] for h in application["history"] if h["status"] == "clarification_requested"
    ]
    assert typed[0] == CLARIFICATION

    # In-app: told with the comment, as before issue #13.
    [asked] = [n for n in record["notifications"] if n["status"] == "clarification_requested"]
    assert CLARIFICATION in asked["text"]

    # E-mail: the letter about the clarification quotes it.
    inbox = Inbox(platform.var_dir)

    async def letter() -> list[str]:
        return [
            plain_text(m)
            for m in inbox.mails(record["citizen_email"])
            if "Требуется уточнение" in subject_of(m) and record["number"] in subject_of(m)
        ]

    [body] = await eventually(letter, within=30, what="the e-mail about the clarification")
    assert f"Комментарий специалиста:\n{CLARIFICATION}" in body

    # Kafka: the application's records say there was a comment, never what it was.
    raw = await raw_records(kafka_bootstrap, application["id"])
    envelopes = [json.loads(value) for value in raw]
    changes = [e for e in envelopes if ".ApplicationStatusChanged." in e["type"]]
    assert changes, "no status change of the application on the topic"
    assert {e["type"] for e in changes} == {"emk.applications.ApplicationStatusChanged.v2"}
    [clarification] = [e for e in changes if e["data"]["status"] == "clarification_requested"]
    assert clarification["data"]["has_comment"] is True
    assert "comment" not in clarification["data"]
    assert application["history"][clarification["data"]["seq"]]["comment"] == CLARIFICATION
    for value in raw:
        for text in (CLARIFICATION, ANSWER):
            assert text.encode() not in value
            assert json.dumps(text).encode() not in value  # nor \\u-escaped
