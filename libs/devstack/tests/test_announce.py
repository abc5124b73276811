"""What ``emk-stack`` prints once the stack is ready: a generated admin password once, one
given in the environment never (the environment file keeps it, for ``source``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emk_devstack import cli
from emk_devstack.stack import Ports, Stack

GIVEN = "Мой-собственный-пароль-2026"


@pytest.fixture(autouse=True)
def default_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin's address as a developer's shell may not have set it."""
    monkeypatch.delenv("EMK_BOOTSTRAP_ADMIN_EMAIL", raising=False)


def announced(tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Everything ``emk-stack <command>`` prints between "ready" and Ctrl-C (nothing runs)."""
    stack = Stack(tmp_path / "var", Ports.free(), log=lambda _: None)
    staff = [{"role": "operator", "email": "operator@emk.local", "password": "Пароль-оператора"}]
    cli._announce(stack, command, staff if command == "run" else [])
    captured = capsys.readouterr()
    return captured.out + captured.err


@pytest.mark.parametrize("command", ["run", "infra"])
def test_a_password_given_in_the_environment_is_not_echoed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    monkeypatch.setenv("EMK_BOOTSTRAP_ADMIN_PASSWORD", GIVEN)

    printed = announced(tmp_path, command, capsys)

    assert GIVEN not in printed
    assert (
        "admin@emk.local  password from the environment "
        "(EMK_BOOTSTRAP_ADMIN_PASSWORD, not printed)" in printed
    )
    assert cli.READY_LINE in printed
    # The file a developer sources has it: another shell need not have the variable.
    assert f"export EMK_BOOTSTRAP_ADMIN_PASSWORD='{GIVEN}'" in (
        (tmp_path / "var" / "stack.env").read_text()
    )
    if command == "infra":
        assert "# EMK_BOOTSTRAP_ADMIN_PASSWORD: as in this environment (not printed)" in printed
        assert "export EMK_BOOTSTRAP_ADMIN_EMAIL=admin@emk.local" in printed
    else:
        assert "operator@emk.local  password Пароль-оператора" in printed


def test_a_generated_password_is_printed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EMK_BOOTSTRAP_ADMIN_PASSWORD", raising=False)

    printed = announced(tmp_path, "run", capsys)

    generated = (tmp_path / "var" / "secrets" / "bootstrap-admin-password").read_text()
    assert printed.count(generated) == 1
    assert f"admin@emk.local  password {generated}" in printed
