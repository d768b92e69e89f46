"""The archive page, the download, the API and the command: what a user can do, and that
nobody outside the jurisdiction can see or issue another county's briefings (the same 404
for missing and forbidden)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from ruralwatch.api.services import create_token
from ruralwatch.briefings.models import Briefing
from ruralwatch.briefings.services import issue_briefing
from tests.commands import cli_runner
from tests.dashboard import data

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _bearer(user: Any) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {create_token(user, 'test')[1]}"}


def test_page_issues_lists_and_downloads(users: dict[str, Any]) -> None:
    county = _client(users["county"])
    # The dashboard's area page links to the archive.
    area_page = county.get(f"/area/{data.COUNTY}/")
    assert f'href="/briefings/area/{data.COUNTY}/"' in area_page.content.decode()
    page = county.get(f"/briefings/area/{data.COUNTY}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "签发简报" in body and "本地区尚未签发简报" in body
    assert 'value="2023-01-07"' in body  # the latest rolled-up date is offered
    made = county.post(
        f"/briefings/area/{data.COUNTY}/",
        {"date": "2023-01-07", "language": "en", "format": "html"},
    )
    assert made.status_code == 302
    b = Briefing.objects.get()
    assert (b.area_id, b.language, b.format, b.created_by) == (
        data.COUNTY,
        "en",
        "html",
        users["county"],
    )
    listing = county.get(f"/briefings/area/{data.COUNTY}/").content.decode()
    assert f"/briefings/{b.pk}/download/" in listing
    got = county.get(f"/briefings/{b.pk}/download/")
    assert got.status_code == 200 and got["Content-Type"].startswith("text/html")
    content = b"".join(got.streaming_content)
    assert hashlib.sha256(content).hexdigest() == b.sha256 == got["X-Content-SHA256"]
    assert "Scheduling-meeting briefing" in content.decode()
    bad = county.post(f"/briefings/area/{data.COUNTY}/", {"date": "2023-13-01", "language": "en"})
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.content.decode()
    assert Briefing.objects.count() == 1


def test_other_jurisdictions_get_404_everywhere(users: dict[str, Any]) -> None:
    b = issue_briefing(data.COUNTY, data.DAY7, fmt="html")
    other = _client(users["county2"])
    missing = 10**9
    for url in (
        f"/briefings/area/{data.COUNTY}/",
        f"/briefings/{b.pk}/download/",
        f"/briefings/{missing}/download/",
    ):
        assert other.get(url).status_code == 404, url
    assert (
        other.post(
            f"/briefings/area/{data.COUNTY}/", {"date": "2023-01-07", "language": "zh-hans"}
        ).status_code
        == 404
    )
    # A township sees its own subtree only, not the county's briefings.
    assert _client(users["town_a"]).get(f"/briefings/{b.pk}/download/").status_code == 404
    # The prefecture above sees them.
    assert _client(users["prefecture"]).get(f"/briefings/{b.pk}/download/").status_code == 200
    api = Client()
    headers = _bearer(users["county2"])
    for url in (
        f"/api/briefings/{b.pk}",
        f"/api/briefings/{b.pk}/file",
        f"/api/briefings/{missing}",
    ):
        r = api.get(url, **headers)
        assert r.status_code == 404, url
        assert (
            r.json()["detail"] == api.get(f"/api/briefings/{missing}", **headers).json()["detail"]
        )
    r = api.post(
        "/api/briefings",
        json.dumps({"area": data.COUNTY, "date": "2023-01-07"}),
        content_type="application/json",
        **headers,
    )
    assert r.status_code == 404
    assert Briefing.objects.count() == 1
    anonymous = Client().get(f"/briefings/{b.pk}/download/")
    assert anonymous.status_code == 302  # to the login page


def test_api_issues_and_serves_the_same_bytes(users: dict[str, Any]) -> None:
    api = Client()
    headers = _bearer(users["county"])
    r = api.post(
        "/api/briefings",
        json.dumps({"area": data.COUNTY, "date": "2023-01-07", "format": "html"}),
        content_type="application/json",
        **headers,
    )
    assert r.status_code == 201, r.content
    out = r.json()
    assert (out["area"], out["issue"], out["revision"], out["language"]) == (
        data.COUNTY,
        1,
        1,
        "zh-hans",
    )
    meta = api.get(f"/api/briefings/{out['id']}", **headers).json()
    assert meta == out
    file = api.get(out["download"], **headers)
    assert file.status_code == 200
    assert hashlib.sha256(b"".join(file.streaming_content)).hexdigest() == out["sha256"]
    refused = api.post(
        "/api/briefings",
        json.dumps({"area": data.COUNTY, "date": "2023-01-07", "language": "fr"}),
        content_type="application/json",
        **headers,
    )
    assert refused.status_code == 422


def test_cli_issues_and_says_what_is_wrong(tree: None, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    invoke = cli_runner(monkeypatch)
    out = tmp_path / "out" / "b.html"
    ok = invoke(
        [
            "brief",
            "--area",
            data.COUNTY,
            "--date",
            "2023-01-07",
            "--format",
            "html",
            "--lang",
            "en",
            "--out",
            str(out),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "Briefing No. 1" in ok.output and str(out) in ok.output
    assert "Scheduling-meeting briefing" in out.read_text(encoding="utf-8")
    cases = [
        (["--area", "110199999999", "--date", "2023-01-07"], "unknown area"),
        (["--area", data.COUNTY, "--date", "2023-02-30"], "YYYY-MM-DD"),
        (["--area", data.COUNTY, "--date", "07/01/2023"], "YYYY-MM-DD"),
        (["--area", data.COUNTY, "--date", "2023-01-07", "--format", "docx"], "pdf or html"),
        (["--area", data.COUNTY, "--date", "2023-01-07", "--lang", "fr"], "zh-hans or en"),
    ]
    for args, message in cases:
        bad = invoke(["brief", *args])
        assert bad.exit_code == 2 and message in bad.output, (args, bad.output)
    assert Briefing.objects.count() == 1
