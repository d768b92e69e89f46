"""Run one benchmark step in a fresh interpreter: ``python -m bench._child mod:fn JSON OUT``.

Used where a step needs its own Django settings (one database per process) or its own peak
memory figure. Writes the function's JSON-able result, plus ``peak_rss_mib``, to ``OUT``.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from bench._util import peak_rss_mib


def main() -> None:
    target, payload, out = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    result = func(payload)
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
