"""ClamAV's clamd for the local stack: Debian's ``clamav-daemon`` with the repo's signatures.

Not the regular signature database (it needs the internet and takes ~1 GB of memory): only
the files in ``deploy/local/clamav/``, which detect the EICAR test string anywhere in a file.
clamd loads them in a fraction of a second and answers the real protocol (``zINSTREAM``).
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from emk_devstack.processes import Probe, StackError

CLAMD_FALLBACK = Path("/usr/sbin/clamd")  # not on a non-root user's PATH on Debian
REPO_SIGNATURES = Path("deploy", "local", "clamav")
# The database files clamd reads that a repo would hold (no signed .cvd/.cld).
SIGNATURE_SUFFIXES = (".ndb", ".hdb", ".hsb", ".ldb", ".yar", ".yara", ".ign2", ".fp")
# The limits the documents service relies on: uploads are at most 10 MB.
LIMITS = {"StreamMaxLength": "10M", "MaxFileSize": "10M", "MaxScanSize": "20M"}


def clamd_binary() -> str:
    found = shutil.which("clamd")
    if found is not None:
        return found
    if CLAMD_FALLBACK.is_file():
        return str(CLAMD_FALLBACK)
    raise StackError(
        "clamd (ClamAV) is not installed: run `make install`, which installs Debian's "
        "clamav-daemon package, or `sudo apt-get install --no-install-recommends clamav-daemon`"
    )


def repo_signatures_dir() -> Path:
    """``deploy/local/clamav`` of the repo this package runs from (a workspace install)."""
    here = Path(__file__).resolve().parent
    for directory in (*here.parents, *Path.cwd().resolve().parents):
        candidate = directory / REPO_SIGNATURES
        if candidate.is_dir():
            return candidate
    raise StackError(
        f"the repo's {REPO_SIGNATURES}/ (clamd's signatures) was not found above {here} "
        "nor the current directory: run from the repo, or give Stack(clamav_signatures=...)"
    )


def write_config(clamav_dir: Path, signatures: Path, host: str, port: int) -> Path:
    """A fresh database directory with the repo's signatures, and clamd's config; its path.

    clamd logs to stdout and stderr, which the supervisor writes to ``logs/clamd.log``.
    (``LogFile`` would repeat there every line clamd also prints in the foreground, and it
    refuses ``/dev/stdout``, a symlink.)
    """
    database = clamav_dir / "db"
    temporary = clamav_dir / "tmp"
    for directory in (database, temporary):
        directory.mkdir(parents=True, exist_ok=True)
    for stale in database.iterdir():
        stale.unlink()
    copied = 0
    for source in sorted(signatures.iterdir()):
        if source.is_file() and source.suffix in SIGNATURE_SUFFIXES:
            shutil.copyfile(source, database / source.name)
            copied += 1
    if not copied:
        kinds = ", ".join(SIGNATURE_SUFFIXES)
        raise StackError(f"no ClamAV signature files ({kinds}) in {signatures}")
    settings = {
        "Foreground": "yes",
        "TCPAddr": host,
        "TCPSocket": str(port),
        "DatabaseDirectory": str(database),
        "TemporaryDirectory": str(temporary),
        "PidFile": str(clamav_dir / "clamd.pid"),
        "LogTime": "yes",
        **LIMITS,
    }
    config = clamav_dir / "clamd.conf"
    lines = [f"{key} {value}" for key, value in settings.items()]
    config.write_text("# Written by emk-stack at every start.\n" + "\n".join(lines) + "\n")
    return config


def clamd_pongs(host: str, port: int, timeout: float = 0.5) -> Probe:
    """Ready once clamd answers ``PING``: it listens only after loading its signatures."""

    def probe() -> bool:
        reply = b""
        try:
            with socket.create_connection((host, port), timeout=timeout) as connection:
                connection.sendall(b"zPING\0")
                while not reply.endswith(b"\0") and len(reply) < 64:
                    chunk = connection.recv(64)
                    if not chunk:
                        break
                    reply += chunk
        except OSError:
            return False
        return reply == b"PONG\0"

    return probe
