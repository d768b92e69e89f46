"""Where the read-only reference data lives (``../shared`` beside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RURALWATCH_SHARED", REPO.parent / "shared")).resolve()
DATA = SHARED / "data"
ORACLES = SHARED / "oracles"
