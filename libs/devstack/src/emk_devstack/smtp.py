"""The local mail relay: an SMTP server that stores every message in a Maildir.

Run as ``python -m emk_devstack.smtp --host 127.0.0.1 --port 8025 --maildir var/mail``;
it serves until SIGTERM or SIGINT. Tests and developers read the mail from the Maildir.
"""

from __future__ import annotations

import argparse
import mailbox
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)

    mailbox.Maildir(args.maildir, create=True)  # so readers find it before the first mail
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    controller = Controller(
        Mailbox(args.maildir),
        hostname=args.host,
        port=args.port,
        # Names in headers and addresses are Cyrillic as often as not.
        enable_SMTPUTF8=True,
    )
    controller.start()
    try:
        print(f"smtp listening on {args.host}:{args.port}, maildir {args.maildir}", flush=True)
        stopping.wait()
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
