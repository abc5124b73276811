"""emk-stack: run the local ЭМК stack in the foreground; Ctrl-C stops all of it.

A component that crashes meanwhile is logged and restarted alone, on its port, with a
backoff (0.5 s doubling up to 30 s while it keeps crashing); the others keep running.

emk-stack run     the infrastructure and the five services (what "make run" does)
emk-stack infra   the infrastructure only, to run services or pytest against it
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from emk_devstack import staff as staff_accounts
from emk_devstack.ports import SERVICES
from emk_devstack.processes import StackError
from emk_devstack.secrets import ADMIN_PASSWORD_VARIABLE
from emk_devstack.stack import HOST, S3_ACCESS_KEY, S3_SECRET_KEY, Ports, Stack

READY_LINE = "stack ready; Ctrl-C stops it"


_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers


class _Shutdown(BaseException):
    """SIGINT or SIGTERM: stop everything and exit 0."""


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except _Shutdown:  # arrived while already returning; the stack has been stopped
        return 0


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    _on_shutdown_signals(_raise_shutdown)
    try:
        stack = Stack(Path(args.var_dir), Ports.fixed(), kafka_storage=args.kafka_storage)
    except StackError as exc:
        return _fail(str(exc))
    try:
        try:
            if args.command == "run":
                stack.start()
            else:
                stack.start_infra()
        except StackError as exc:  # the stack has stopped what it had started
            return _fail(str(exc))
        _announce(stack, args.command, _staff(stack) if args.command == "run" else [])
        stack.supervise()  # until Ctrl-C or SIGTERM: a crashed child is restarted meanwhile
        return 0
    except _Shutdown:
        return 0
    finally:
        # A second Ctrl-C must not cut the stopping short and leave children behind.
        _on_shutdown_signals(signal.SIG_IGN)
        stack.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emk-stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in (
        ("run", "infrastructure and the five services"),
        ("infra", "infrastructure only (Kafka, MongoDB, S3, SMTP, ClamAV); prints its environment"),
    ):
        command = commands.add_parser(name, help=summary, description=summary)
        command.add_argument(
            "--var-dir",
            default=os.environ.get("EMK_VAR_DIR") or "var",
            help="where the stack keeps data, secrets, mail and logs "
            "(default: $EMK_VAR_DIR or ./var)",
        )
        command.add_argument(
            "--kafka-storage",
            choices=("s3", "memory"),
            default="s3",
            help="where Tansu keeps the log: in S3 it survives a broker restart (default: s3)",
        )
    return parser


def _staff(stack: Stack) -> list[dict[str, str]]:
    """The local staff accounts (made on the first run); a failure is reported, not fatal."""
    try:
        return asyncio.run(staff_accounts.ensure(stack))
    except Exception as exc:
        print(f"emk-stack: the staff accounts were not made: {exc}", file=sys.stderr, flush=True)
        return []


def _announce(stack: Stack, command: str, staff: Sequence[dict[str, str]]) -> None:
    """Where everything is, and the environment file, once the stack is ready."""
    _say(_table(stack, with_services=command == "run", staff=staff))
    env_file = _write_env_file(stack)
    if command == "infra":
        _say(_printed_exports(stack))
    _say(f"# the stack's environment: `source {env_file}` in another shell")
    _say(READY_LINE)


def _table(stack: Stack, *, with_services: bool, staff: Sequence[dict[str, str]] = ()) -> str:
    ports = stack.ports
    rows: list[tuple[str, str]] = []
    if with_services:
        rows.append(("gateway", f"{stack.gateway_url}  (Traefik: /api/v1/<service>, /check/)"))
        for service in SERVICES:
            url = stack.service_url(service)
            rows.append((service, f"{url}  docs {url}/docs  asyncapi {url}/asyncapi"))
    rows += [
        ("Kafka", f"{HOST}:{ports.kafka}  (Tansu, storage: {stack.kafka_storage})"),
        ("MongoDB", f"mongodb://{HOST}:{ports.mongodb}  (SecantusDB, {stack.mongodb_dir})"),
        ("S3", f"http://{HOST}:{ports.s3}  (SeaweedFS, keys {S3_ACCESS_KEY} / {S3_SECRET_KEY})"),
        ("SMTP", f"{HOST}:{ports.smtp}  (aiosmtpd)"),
        ("ClamAV", f"{HOST}:{ports.clamd}  (clamd, signatures from {stack.clamav_signatures})"),
        ("mail", f"{stack.mail_dir}  (Maildir)"),
        ("SMS", f"{stack.sms_spool}  (one JSON object a line)"),
        ("logs", str(stack.logs_dir)),
        ("admin", f"{stack.secrets.admin_email}  {_admin_password(stack)}"),
        *((a["role"], f"{a['email']}  password {a['password']}") for a in staff),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {where}" for name, where in rows)


def _admin_password(stack: Stack) -> str:
    """The generated password is printed (it is in no other place a developer looks); one
    given in the environment is the developer's own and never echoed."""
    if stack.secrets.admin_password_from_env:
        return f"password from the environment ({ADMIN_PASSWORD_VARIABLE}, not printed)"
    return f"password {stack.secrets.admin_password}"


def _exports(env: dict[str, str], *, hide: Collection[str] = ()) -> str:
    """``export`` lines; those of ``hide`` are left out, with a comment saying so."""
    return "\n".join(
        f"# {key}: as in this environment (not printed)"
        if key in hide
        else f"export {key}={shlex.quote(value)}"
        for key, value in sorted(env.items())
    )


def _printed_exports(stack: Stack) -> str:
    """What ``emk-stack infra`` prints: all of ``stack.env`` but a password given by env
    (``stack.env``, the file, has it for a shell that lacks it)."""
    from_env = stack.secrets.admin_password_from_env
    return _exports(stack.env, hide=[ADMIN_PASSWORD_VARIABLE] if from_env else [])


def _write_env_file(stack: Stack) -> Path:
    path = stack.var_dir / "stack.env"
    # It holds the keys: readable by the developer only.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(_exports(stack.env) + "\n")
    path.chmod(0o600)
    return path


def _on_shutdown_signals(handler: _Handler) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)


def _raise_shutdown(signum: int, frame: FrameType | None) -> None:
    raise _Shutdown


def _say(message: str) -> None:
    print(message, flush=True)


def _fail(message: str) -> int:
    print(f"emk-stack: {message}", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
