"""clamd in the local stack: the real daemon, with only the repo's signatures, finds EICAR."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from emk_devstack import clamav
from emk_devstack.processes import StackError
from emk_devstack.stack import HOST, Ports, Stack

# The EICAR test string, from two halves: no file in the repo holds it whole.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
SIGNATURE = "Emk.Test.EICAR"
CHUNK = 64 * 1024
TEN_MB = 10 * 1024 * 1024

integration = pytest.mark.integration


def minimal_pdf(content: bytes) -> bytes:
    stream = b"BT /F1 12 Tf 72 712 Td (" + content + b") Tj ET"
    return (
        b"%PDF-1.4\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R >> endobj\n"
        b"4 0 obj << /Length " + str(len(stream)).encode() + b" >>\n"
        b"stream\n" + stream + b"\nendstream\nendobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def clamd(port: int, command: bytes, body: bytes | None = None) -> str:
    """One command to clamd (the ``z`` form, NUL-terminated); its reply."""
    with socket.create_connection((HOST, port), timeout=10) as connection:
        connection.sendall(command)
        if body is not None:
            # INSTREAM: chunks of <4-byte big-endian length><bytes>, then a zero length.
            for start in range(0, len(body), CHUNK):
                piece = body[start : start + CHUNK]
                connection.sendall(struct.pack(">I", len(piece)) + piece)
            connection.sendall(struct.pack(">I", 0))
        reply = b""
        while not reply.endswith(b"\0"):
            received = connection.recv(4096)
            if not received:
                break
            reply += received
    return reply.rstrip(b"\0").decode()


def scan(port: int, body: bytes) -> str:
    return clamd(port, b"zINSTREAM\0", body)


@pytest.fixture(scope="module")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    var_dir = tmp_path_factory.mktemp("var")
    with Stack(var_dir, Ports.free(), kafka_storage="memory", log=lambda _: None) as stack:
        stack.start_infra()
        yield stack


def test_the_test_string_is_the_standard_one() -> None:
    assert len(EICAR) == 68
    assert EICAR.isascii()


@integration
def test_clamd_answers_ping(infra: Stack) -> None:
    assert infra.env["CLAMD_HOST"] == HOST
    assert infra.env["CLAMD_PORT"] == str(infra.ports.clamd)

    assert clamd(infra.ports.clamd, b"zPING\0") == "PONG"


@integration
def test_a_clean_pdf_is_ok(infra: Stack) -> None:
    assert scan(infra.ports.clamd, minimal_pdf(b"Hello, world")) == "stream: OK"


@integration
def test_the_eicar_string_is_found(infra: Stack) -> None:
    reply = scan(infra.ports.clamd, EICAR)

    assert reply.startswith(f"stream: {SIGNATURE}")
    assert reply.endswith(" FOUND")


@integration
def test_the_eicar_string_inside_a_pdf_content_stream_is_found(infra: Stack) -> None:
    reply = scan(infra.ports.clamd, minimal_pdf(EICAR))

    assert reply.startswith(f"stream: {SIGNATURE}")
    assert reply.endswith(" FOUND")


@integration
def test_a_stream_over_ten_megabytes_is_refused(infra: Stack) -> None:
    with socket.create_connection((HOST, infra.ports.clamd), timeout=10) as connection:
        # Only the first chunk's length: clamd refuses it before reading the bytes.
        connection.sendall(b"zINSTREAM\0" + struct.pack(">I", TEN_MB + 1))
        reply = connection.recv(4096)

    assert reply == b"INSTREAM size limit exceeded. ERROR\0"


def test_the_database_holds_the_repo_signatures_only(tmp_path: Path) -> None:
    signatures = tmp_path / "signatures"
    signatures.mkdir()
    (signatures / "one.ndb").write_text("One:0:*:414243\n")
    (signatures / "README.md").write_text("not a signature\n")
    database = tmp_path / "clamav" / "db"
    database.mkdir(parents=True)
    (database / "removed-since.ndb").write_text("Old:0:*:444546\n")

    config = clamav.write_config(tmp_path / "clamav", signatures, HOST, 13310)

    assert sorted(path.name for path in database.iterdir()) == ["one.ndb"]
    lines = config.read_text().splitlines()
    assert "TCPSocket 13310" in lines
    assert f"TCPAddr {HOST}" in lines
    assert f"DatabaseDirectory {database}" in lines
    assert not any(line.startswith(("LocalSocket", "User ")) for line in lines)


def test_the_repo_ships_the_test_signature() -> None:
    names = [
        line.split(":", 1)[0]
        for path in clamav.repo_signatures_dir().glob("*.ndb")
        for line in path.read_text().splitlines()
    ]

    assert SIGNATURE in names


def test_without_clamd_the_infra_does_not_start_and_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(clamav, "CLAMD_FALLBACK", tmp_path / "no-clamd")
    messages: list[str] = []
    stack = Stack(tmp_path / "var", Ports.free(), log=messages.append)

    with pytest.raises(StackError, match=r"clamd \(ClamAV\) is not installed") as refused:
        stack.start_infra()

    assert "make install" in str(refused.value)
    assert "clamav-daemon" in str(refused.value)
    assert stack.children == []
    assert messages == []
