"""Compact tables of a fidelity run for ``docs/validation.md``.

``python -m bench.fidelity.docs_tables var/fidelity/report.json`` prints, per method family, one
row per option value: cases, equal (including both refusing), the kinds of difference, and the
largest relative difference.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _num(x: float | None) -> str:
    if x is None:
        return "inf"
    return "0" if x == 0 else f"{x:.0e}"


def _diff(row: dict[str, Any]) -> str:
    parts = []
    for key, label in (
        ("differ", "differ"),
        ("differ_missing", "differ (NA in input)"),
        ("ours_refuse", "ours refuses"),
        ("ours_crash", "ours crashes"),
        ("r_refuse_ours_result", "R refuses"),
    ):
        if row.get(key):
            parts.append(f"{row[key]} {label}")
    return ", ".join(parts) or "—"


def tables(data: dict[str, Any]) -> str:
    out = [
        "| method | cases | equal | of which both refuse | not equal | largest rel. diff |",
        "|---|---|---|---|---|---|",
    ]
    for fam, t in data["methods"].items():
        o = t["overall"]
        out.append(
            f"| {fam} | {o['cases']} | {o['equal']} | {o['both_refuse']} | {_diff(o)} | "
            f"{_num(o['largest_rel_diff'])} |"
        )
    for fam, t in data["methods"].items():
        out += ["", f"**{fam}**", "", "| option | value | cases | equal | not equal | largest |"]
        out.append("|---|---|---|---|---|---|")
        for r in t["options"]:
            out.append(
                f"| {r['option']} | `{r['value']}` | {r['cases']} | {r['equal']} | {_diff(r)} | "
                f"{_num(r['largest_rel_diff'])} |"
            )
    return "\n".join(out)


if __name__ == "__main__":
    print(tables(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
