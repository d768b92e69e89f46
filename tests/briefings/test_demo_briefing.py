"""The demo county's briefing for 5 Feb 2023 reads as the task force's judgement did: low
level, steady decline, no new peak after the Spring Festival; every township is named; it
fits on one to three A4 pages, in Chinese by default and in English on request."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ruralwatch.areas.models import Area
from ruralwatch.briefings.models import Briefing
from ruralwatch.briefings.services import file_path, issue_briefing
from ruralwatch.cycle.demo import DEMO_END, run_demo
from tests.briefings.conftest import pdf_fonts, pdf_page_png, pdf_pages, pdf_text

pytestmark = pytest.mark.django_db

SEED = 20230122


def test_demo_baseline_briefing(tmp_path: Path) -> None:
    demo = run_demo(tmp_path / "demo", seed=SEED, keygroups=False)
    county = Area.objects.get(code=demo.county_code)
    townships = list(Area.objects.filter(parent=county).values_list("name", flat=True))
    assert len(townships) >= 10

    # The demo issues the county's briefing itself and puts a copy beside summary.json.
    made = demo.summary["briefing"]
    zh = Briefing.objects.get(area=county, date=DEMO_END, language="zh-hans", format="pdf")
    print(f"demo county briefing: {zh.pages} pages, {zh.size:,} bytes, {zh.seconds:.2f} s")
    path = file_path(zh)
    assert Path(made["path"]).read_bytes() == path.read_bytes()
    assert (made["pages"], made["issue"], zh.language, zh.format) == (zh.pages, 1, "zh-hans", "pdf")
    assert 1 <= zh.pages <= 3 and pdf_pages(path) == zh.pages
    text = re.sub(r"\s+", "", pdf_text(path))
    assert "农村疫情防控工作专班" in text and "调度简报" in text
    # The headline: the stored judgement's sentence, and its level, trend and rebound watch.
    assert "低流行水平" in text or "低水平" in text, text[:400]
    assert "稳步下降" in text and "未出现新的小高峰" in text
    assert "春节后" in text and "未出现新高峰" in text
    for name in townships:
        assert name in text, name
    fonts = pdf_fonts(path)
    assert all(f["emb"] == "yes" and f["sub"] == "yes" for f in fonts), fonts
    assert any("CJK" in f["name"] for f in fonts)
    # The resources and key-area panels say what summary.json says (the same selectors).
    res, key = demo.summary["resources"], demo.summary["key_areas"]
    assert "八、资源" in text and "九、重点地区（三区一岛）" in text
    assert f"{res['stock_outs']}项物资缺货" in text
    assert f"{sum(res['capacity_gaps'].values())}处能力缺口" in text
    assert f"{key['count']}个重点地区在监测中" in text
    # The demo's county is paired with the prefecture's urban hospital and one of its routes
    # is over capacity (synth.resources.build_referrals): the referral line says so.
    ref = demo.summary["referrals"]
    assert ref["routes_over_capacity"] == 1 and ref["unpaired"] == 0
    assert "1条路线的接收方超出能力" in text and "未结对城市医院的县" not in text
    assert key["watched"], "the demo's remote villages rise"
    for w in key["watched"]:
        assert w["name"] in text, w
    png = pdf_page_png(path, tmp_path / "demo-page1.png")
    assert png.stat().st_size > 20_000

    en = issue_briefing(county.code, DEMO_END, language="en")
    assert en.issue == zh.issue and 1 <= en.pages <= 3
    text_en = " ".join(pdf_text(file_path(en)).split())
    assert "Rural Epidemic Prevention and Control Task Force" in text_en
    assert "declining steadily" in text_en and "no new peak" in text_en
    assert "Spring Festival" in text_en
    assert "稳步下降" not in text_en
    assert "Resources: stock against the minimums and coverage gaps" in text_en
    assert f"{key['count']} key areas under watch" in text_en
    assert f"{res['stock_outs']} item stock-outs" in text_en
