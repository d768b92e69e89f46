"""Tables of a fidelity run: per method family, and per option and value."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from bench.fidelity.compare import STATUSES


@dataclass
class Row:
    run: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    max_rel: float = 0.0
    max_rel_column: str = ""
    na_mismatch: int = 0

    def add(self, verdict: Any) -> None:
        self.run += 1
        self.counts[verdict.status] += 1
        compared = verdict.status in ("equal", "differ", "differ_missing")
        if compared and verdict.max_rel > self.max_rel:
            self.max_rel, self.max_rel_column = verdict.max_rel, verdict.max_rel_column
        self.na_mismatch += verdict.na_mismatch

    @property
    def agree(self) -> int:
        return self.counts["equal"] + self.counts["both_refuse"]

    def cells(self) -> list[str]:
        c = self.counts
        return [
            str(self.run),
            str(self.agree),
            str(c["both_refuse"]),
            str(c["r_refuse_ours_result"]),
            str(c["differ"]),
            str(c["differ_missing"]),
            str(c["ours_refuse"]),
            str(c["ours_crash"]),
            _num(self.max_rel),
            str(self.na_mismatch),
        ]


HEADER = [
    "cases",
    "equal",
    "of which both refuse",
    "R refuses, ours runs",
    "differ",
    "differ, input has NA",
    "ours refuses",
    "ours crashes",
    "largest rel. diff",
    "NA vs number",
]


def _num(x: float) -> str:
    if x == 0:
        return "0"
    if math.isinf(x):
        return "inf"
    return f"{x:.1e}"


Tables = dict[str, dict[str, Any]]


def tabulate(results: list[dict[str, Any]]) -> Tables:
    tables: Tables = {}
    for res in results:
        case, v = res["case"], res["verdict"]
        t = tables.setdefault(case["family"], {"overall": Row(), "options": defaultdict(Row)})
        t["overall"].add(v)
        for opt, val in sorted(case["options"].items()):
            t["options"][(opt, val)].add(v)
    return tables


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _r_errors(results: list[dict[str, Any]], family: str) -> Counter[tuple[str, str]]:
    c: Counter[tuple[str, str]] = Counter()
    for res in results:
        if res["case"]["family"] == family and res["r"]["error"]:
            msg = re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?", "#", res["r"]["error"])[:160]
            ours = [d for d in res["verdict"].detail if d.startswith("ours")][:1]
            c[(res["verdict"].status, msg + (f" ({ours[0][:60]})" if ours else ""))] += 1
    return c


def markdown(tables: Tables, meta: dict[str, Any], results: list[dict[str, Any]]) -> str:
    lines = [
        "# Agreement with R over generated cases",
        "",
        f"Run {meta['date']}: seed {meta['seed']}, {meta['n_per_family']} cases per method family, "
        f"{meta['seconds_total']} s in all (R batches {meta['seconds_r_batches']} s).",
        f"Reproduce with `{meta['command']}`.",
        "",
        "`equal`: every output within the oracle README's tolerance, or R and ours both refuse "
        "the case with an error. `largest rel. diff`: the largest |ours - R| / |R| over compared "
        "numbers (|R| above the absolute tolerance) of cases where both ran.",
        "",
        *[f"**{fam}: NOT RUN.** {why}" for fam, why in meta.get("not_run", {}).items()],
        "",
        "## Per method",
        "",
        _md_table(
            ["method", *HEADER],
            [[fam, *t["overall"].cells()] for fam, t in tables.items()],
        ),
    ]
    for fam, t in tables.items():
        lines += ["", f"## {fam}: per option", ""]
        rows = [[opt, val, *row.cells()] for (opt, val), row in sorted(t["options"].items())]
        lines.append(_md_table(["option", "value", *HEADER], rows))
        errs = _r_errors(results, fam)
        if errs:
            lines += ["", "R refused (our outcome, R's message, cases):", ""]
            for (status, msg), n in errs.most_common():
                lines.append(f"- {status}: `{msg}` × {n}")
        bad = [
            r
            for r in results
            if r["case"]["family"] == fam
            and not r["verdict"].agrees
            and r["verdict"].status not in ("r_refuse_ours_result", "differ_missing")
        ]
        if bad:
            lines += ["", f"Disagreements ({len(bad)}; first 25):", ""]
            for r in bad[:25]:
                v = r["verdict"]
                opts = ", ".join(f"{k}={x}" for k, x in r["case"]["options"].items())
                lines.append(
                    f"- `{r['case']['case_id']}` [{v.status}] {opts}: " + "; ".join(v.detail[:3])
                )
    causes = Counter(
        (r["case"]["family"], r["cause"]) for r in results if r.get("cause") is not None
    )
    if causes:
        lines += ["", "## Causes of the disagreements (bench/fidelity/known.py)", ""]
        lines.append(
            _md_table(
                ["method", "cause", "cases"],
                [[fam, cause, str(n)] for (fam, cause), n in sorted(causes.items())],
            )
        )
    if meta["saved_cases"]:
        lines += ["", "## Saved regression cases", ""]
        lines += [f"- `{p}`" for p in meta["saved_cases"]]
    return "\n".join(lines) + "\n"


def as_json(tables: Tables, meta: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    def row(r: Row) -> dict[str, Any]:
        return {
            "cases": r.run,
            **{s: r.counts[s] for s in STATUSES},
            # after the statuses: "equal" counts both refusing too, as the tables say
            "equal": r.agree,
            "equal_outputs": r.counts["equal"],
            "largest_rel_diff": None if math.isinf(r.max_rel) else r.max_rel,
            "largest_rel_diff_column": r.max_rel_column,
            "na_mismatch": r.na_mismatch,
        }

    return {
        "meta": meta,
        "methods": {
            fam: {
                "overall": row(t["overall"]),
                "options": [
                    {"option": o, "value": val, **row(r)}
                    for (o, val), r in sorted(t["options"].items())
                ],
            }
            for fam, t in tables.items()
        },
        "disagreements": [
            {
                "case_id": r["case"]["case_id"],
                "status": r["verdict"].status,
                "cause": r.get("cause"),
                "options": r["case"]["options"],
                "detail": r["verdict"].detail,
            }
            for r in results
            if not r["verdict"].agrees
        ],
    }


def console(tables: Tables, meta: dict[str, Any]) -> str:
    rows = [[fam, *t["overall"].cells()] for fam, t in tables.items()]
    widths = [max(len(x) for x in col) for col in zip(["method", *HEADER], *rows, strict=True)]

    def fmt(r: list[str]) -> str:
        return "  ".join(
            x.rjust(w) if i else x.ljust(w) for i, (x, w) in enumerate(zip(r, widths, strict=True))
        )

    out = [
        f"fidelity: seed {meta['seed']}, {meta['n_per_family']} per family, "
        f"{meta['seconds_total']} s",
        fmt(["method", *HEADER]),
    ]
    out += [fmt(r) for r in rows]
    out += [f"{fam}: NOT RUN: {why}" for fam, why in meta.get("not_run", {}).items()]
    for fam, t in tables.items():
        opt_rows = [
            [f"{fam} {o}={v}", *r.cells()]
            for (o, v), r in sorted(t["options"].items())
            if r.agree < r.run
        ]
        if opt_rows:
            out.append("")
            out.append(f"{fam}: options with disagreements")
            out += ["  " + "  ".join(r) for r in opt_rows]
    return "\n".join(out)
