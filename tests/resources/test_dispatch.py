"""Stock-outs and capacity gaps become dispatch tasks, once, and close when their cause goes."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from ruralwatch.dispatch.models import Status, Task
from ruralwatch.dispatch.services import sync_tasks
from ruralwatch.resources.models import StockReport
from ruralwatch.synth.resources import CAPACITY_KINDS, STOCK_KINDS, Resources
from tests.resources.conftest import ON, province

NOW = timezone.make_aware(dt.datetime(2023, 2, 6, 9, 0))


def test_every_gap_becomes_one_task_and_closes_when_restocked(loaded: Resources, region) -> None:
    root = province(region)
    summary = sync_tasks(ON, root.path, NOW)
    stock_facilities = {t["facility"] for t in loaded.truth if t["kind"] in STOCK_KINDS}
    gaps = {
        t["facility"] if t["kind"] == "clinic_without_doctor" else t["area"]
        for t in loaded.truth
        if t["kind"] in CAPACITY_KINDS
    }
    stock_tasks = Task.objects.filter(kind_id="stock_out")
    assert {t.evidence["facility"] for t in stock_tasks} == stock_facilities
    assert summary.created["stock_out"] == len(stock_facilities)
    cap = Task.objects.filter(kind_id="capacity_gap")
    assert {k.source_key.split(":")[2] for k in cap} == gaps
    # A village clinic's task is owned by its township; a capacity gap by the county.
    vc_task = next(t for t in stock_tasks if t.evidence["facility"].startswith("vc-"))
    assert vc_task.owner_level == 4 and vc_task.owner_area_id == vc_task.area_id[:9] + "000"
    assert set(cap.values_list("owner_level", flat=True)) == {3}

    # Running again creates nothing.
    again = sync_tasks(ON, root.path, NOW)
    assert again.created["stock_out"] == 0 and again.created["capacity_gap"] == 0

    # Restock one facility: its task closes itself as stock_restored; the next day no new one.
    fac = vc_task.evidence["facility"]
    for it in vc_task.evidence["items"]:
        StockReport.objects.update_or_create(
            facility_id=fac,
            item_id=it["item"],
            date=ON + dt.timedelta(days=1),
            defaults={"on_hand": 10_000, "received": 10_000, "issued": 0},
        )
    later = sync_tasks(ON + dt.timedelta(days=1), root.path, NOW + dt.timedelta(days=1))
    vc_task.refresh_from_db()
    assert vc_task.status == Status.CLOSED_AUTO and vc_task.auto_reason == "stock_restored"
    assert later.auto_closed["stock_out"] == 1
    assert later.created["stock_out"] == 0  # the others still have their open task


def test_the_task_says_in_words_what_is_short(loaded: Resources, region) -> None:
    """The task page's evidence for a stock task names the facility and each item short with
    its stock against the minimum; a capacity task names what is missing; in both languages."""
    from django.utils import translation

    from ruralwatch.dispatch import evidence

    root = province(region)
    sync_tasks(ON, root.path, NOW)
    stock = Task.objects.filter(kind_id="stock_out").order_by("pk").first()
    cap = Task.objects.filter(kind_id="capacity_gap").order_by("pk").first()
    assert stock is not None and cap is not None
    with translation.override("en"):
        words = evidence.sentences("stock_out", stock.evidence, stock.area.name)
        assert words[0].startswith(stock.evidence["facility_name"])
        assert len(words) == 1 + len(stock.evidence["items"])
        assert all("in stock against a minimum of" in w for w in words[1:])
        gap = evidence.sentences("capacity_gap", cap.evidence, cap.area.name)
        assert any(
            x in gap[0] for x in ("without a fever clinic", "without an ICU", "without a doctor")
        )
    with translation.override("zh-hans"):
        words = evidence.sentences("stock_out", stock.evidence, stock.area.name)
        assert "最低" in words[1], words
