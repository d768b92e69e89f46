"""Re-running the demo in the same database gives the same state (issue 10: "re-running make
demo, any scenario, in the same checkout works and gives the same state").

A small county (2 townships, 10 villages, 10,000 people) over the demo's last week, so the
whole sequence runs in well under a minute on SQLite: the rebound scenario alone (then rolled
back to the fresh database), the baseline once and again, then the rebound after it. The
state compared is every table's row count and a checksum of its rows' content, and
``summary.json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.db import models, transaction
from django.utils import timezone

from ruralwatch.cycle.demo import DEMO_END, run_demo
from ruralwatch.intake.models import ScreenTake
from ruralwatch.keygroups import crypto
from ruralwatch.reporting.models import ImportBatch

pytestmark = pytest.mark.django_db

SEED = 20230122
SIZE = (2, 10, 10_000)
START = DEMO_END - dt.timedelta(days=6)


#: Columns that hold the wall-clock moment or the cost of writing, not the demo's content
#: (besides the fields stamped on write — ``auto_now``, ``auto_now_add``, ``default=now`` —
#: found from the models): the time a support
#: pairing was set by the import, the time the cycle's validation found a violation or an
#: outlier, and a briefing's rendering time and PDF bytes (the PDF embeds its creation time).
WALL_CLOCK = {
    "keyareas_pairing": {"since"},
    "intake_violation": {"found_at"},
    "intake_outlierflag": {"flagged_at"},
    "briefings_briefing": {"seconds", "sha256", "size"},
}
#: Append-only logs (history, not state: after A then B it holds A's entries too): left out
#: of the state; the test checks that each run appends one entry per report file. (The
#: validation's log of the marks it took, intake.ScreenTake, is one too.)
LOGS = {ImportBatch._meta.db_table, ScreenTake._meta.db_table}


def _volatile(table: str, field: models.Field[Any, Any]) -> bool:
    """Columns whose values are not the demo's content: surrogate keys (a sequence is not
    rolled back and a re-run numbers its rows anew), references to them, and wall-clock
    moments."""
    auto = (models.AutoField, models.BigAutoField, models.SmallAutoField)
    if isinstance(field, auto):
        return True
    if isinstance(field, models.ForeignKey) and isinstance(field.target_field, auto):
        return True
    if isinstance(field, models.DateTimeField | models.DateField) and (
        field.auto_now or field.auto_now_add or field.default is timezone.now
    ):
        return True
    return field.name in WALL_CLOCK.get(table, set())


def _plain(table: str, columns: list[str], row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row's content: encrypted fields (``*_enc``, a fresh nonce on every write) as their
    plaintext; a derived key-group indicator's ``submitted_at`` (the moment the cycle computed
    it, by the wall clock) left out."""
    values = list(row)
    for i, c in enumerate(columns):
        if c.endswith("_enc"):
            values[i] = crypto.decrypt(values[i])
    if table == "reporting_reportvalue" and str(values[columns.index("indicator_id")]).startswith(
        "kg_"
    ):
        values[columns.index("submitted_at")] = None
    return tuple(values)


State = dict[str, tuple[int, str, dict[str, str]]]


def table_state() -> State:
    """Per table: the row count, an order-free SHA-256 of the rows (content columns) and one
    of each column (to say which columns differ)."""
    out: State = {}
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        table = model._meta.db_table
        if table in LOGS:
            continue
        columns = [f.attname for f in model._meta.concrete_fields if not _volatile(table, f)]
        rows = [_plain(table, columns, r) for r in model.objects.values_list(*columns)]
        digest = _digest(repr(r) for r in rows)
        by_column = {c: _digest(repr(r[i]) for r in rows) for i, c in enumerate(columns)}
        out[table] = (len(rows), digest, by_column)
    return out


def _digest(items: Any) -> str:
    return hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()


class _Rollback(Exception):
    pass


def test_rerunning_the_demo_gives_the_same_state(tmp_path: Path) -> None:
    out = tmp_path / "demo"

    def run(scenario: str) -> tuple[State, dict[str, Any]]:
        batches = ImportBatch.objects.count()
        run_demo(out, seed=SEED, scenario=scenario, start=START, size=SIZE)
        files = len(list((out / "reports").glob("*.csv")))
        assert files == 7 and ImportBatch.objects.count() == batches + files
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        return table_state(), summary

    # The rebound alone, on the fresh database; then back to the fresh database.
    try:
        with transaction.atomic():
            rebound_alone = run("rebound")
            raise _Rollback
    except _Rollback:
        pass
    baseline_once = run("baseline")
    baseline_twice = run("baseline")
    rebound_after = run("rebound")
    _same(baseline_twice, baseline_once)
    _same(rebound_after, rebound_alone)
    # The two scenarios do differ (the comparison can fail).
    assert baseline_once[1]["scenario"] != rebound_alone[1]["scenario"]
    assert baseline_once[0] != rebound_alone[0]


def _same(got: tuple[State, dict[str, Any]], want: tuple[State, dict[str, Any]]) -> None:
    differ = {
        table: {
            "rows": (got[0][table][0], n),
            "columns": sorted(c for c, d in columns.items() if got[0][table][2].get(c) != d),
        }
        for table, (n, digest, columns) in want[0].items()
        if got[0][table][:2] != (n, digest)
    }
    assert not differ, json.dumps(differ, indent=1)
    assert got[1] == want[1]
