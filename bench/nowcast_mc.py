"""The nowcast's Monte Carlo error against what its draws cost (docs/methods/nowcast.md, "Cost
and Monte Carlo error"): the triangles the assessment nowcasts for a subtree, nowcast again
with other seeds and other sample counts, each bound compared with a reference of many draws.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rw_bench_national \\
        RURALWATCH_ENV=development .venv/bin/python -m bench.nowcast_mc \\
        [--root /410000000000/] [--date 2023-02-05] [--reference 2000]

The database is one the national benchmark leaves (``python -m bench.national --scale
province --days 14 --keep``: its timed copy holds the new day and its cycle). The assessment
runs once, in a transaction rolled back, only to hand over the triangles of its nowcast
(``nowcasting.nowcast_panel``'s arguments); nothing is written. Prints one JSON line per run:
seconds, and per bound (each day's lower, upper and mean, the sum's lower and upper) the
median, 95th percentile and largest absolute difference from the reference, in cases.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import time
from typing import Any

import numpy as np

BOUNDS = ("lower", "upper", "mean", "sum_lower", "sum_upper")


class _Captured(Exception):
    """Ends the assessment's transaction once the triangles are in hand."""


def triangles(root: str, date: dt.date) -> dict[str, Any]:
    """The arguments the assessment of ``root`` on ``date`` gives ``nowcast_panel``."""
    import django

    django.setup()
    from django.db import transaction

    from ruralwatch.assessments import nowcasting
    from ruralwatch.assessments.services import assess

    captured: dict[str, Any] = {}
    panel = nowcasting.nowcast_panel

    def capture(tri: Any, method: str, config: Any, **kw: Any) -> Any:
        captured.update(tri=np.asarray(tri), method=method, config=config, kw=kw)
        raise _Captured

    nowcasting.nowcast_panel = capture
    try:
        with transaction.atomic():
            assess(date, root_path=root)
    except _Captured:
        pass
    finally:
        nowcasting.nowcast_panel = panel
    if not captured:
        raise SystemExit(f"nothing to nowcast under {root} on {date}")
    return captured


def differences(a: Any, b: Any, through: int | None) -> dict[str, dict[str, float]]:
    """Per bound, how far ``a`` lies from ``b`` (cases) over the days the assessment keeps
    (up to the cycle date, triangle row ``through``: the days after it, up to the moment of
    the data, are nowcast but not used)."""
    used = a.days <= (a.days[-1] if through is None else through)
    out = {}
    for name in BOUNDS:
        d = np.abs(np.asarray(getattr(a, name)) - np.asarray(getattr(b, name)))
        if d.ndim == 2:
            d = d[:, used]
        out[name] = {
            "median": round(float(np.median(d)), 2),
            "p95": round(float(np.percentile(d, 95)), 2),
            "max": round(float(d.max()), 1),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/410000000000/")
    parser.add_argument("--date", default="2023-02-05")
    parser.add_argument("--reference", type=int, default=2000, help="draws of the reference")
    args = parser.parse_args()
    from ruralwatch.epi.nowcast import nowcast_panel

    got = triangles(args.root, dt.date.fromisoformat(args.date))
    tri, cfg = got["tri"], got["config"]

    def run(**change: Any) -> tuple[Any, float]:
        began = time.perf_counter()
        out = nowcast_panel(tri, got["method"], dataclasses.replace(cfg, **change), **got["kw"])
        return out, round(time.perf_counter() - began, 3)

    reference, seconds = run(n_samples=args.reference, seed=cfg.seed + 1000)
    print(json.dumps({"units": tri.shape[0], "reference_draws": args.reference, "s": seconds}))
    for samples in (cfg.n_samples, cfg.n_samples // 2):
        for seed in (cfg.seed, cfg.seed + 1, cfg.seed + 2):
            out, seconds = run(n_samples=samples, seed=seed)
            row = {"draws": samples, "seed": seed, "s": seconds}
            print(json.dumps(row | differences(out, reference, got["kw"].get("sum_through"))))


if __name__ == "__main__":
    main()
