"""Exports of the dispatch tables (inbox lists, accountability tables) as XLSX and CSV, scoped
as the pages are; and the accountability page's default period, on the data's 2023 dates
rather than the wall clock's."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from openpyxl import load_workbook

from ruralwatch.areas.models import Area
from ruralwatch.dispatch import selectors
from ruralwatch.dispatch.models import OPEN_STATUSES, Task
from tests.dashboard import data
from tests.dispatch.conftest import COUNTY2, T0, add_signal, set_value
from tests.dispatch.test_views import client_for

DAY7 = data.DAY7


@pytest.fixture
def tasks(users: dict[str, Any]) -> list[Task]:
    from ruralwatch.dispatch.services import sync_tasks

    for i in range(1, 8):
        set_value(data.TOWN_A, DAY7 - dt.timedelta(days=7 - i), "new_cases", float(i))
    add_signal(data.TOWN_A, DAY7)
    add_signal(data.TOWN_B, DAY7)
    add_signal(data.A1, DAY7, single=True)
    sync_tasks(DAY7, now=T0)
    return list(Task.objects.all())


def _sheet(body: bytes) -> list[list[Any]]:
    ws = load_workbook(io.BytesIO(body), read_only=True).active
    return [list(r) for r in ws.iter_rows(values_only=True)]


def _csv(body: bytes) -> list[list[str]]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads the UTF-8 CSV as UTF-8
    return list(csv.reader(io.StringIO(text[1:])))


def _open_below(code: str) -> set[int]:
    area = Area.objects.get(code=code)
    return set(
        Task.objects.filter(owner_path__startswith=area.path, status__in=OPEN_STATUSES)
        .exclude(owner_area_id=code)
        .values_list("pk", flat=True)
    )


def test_inbox_exports_every_task_of_a_list_not_the_page(
    tasks: list[Task], users: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ruralwatch.dispatch import views

    monkeypatch.setattr(views, "INBOX_LIMIT", 1)  # the page shows one task per list
    client = client_for(users["county"])
    page = client.get("/dispatch/").content.decode()
    assert "list=below&amp;format=xlsx" in page and "list=mine&amp;format=csv" in page
    answer = client.get("/dispatch/?list=below&format=xlsx")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in answer["Content-Disposition"]
    rows = _sheet(answer.content)
    assert rows[0][:4] == ["任务", "类型", "地区", "代码"]  # the page's language
    expected = _open_below(data.COUNTY)
    assert len(expected) >= 3
    assert {r[0] for r in rows[1:]} == expected
    by_id = {t.pk: t for t in tasks}
    for r in rows[1:]:
        task = by_id[r[0]]
        assert r[3] == task.area_id and r[4].date() == task.date
    # mine: the county's own open tasks, by the same rule as the page.
    mine = _csv(client.get("/dispatch/?list=mine&format=csv").content)
    own = set(
        Task.objects.filter(owner_area_id=data.COUNTY, status__in=OPEN_STATUSES).values_list(
            "pk", flat=True
        )
    )
    assert {int(r[0]) for r in mine[1:]} == own


def test_inbox_export_is_scoped_and_filtered_as_the_page(tasks: list[Task], users: dict) -> None:
    town = client_for(users["town_a"], "en")
    rows = _sheet(town.get("/dispatch/?list=below&format=xlsx").content)
    assert rows[0][0] == "Task"
    ids = {r[0] for r in rows[1:]}
    assert ids == _open_below(data.TOWN_A)
    outside = Task.objects.exclude(area_path__startswith=Area.objects.get(code=data.TOWN_A).path)
    assert outside.exists() and not ids & set(outside.values_list("pk", flat=True))
    other = _sheet(client_for(users["county2"]).get("/dispatch/?list=below&format=xlsx").content)
    county_path = Area.objects.get(code=data.COUNTY).path
    county_tasks = set(
        Task.objects.filter(area_path__startswith=county_path).values_list("pk", flat=True)
    )
    assert not {r[0] for r in other[1:]} & county_tasks
    # The kind filter holds in the export too.
    single = _csv(
        client_for(users["county"]).get("/dispatch/?kind=signal&list=below&format=csv").content
    )
    kinds = {t.pk: t.kind_id for t in tasks}
    assert single[1:] and all(kinds[int(r[0])] == "signal" for r in single[1:])


def test_accountability_exports_each_table_with_the_page_figures(
    tasks: list[Task], users: dict
) -> None:
    client = client_for(users["county"], "en")
    query = "?since=2023-01-01&until=2023-01-31"
    page = client.get("/dispatch/accountability/" + query).content.decode()
    for table in ("lagging", "levels", "kinds"):
        assert f"table={table}&amp;format=xlsx" in page
    root = Area.objects.get(code=data.COUNTY)
    figures = selectors.accountability(
        root,
        dt.datetime(2023, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2023, 2, 1, tzinfo=dt.UTC),
        dt.datetime(2023, 2, 1, tzinfo=dt.UTC),
        by_date=True,
    )
    kinds = _csv(client.get(f"/dispatch/accountability/{query}&table=kinds&format=csv").content)
    assert kinds[0][0] == "Kind" and kinds[0][-1] == "Total"
    assert sum(int(r[-1]) for r in kinds[1:]) == figures["overall"]["tasks"] > 0
    lagging = _sheet(
        client.get(f"/dispatch/accountability/{query}&table=lagging&format=xlsx").content
    )
    assert [r[1] for r in lagging[1:]] == [u["code"] for u in figures["lagging"]]
    assert [r[4] for r in lagging[1:]] == [u["tasks"] for u in figures["lagging"]]
    levels_url = f"/dispatch/accountability/{query}&table=levels&format=xlsx"
    levels = _sheet(client.get(levels_url).content)
    assert sum(r[2] for r in levels[1:]) == figures["overall"]["tasks"]
    # Scoped: another county's table is the same 404 as a missing area.
    other = client_for(users["county2"], "en")
    assert other.get(f"/dispatch/accountability/{data.COUNTY}/?format=xlsx").status_code == 404
    mine = _csv(other.get("/dispatch/accountability/?table=lagging&format=csv").content)
    assert all(r[1].startswith(COUNTY2[:6]) for r in mine[1:])


def test_accountability_period_defaults_to_the_data_date_not_the_clock(
    tasks: list[Task], users: dict
) -> None:
    """The data end on 2023-01-07 (DAY7); the clock is years later. The default period is the
    30 days up to the data's day, and it holds the tasks of that data."""
    client = client_for(users["county"], "en")
    text = client.get("/dispatch/accountability/").content.decode()
    assert "from the data of 2022-12-09 to 2023-01-07" in text
    assert 'value="2023-01-07"' in text and 'value="2022-12-09"' in text
    county_tasks = Task.objects.filter(
        area_path__startswith=Area.objects.get(code=data.COUNTY).path
    )
    rows = _csv(client.get("/dispatch/accountability/?table=kinds&format=csv").content)
    assert sum(int(r[-1]) for r in rows[1:]) == county_tasks.count() > 0
    # The site's "as of" day moves the period: a month on, the same tasks are overdue then.
    later = client.get("/dispatch/accountability/?date=2023-02-06").content.decode()
    assert "from the data of 2023-01-08 to 2023-02-06" in later
    assert "No tasks in the period." in later
    month = client.get("/dispatch/accountability/?date=2023-01-20").content.decode()
    assert "from the data of 2022-12-22 to 2023-01-20" in month
    overdue = selectors.accountability(
        Area.objects.get(code=data.COUNTY),
        dt.datetime(2022, 12, 21, 16, tzinfo=dt.UTC),
        dt.datetime(2023, 1, 20, 16, tzinfo=dt.UTC),
        dt.datetime(2023, 1, 20, 15, 59, tzinfo=dt.UTC),
        by_date=True,
    )["overall"]["overdue"]
    assert overdue > 0
    assert f"<dt>Overdue tasks</dt><dd>{overdue}</dd>" in month
