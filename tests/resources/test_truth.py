"""The synthetic gaps and stock-outs are found, all of them and nothing else (recall and
precision 1.0 against the truth the generator wrote)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from ruralwatch.resources import selectors
from ruralwatch.synth.resources import CAPACITY_KINDS, STOCK_KINDS, Resources
from tests.resources.conftest import ON, province


def _stock_found(root_path: str, on: dt.date) -> set[str]:
    gaps = selectors.stock_gaps(root_path, on)
    return {
        f"{s}:{c}:{i}:{on.isoformat()}"
        for c, i, s in gaps.select("code", "item", "status").iter_rows()
    }


def _capacity_found(root_path: str, on: dt.date) -> set[str]:
    found = set()
    for g in selectors.capacity_gaps(root_path, on):
        key = g["facility"] if g["kind"] == selectors.NO_DOCTOR else g["area"]
        found.add(f"{g['kind']}:{key}:{on.isoformat()}")
    return found


def test_every_injected_gap_is_found_and_nothing_else(loaded: Resources, region) -> None:
    root = province(region)
    truth_stock = {t["id"] for t in loaded.truth if t["kind"] in STOCK_KINDS}
    truth_cap = {t["id"] for t in loaded.truth if t["kind"] in CAPACITY_KINDS}
    assert truth_stock and truth_cap
    found_stock = _stock_found(root.path, ON)
    found_cap = _capacity_found(root.path, ON)
    assert truth_stock - found_stock == set()  # recall 1.0
    assert found_stock - truth_stock == set()  # precision 1.0
    assert truth_cap - found_cap == set()
    assert found_cap - truth_cap == set()
    kinds = {t["kind"] for t in loaded.truth}
    assert {"stock_out", "below_minimum", "short_days_of_supply", "no_fever_clinic"} <= kinds


def test_capacity_history_is_kept(loaded: Resources, region) -> None:
    """Four weeks earlier the clinics without a doctor still had one: the gap list of that
    date does not show them, and today's does."""
    root = province(region)
    before = ON - dt.timedelta(days=28)
    now = {
        g["facility"]
        for g in selectors.capacity_gaps(root.path, ON)
        if g["kind"] == "clinic_without_doctor"
    }
    then = {
        g["facility"]
        for g in selectors.capacity_gaps(root.path, before)
        if g["kind"] == "clinic_without_doctor"
    }
    assert now and not then
    # Before any capacity row, nothing is known: no gap at all.
    assert selectors.capacity_gaps(root.path, before - dt.timedelta(days=1)) == []


def test_summary_counts(loaded: Resources, region) -> None:
    root = province(region)
    s = selectors.resources_summary(root.path, ON)
    assert s["stock_outs"] == sum(1 for t in loaded.truth if t["kind"] == "stock_out")
    assert sum(s["capacity_gaps"].values()) == sum(
        1 for t in loaded.truth if t["kind"] in CAPACITY_KINDS
    )
    assert s["facilities"]["village_clinic"] == 80
    status = selectors.stock_status(root.path, ON)
    short = status.filter(pl.col("status") == "short_days_of_supply")
    assert (short["days_consumption"] < 14).all()
