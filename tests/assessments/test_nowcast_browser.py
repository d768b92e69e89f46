"""The nowcast band on the dashboard's epidemic curve, in a real browser (Debian's chromium).

The heavy-delay county of ``test_nowcast`` is judged with the nowcast; the county's page draws
the reported bars, the 7-day mean, and over the last days the nowcast's interval (an area mark)
and its mean (a second line), with the same numbers as the judgement's evidence.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.assessments.models import Judgement
from ruralwatch.assessments.services import assess
from tests.assessments.test_nowcast import CYCLE, load, scenario
from tests.browser import chromium

SCREENSHOT = Path(os.environ.get("RURALWATCH_SCREENSHOT_NOWCAST", "/tmp/nowcast-band.png"))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_curve_draws_the_nowcast_band(live_server, transactional_db, tmp_path: Path) -> None:
    s = scenario(tmp_path)
    load(s)
    assess(CYCLE)
    evidence = Judgement.objects.get(area_id=s["code"], date=CYCLE).evidence["nowcast"]
    create_user_with_jurisdiction("county-nc", "pw-county-123", s["code"], "county")
    with chromium() as browser:
        context = browser.new_context(locale="zh-CN", viewport={"width": 1200, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live_server.url}/")
        page.fill("input[name=username]", "county-nc")
        page.fill("input[name=password]", "pw-county-123")
        page.click("button[type=submit].primary")
        page.wait_for_selector("#curve[data-rendered='true'] svg", timeout=30_000)
        spec = json.loads(page.inner_text("#spec-curve"))
        band = spec["layer"][2]["data"]["values"]
        assert [b["date"] for b in band] == evidence["days"]
        assert [b["upper"] for b in band] == evidence["upper"]
        assert page.locator("#curve svg g.mark-area.role-mark path").count() == 1
        assert page.locator("#curve svg g.mark-line.role-mark path").count() == 2
        assert page.locator("#curve svg g.mark-symbol.role-mark path").count() == len(band)
        # the judgement above the curve says what the band is
        assert "即时预测" in page.inner_text("main")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert errors == []
        context.close()
