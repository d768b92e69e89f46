"""Synthetic regions, epidemics and village reports with the ground truth of injected problems.

Framework-free (numpy, polars, ``ruralwatch.epi``) so that tests and benchmarks can use it
without a database::

    demo = build_demo(scenario="rebound")
    demo.region.areas          # five levels of areas under the synthetic province 99
    demo.reports.values        # village daily reports (long format)
    demo.reports.truth         # every missing, late and wrong report
    demo.scenario              # which townships rebound, and from when
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from ruralwatch.epi.simulate import Scenario
from ruralwatch.synth.epidemic import DEFAULT_END, DEFAULT_START, RegionEpidemic, simulate_region
from ruralwatch.synth.region import Region, Scale, build_region
from ruralwatch.synth.reports import INDICATORS, ReportParams, Reports, build_reports
from ruralwatch.synth.truth import ERROR_KINDS, TRUTH_KINDS, truth_to_json

__all__ = [
    "DEFAULT_END",
    "DEFAULT_SEED",
    "DEFAULT_START",
    "ERROR_KINDS",
    "INDICATORS",
    "TRUTH_KINDS",
    "Demo",
    "Region",
    "RegionEpidemic",
    "ReportParams",
    "Reports",
    "build_demo",
    "build_region",
    "build_reports",
    "simulate_region",
    "truth_to_json",
]

DEFAULT_SEED = 20230122


@dataclass(frozen=True)
class Demo:
    """A region, its simulated epidemic and the village reports."""

    region: Region
    epidemic: RegionEpidemic
    reports: Reports

    @property
    def scenario(self) -> dict[str, Any]:
        """Scenario name, rebound townships (codes) and the rebound start date."""
        return self.epidemic.scenario


def build_demo(
    seed: int = DEFAULT_SEED,
    scenario: Scenario = "baseline",
    scale: Scale = "county",
    *,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    n_townships: int | None = None,
    n_villages: int | None = None,
    population: int | None = None,
) -> Demo:
    """Region, epidemic (``start``…``end``) and reports, all from one seed; ``n_townships``,
    ``n_villages`` and ``population`` fix the region's size (:func:`build_region`; tests use
    a small one)."""
    region = build_region(
        seed, scale=scale, n_townships=n_townships, n_villages=n_villages, population=population
    )
    epidemic = simulate_region(region, scenario=scenario, seed=seed, start=start, end=end)
    reports = build_reports(region, epidemic, start=start, end=end, seed=seed)
    return Demo(region=region, epidemic=epidemic, reports=reports)
