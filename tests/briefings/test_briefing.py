"""A briefing of the small tree, end to end: composed, rendered to PDF, read back with poppler,
archived and issued again (issue numbers, revisions, "since the last meeting")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from ruralwatch.briefings.models import Briefing
from ruralwatch.briefings.services import BriefingError, file_path, issue_briefing, read_file
from ruralwatch.dispatch.services import sync_tasks
from tests.briefings.conftest import pdf_fonts, pdf_page_png, pdf_pages, pdf_text
from tests.dashboard import data
from tests.dispatch.conftest import T0, add_signal, hours

pytestmark = pytest.mark.django_db


@pytest.fixture
def causes(users: dict[str, Any]) -> dict[str, Any]:
    """A temporal signal in township A and the tasks of DAY7 (A2's report is missing)."""
    add_signal(data.TOWN_A, data.DAY7)
    sync_tasks(data.DAY7, "/", now=T0)
    return users


def test_county_pdf_says_what_the_selectors_say(causes: dict[str, Any], tmp_path: Path) -> None:
    b = issue_briefing(data.COUNTY, data.DAY7, now=hours(30), user=causes["county"])
    assert (b.issue, b.revision, b.language, b.format) == (1, 1, "zh-hans", "pdf")
    assert b.created_by == causes["county"]
    path = file_path(b)
    assert path.is_file() and read_file(b) == path.read_bytes()
    assert 1 <= b.pages <= 3 and pdf_pages(path) == b.pages
    text = re.sub(r"\s+", "", pdf_text(path))  # pdftotext spaces CJK text as laid out
    # Chinese by default: the issuing body, the title, the sections.
    assert "测试县农村疫情防控工作专班" in text and "调度简报" in text and "第1期" in text
    assert "自上次调度会以来" in text and "本区域的第一期简报" in text
    # The sub-area table, the signal with its task, the missing village, the overdue task.
    assert "甲镇" in text and "乙乡" in text
    assert "EARSC1" in text
    assert "甲二村" in text  # its DAY7 report never came
    assert "逾期" in text  # 30 h after the tasks were made, acknowledgements are overdue
    assert "Scheduling" not in text and "TaskForce" not in text
    fonts = pdf_fonts(path)
    assert fonts and all(f["emb"] == "yes" for f in fonts), fonts
    assert any("CJK" in f["name"] for f in fonts), fonts
    png = pdf_page_png(path, tmp_path / "page1.png")
    assert png.stat().st_size > 10_000


def test_english_on_request_and_reissue_keeps_every_file(causes: dict[str, Any]) -> None:
    zh = issue_briefing(data.COUNTY, data.DAY7, now=hours(1))
    en = issue_briefing(data.COUNTY, data.DAY7, language="en", now=hours(1))
    # One meeting, one issue number, whatever the language.
    assert en.issue == zh.issue == 1 and en.revision == 1
    text = pdf_text(file_path(en))
    assert "测试县 Rural Epidemic Prevention and Control Task Force" in text
    assert "Scheduling-meeting briefing" in text and "Since the last meeting" in text
    assert "调度简报" not in text
    again = issue_briefing(data.COUNTY, data.DAY7, now=hours(2))
    assert (again.issue, again.revision) == (1, 2)
    assert file_path(again) != file_path(zh) and file_path(zh).is_file()
    assert Briefing.objects.filter(area_id=data.COUNTY).count() == 3
    # A later meeting gets the next issue and compares itself with the last one.
    later = issue_briefing(data.COUNTY, data.DAY8, fmt="html", now=hours(26))
    assert later.issue == 2 and later.pages is None
    html = read_file(later).decode("utf-8")
    assert "与 2023-01-07 第 1 期比较" in html  # "since the last meeting" names issue No. 1
    assert later.figures["open_tasks"] >= 1
    # The archive notices a file changed after it was issued.
    file_path(later).write_bytes(b"<html>changed</html>")
    with pytest.raises(BriefingError):
        read_file(later)


def test_bad_requests_are_clear(tree: None) -> None:
    with translation.override("en"):
        with pytest.raises(BriefingError, match="Unknown area 999"):
            issue_briefing("999", data.DAY7)
        with pytest.raises(BriefingError, match="YYYY-MM-DD"):
            issue_briefing(data.COUNTY, "2023-02-30")
        with pytest.raises(BriefingError, match="outside the span"):
            issue_briefing(data.COUNTY, "0001-01-01")
        with pytest.raises(BriefingError, match="Unknown language"):
            issue_briefing(data.COUNTY, data.DAY7, language="fr")
        with pytest.raises(BriefingError, match="Unknown format"):
            issue_briefing(data.COUNTY, data.DAY7, fmt="docx")
    assert not Briefing.objects.exists()


def test_the_headline_names_the_watched_event_in_the_briefings_language() -> None:
    """The rebound watch's evidence holds a built-in event's code as its names: the briefing
    says 春节 / the Spring Festival, not the code."""
    import datetime as dt

    from ruralwatch.assessments.models import Judgement
    from ruralwatch.briefings.selectors import headline

    rebound = {"event": "spring_festival", "event_zh": "spring_festival",
               "event_en": "spring_festival", "event_start": "2023-01-21",
               "outcome": "no_new_peak"}  # fmt: skip
    j = Judgement(
        area_id=data.COUNTY, indicator_id="new_cases", date=dt.date(2023, 1, 7), level="low",
        phase="plateau", text_zh="平稳", text_en="stable", evidence={"rebound": rebound},
    )  # fmt: skip
    zh, en = headline(j, "zh-hans"), headline(j, "en")
    assert zh is not None and en is not None
    assert (
        zh["rebound_event_label"] == "春节" and en["rebound_event_label"] == "the Spring Festival"
    )
    j.evidence = {}
    assert (headline(j, "en") or {})["rebound_event_label"] == ""
