"""Identical imports at the same moment: one stores the rows, the other finds them unchanged.

Each import counts what is stored before its upsert; without serialisation both counted the
same 9 rows as new. Two threads (two database connections) import the same file; the first
holds its transaction open for a moment after its upsert, so the second surely starts while
the first is still uncommitted: without the import lock it would count the rows as new (checked
by removing the lock: both then report 9 imported).

PostgreSQL only: SQLite's in-memory test database (shared cache) answers a second writer
"database table is locked" at once instead of waiting, which a deployment's file database
(WAL, busy timeout) does not; the SQLite side of the lock is an ordinary write lock taken at
the start of the transaction (``core.bulk.import_lock``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections

from ruralwatch.areas.services import import_areas
from ruralwatch.keygroups.services import import_roster
from ruralwatch.keygroups.services import roster as keygroups_roster
from ruralwatch.reporting import services as reporting
from ruralwatch.reporting.models import ReportValue
from ruralwatch.reporting.services import import_reports
from tests.badinput.corpus import NOW, TODAY, TREE, V1, V2, V3, id_number

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs two concurrent writers (PostgreSQL; see the module docstring)",
    ),
]


def _race(run: Any, module: Any, upsert: str, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Run ``run`` in two threads; the first pauses after its upsert, before it commits, and
    the second starts during that pause."""
    written = threading.Event()
    real_upsert = getattr(module, upsert)

    def slow_upsert(*args: Any, **kwargs: Any) -> Any:
        counts = real_upsert(*args, **kwargs)
        if not written.is_set():  # the first importer: let the second start, then commit
            written.set()
            time.sleep(1.0)
        return counts

    monkeypatch.setattr(module, upsert, slow_upsert)
    results: list[Any] = [None, None]

    def worker(i: int) -> None:
        try:
            if i == 1:
                written.wait(timeout=60)
            results[i] = run()
        except Exception as exc:  # reported below, with the thread's result
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(isinstance(r, Exception) for r in results), [
        r.render() if hasattr(r, "render") else r for r in results
    ]
    return results


@pytest.fixture
def tree(tmp_path: Path) -> None:
    path = tmp_path / "tree.csv"
    path.write_text(TREE, encoding="utf-8")
    import_areas(path)


def test_identical_report_imports(
    tree: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "day.csv"
    rows = [
        f"{v},2023-01-{d:02d},{i},{n}"
        for v in (V1, V2, V3)
        for d, (i, n) in zip(
            (8, 9, 10), (("new_cases", 3), ("deaths", 0), ("fever_visits", 7)), strict=True
        )
    ]
    path.write_text("area_code,date,indicator,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
    results = _race(lambda: import_reports(path, now=NOW), reporting, "write_staged", monkeypatch)
    assert sorted((r.imported, r.unchanged) for r in results) == [(0, 9), (9, 0)]
    assert ReportValue.objects.count() == 9


def test_identical_roster_imports(
    tree: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "roster.csv"
    people = [(f"老人{i}", id_number(f"194{i}0301", 11)) for i in range(5)]
    path.write_text(
        "姓名,性别,出生日期,身份证号,村代码,重点人群类别\n"
        + "".join(
            f"{n},男,194{i}-03-01,{id_},{V1},独居老人\n" for i, (n, id_) in enumerate(people)
        ),
        encoding="utf-8",
    )
    results = _race(
        lambda: import_roster(path, today=TODAY), keygroups_roster, "_upsert_roster", monkeypatch
    )
    assert sorted((r.inserted, r.unchanged) for r in results) == [(0, 5), (5, 0)]
