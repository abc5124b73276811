"""Where the published contracts live, and what no generated file may contain."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
OPENAPI = DOCS / "openapi.json"
EVENTS = DOCS / "events"

# A machine's own paths: a generated file says the same on every machine.
MACHINE_PATHS = ("/tmp/", "/home/", "/root/", "/Users/", str(ROOT))
