"""The real local servers, started on free ports: each answers its own protocol."""

from __future__ import annotations

import asyncio
import io
import mailbox
import os
import shutil
import signal
import smtplib
import socket
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from minio import Minio
from minio.error import S3Error
from pymongo import MongoClient

from emk_devstack import stack as stack_module
from emk_devstack.processes import StartupError, port_is_free
from emk_devstack.stack import S3_ACCESS_KEY, S3_SECRET_KEY, Ports, Stack

pytestmark = pytest.mark.integration

DEADLINE = 30.0


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("var"), Ports.free(), kafka_storage="s3") as stack:
        stack.start_infra()
        yield stack


async def produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"aggregate-1")
    finally:
        await producer.stop()


async def consume_one(bootstrap: str, topic: str) -> bytes | None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), DEADLINE)
    finally:
        await consumer.stop()
    value: bytes | None = message.value
    return value


async def test_kafka_takes_a_message_and_gives_it_back(infra: Stack) -> None:
    bootstrap = infra.env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"devstack-{uuid.uuid4().hex[:8]}"

    await produce(bootstrap, topic, b"hello")

    assert await consume_one(bootstrap, topic) == b"hello"


def test_mongodb_pings_stores_and_finds(infra: Stack) -> None:
    client: MongoClient[dict[str, object]] = MongoClient(
        infra.env["MONGODB_URI"], serverSelectionTimeoutMS=5000
    )
    try:
        assert client.admin.command("ping")["ok"] == 1
        books = client["devstack_test"]["books"]
        books.insert_one({"_id": "book-1", "status": "issued"})
        assert books.find_one({"_id": "book-1"}) == {"_id": "book-1", "status": "issued"}
    finally:
        client.close()


def test_s3_stores_and_returns_an_object(infra: Stack) -> None:
    endpoint = infra.env["S3_ENDPOINT"].removeprefix("http://")
    s3 = Minio(endpoint, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, secure=False)
    s3.make_bucket("devstack-test")
    body = "справка 086/у".encode()

    s3.put_object("devstack-test", "documents/1", io.BytesIO(body), len(body))
    response = s3.get_object("devstack-test", "documents/1")
    try:
        assert response.read() == body
    finally:
        response.close()
        response.release_conn()


def test_smtp_delivers_into_the_maildir(infra: Stack) -> None:
    message = EmailMessage()
    message["From"] = "noreply@emk.local"
    message["To"] = "worker@example.org"
    message["Subject"] = "Код подтверждения"
    message.set_content("Ваш код: 123456")

    with smtplib.SMTP(infra.env["SMTP_HOST"], int(infra.env["SMTP_PORT"]), timeout=10) as smtp:
        smtp.send_message(message)

    # The server answers 250 only once the message is in the Maildir.
    delivered = list(mailbox.Maildir(infra.mail_dir, create=False))
    assert [str(mail["To"]) for mail in delivered] == ["worker@example.org"]
    payload = delivered[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert "Ваш код: 123456" in payload.decode()


async def test_a_kafka_restart_keeps_messages_stored_in_s3(infra: Stack) -> None:
    bootstrap = infra.env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"devstack-restart-{uuid.uuid4().hex[:8]}"
    await produce(bootstrap, topic, b"before the outage")
    before = infra.children[-1]
    assert before.name == "kafka"

    infra.stop_server("kafka")
    assert not infra.is_running("kafka")
    assert not alive(before.pid)
    assert not accepts(infra.ports.kafka)
    infra.start_server("kafka")
    assert infra.is_running("kafka")

    assert await consume_one(bootstrap, topic) == b"before the outage"


def test_stop_closes_every_port_and_leaves_no_process(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "var", Ports.free(), kafka_storage="memory")
    stack.start_infra()
    children = stack.children
    assert sorted(child.name for child in children) == ["clamd", "kafka", "mongodb", "s3", "smtp"]
    ports = [stack.ports.of(name) for name in ("kafka", "mongodb", "s3", "smtp", "clamd")]
    assert all(accepts(port) for port in ports)

    stack.stop()

    assert [child.pid for child in children if alive(child.pid)] == []
    assert [port for port in ports if accepts(port) or not port_is_free(port)] == []
    assert stack.children == []


def test_a_failed_start_stops_what_had_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken_broker = shutil.which("false")
    assert broken_broker is not None
    monkeypatch.setattr(stack_module, "tansu_binary", lambda: broken_broker)
    stack = Stack(tmp_path / "var", Ports.free(), kafka_storage="memory", log=lambda _: None)
    started = []
    start = stack._supervisor.start

    def recording_start(*args: object, **kwargs: object) -> object:
        child = start(*args, **kwargs)  # type: ignore[arg-type]
        started.append(child)
        return child

    monkeypatch.setattr(stack._supervisor, "start", recording_start)

    with pytest.raises(StartupError, match=r"Kafka \(Tansu\) exited with code 1"):
        stack.start_infra()

    assert [child.name for child in started] == ["s3", "mongodb", "smtp", "clamd", "kafka"]
    assert [child.pid for child in started if alive(child.pid)] == []
    assert stack.children == []


async def test_a_restart_of_the_whole_stack_keeps_objects_messages_and_documents(
    tmp_path: Path,
) -> None:
    """What ``make run`` twice must give: S3 (SeaweedFS), the Kafka log kept in it, MongoDB."""
    var_dir, topic, body = tmp_path / "var", f"devstack-{uuid.uuid4().hex[:8]}", b"scan bytes"
    with Stack(var_dir, Ports.free(), kafka_storage="s3", log=lambda _: None) as first:
        first.start_infra()
        env = first.env
        s3 = Minio(env["S3_ENDPOINT"].removeprefix("http://"), access_key=S3_ACCESS_KEY,
                   secret_key=S3_SECRET_KEY, secure=False)  # fmt: skip
        s3.make_bucket("devstack-restart")
        s3.put_object("devstack-restart", "documents/1", io.BytesIO(body), len(body))
        await produce(env["KAFKA_BOOTSTRAP_SERVERS"], topic, b"published before Ctrl-C")
        client: MongoClient[dict[str, object]] = MongoClient(env["MONGODB_URI"])
        client["devstack_restart"]["books"].insert_one({"_id": "book-1"})
        client.close()
    # Stopped: nothing runs. The same var dir, other ports: a new `make run`.
    with Stack(var_dir, Ports.free(), kafka_storage="s3", log=lambda _: None) as second:
        second.start_infra()
        env = second.env
        s3 = Minio(env["S3_ENDPOINT"].removeprefix("http://"), access_key=S3_ACCESS_KEY,
                   secret_key=S3_SECRET_KEY, secure=False)  # fmt: skip
        response = s3.get_object("devstack-restart", "documents/1")
        try:
            assert response.read() == body
        finally:
            response.close()
            response.release_conn()
        assert (
            await consume_one(env["KAFKA_BOOTSTRAP_SERVERS"], topic) == b"published before Ctrl-C"
        )
        client = MongoClient(env["MONGODB_URI"])
        assert client["devstack_restart"]["books"].find_one({"_id": "book-1"}) == {"_id": "book-1"}
        client.close()


def test_s3_refuses_credentials_it_was_not_given(infra: Stack) -> None:
    endpoint = infra.env["S3_ENDPOINT"].removeprefix("http://")
    stranger = Minio(endpoint, access_key="someone", secret_key="something-else", secure=False)
    with pytest.raises(S3Error) as refused:
        stranger.list_buckets()
    assert refused.value.code == "InvalidAccessKeyId"


async def test_what_kafka_acknowledged_survives_a_kill_9(infra: Stack) -> None:
    """Tansu writes a batch to S3 before it answers the produce: kill -9 right after the
    acknowledgements loses none of them."""
    bootstrap = infra.env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"devstack-kill-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(50):
            await producer.send_and_wait(topic, f"event {n}".encode(), key=b"aggregate-1")
    finally:
        await producer.stop()
    broker = next(c for c in infra.children if c.name == "kafka")
    os.kill(broker.pid, signal.SIGKILL)
    broker.process.wait(DEADLINE)
    infra.stop_server("kafka")  # forget the dead child
    infra.start_server("kafka")

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        seen: list[bytes] = []
        while len(seen) < 50:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), DEADLINE)
            seen += [m.value for records in batch.values() for m in records if m.value]
    finally:
        await consumer.stop()
    assert seen == [f"event {n}".encode() for n in range(50)]
