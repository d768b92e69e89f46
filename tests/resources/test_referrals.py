"""The urban–county pairing and the referral network (issue 14, item 4): importers with their
clear refusals, routes checked against the chain and the pairing, flows counted per route,
and a route whose receiving end is over capacity listed as a gap."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from ruralwatch.areas.models import Area
from ruralwatch.core.problems import ImportRejected
from ruralwatch.resources import selectors, services
from ruralwatch.resources.models import CountyPairing, Facility, Transfer
from ruralwatch.synth.resources import Resources
from tests.resources.conftest import ON, county

DAY = ON.isoformat()


def _write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


class Net:
    """The region's county, its hospital, two townships with their centres and a clinic of
    each, and an urban hospital in the prefecture (grade 3, 40 beds, 2 ICU beds)."""

    def __init__(self, region: Any) -> None:
        self.county = county(region)
        self.prefecture = self.county.parent
        towns = list(Area.objects.filter(parent=self.county).order_by("code")[:2])
        self.town, self.other_town = towns
        self.hospital = Facility.objects.get(kind="county_hospital", area=self.county)
        self.thc = Facility.objects.filter(kind="township_health_centre", area=self.town).first()
        self.other_thc = Facility.objects.filter(
            kind="township_health_centre", area=self.other_town
        ).first()
        self.clinic = (
            Facility.objects.filter(kind="village_clinic", area__parent=self.town)
            .order_by("code")
            .first()
        )
        assert self.thc and self.other_thc and self.clinic


@pytest.fixture
def net(loaded: Resources, region: Any, tmp_path: Path) -> Net:
    n = Net(region)
    services.import_facilities(
        _write(
            tmp_path / "urban.csv",
            f"""
code,name,kind,area_code,grade,as_of,beds,icu_beds
uh-1,市第一人民医院,urban_hospital,{n.prefecture.code},三级,{DAY},40,2
uh-2,市第二人民医院,城市医院,{n.prefecture.code},2,{DAY},30,0
""",
        ),
        today=ON,
    )
    return n


def _pair(tmp_path: Path, n: Net, reserved: int = 3, green: str = "yes") -> None:
    services.import_pairings(
        _write(
            tmp_path / "pairings.csv",
            f"""
county_code,hospital_code,since,reserved_beds,green_channel
{n.county.code},uh-1,2023-01-01,{reserved},{green}
""",
        ),
        today=ON,
    )


def test_pairings_import_refuses_what_is_not_a_pairing(net: Net, tmp_path: Path) -> None:
    bad = _write(
        tmp_path / "bad_pairings.csv",
        f"""
county_code,hospital_code,since,until,reserved_beds,green_channel
{net.town.code},uh-1,2023-01-01,,3,yes
{net.county.code},{net.hospital.code},2023-01-01,,3,yes
{net.county.code},uh-9,2023-01-01,,3,yes
{net.county.code},uh-1,2023-01-10,2023-01-05,x,maybe
990999999999,uh-1,2023-13-01,,1,yes
""",
    )
    with pytest.raises(ImportRejected) as exc:
        services.import_pairings(bad, today=ON)
    found = {(p.row, p.column) for p in exc.value.problems}
    assert found == {
        (2, "county_code"),  # a township, not a county
        (3, "hospital_code"),  # a county hospital, not an urban one
        (4, "hospital_code"),  # unknown facility
        (5, "until"),  # before the start
        (5, "reserved_beds"),
        (5, "green_channel"),
        (6, "county_code"),
        (6, "since"),
    }, exc.value.problems
    assert not CountyPairing.objects.exists()


def test_an_urban_hospital_needs_grade_two_or_three(
    loaded: Resources, region: Any, tmp_path: Path
) -> None:
    prefecture = county(region).parent
    bad = _write(
        tmp_path / "urban_bad.csv",
        f"""
code,name,kind,area_code,grade
uh-3,乡镇医院,urban_hospital,{prefecture.code},一级
uh-4,某医院,urban_hospital,{prefecture.code},
uh-5,某医院,urban_hospital,{prefecture.code},五级
""",
    )
    with pytest.raises(ImportRejected) as exc:
        services.import_facilities(bad, today=ON)
    assert {(p.row, p.column) for p in exc.value.problems} == {
        (2, "grade"),
        (3, "grade"),
        (4, "grade"),
    }, exc.value.problems
    assert not Facility.objects.filter(code__startswith="uh-").exists()


def test_network_counts_flows_and_finds_routes_over_capacity(net: Net, tmp_path: Path) -> None:
    before = selectors.referral_network(net.county.path, ON)
    assert [u["county"] for u in before["unpaired"]] == [net.county.code]
    assert {g["kind"] for g in before["gaps"]} == {selectors.UNPAIRED}
    _pair(tmp_path, net)
    # The township centre holds 3 beds that day.
    services.import_facilities(
        _write(
            tmp_path / "thc_beds.csv",
            f"""
code,name,kind,area_code,as_of,beds,fever_clinic
{net.thc.code},{net.thc.name},township_health_centre,{net.town.code},{DAY},3,yes
""",
        ),
        today=ON,
    )
    earlier = (ON - dt.timedelta(days=2)).isoformat()
    old = (ON - dt.timedelta(days=30)).isoformat()
    summary = services.import_transfers(
        _write(
            tmp_path / "transfers.csv",
            f"""
date,from_facility,to_facility,patients,severe,green_channel
{DAY},{net.clinic.code},{net.thc.code},3,0,0
{earlier},{net.clinic.code},{net.thc.code},2,0,0
{old},{net.clinic.code},{net.thc.code},50,0,0
{DAY},{net.thc.code},{net.hospital.code},4,2,0
{DAY},{net.clinic.code},{net.hospital.code},2,2,2
{DAY},{net.hospital.code},uh-1,4,3,0
{DAY},{net.other_thc.code},uh-1,1,1,1
""",
        ),
        today=ON,
    )
    assert (summary.rows, summary.inserted) == (7, 7)
    again = services.import_transfers(tmp_path / "transfers.csv", today=ON)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 7)

    net_now = selectors.referral_network(net.county.path, ON)
    assert net_now["unpaired"] == []
    assert [p["hospital"] for p in net_now["pairings"]] == ["uh-1"]
    routes = {(r["source"], r["target"]): r for r in net_now["routes"]}
    # Flows counted on each route over the 7 days (the transfer 30 days ago is not).
    assert routes[(net.clinic.code, net.thc.code)]["patients"] == 5
    assert routes[(net.clinic.code, net.hospital.code)]["green_channel"] == 2
    assert routes[(net.hospital.code, "uh-1")]["severe"] == 3
    assert net_now["totals"]["patients"] == 5 + 4 + 2 + 4 + 1
    gaps = {(g["kind"], g.get("source"), g.get("target")) for g in net_now["gaps"]}
    assert gaps == {
        # 5 patients in 7 days against 3 beds.
        (selectors.OVER_BEDS, net.clinic.code, net.thc.code),
        # 4 severe cases at uh-1 against 2 ICU beds, on both routes into it.
        (selectors.OVER_ICU, net.hospital.code, "uh-1"),
        (selectors.OVER_ICU, net.other_thc.code, "uh-1"),
        # The county sent 5 patients to uh-1, which keeps 3 beds for it.
        (selectors.OVER_RESERVED, net.hospital.code, "uh-1"),
        (selectors.OVER_RESERVED, net.other_thc.code, "uh-1"),
    }
    # The county hospital: 6 patients against its beds, 4 severe against its ICU beds.
    end = next(r for r in net_now["receiving"] if r["target"] == net.hospital.code)
    assert (end["load"], end["severe_load"]) == (6, 4)
    # Seen from a township: only its own routes, the receiving ends' whole load.
    town = selectors.referral_network(net.town.path, ON)
    assert {r["source"] for r in town["routes"]} == {net.clinic.code, net.thc.code}
    assert next(r for r in town["receiving"] if r["target"] == net.hospital.code)["load"] == 6
    assert [p["hospital"] for p in town["pairings"]] == ["uh-1"]


def test_transfers_off_the_routes_are_refused_with_their_reason(net: Net, tmp_path: Path) -> None:
    _pair(tmp_path, net, green="no")
    bad = _write(
        tmp_path / "bad_transfers.csv",
        f"""
date,from_facility,to_facility,patients,severe,green_channel
{DAY},{net.clinic.code},{net.other_thc.code},1,0,0
{DAY},{net.thc.code},{net.clinic.code},1,0,0
{DAY},{net.clinic.code},{net.hospital.code},2,0,1
{DAY},{net.hospital.code},uh-2,1,0,0
{DAY},{net.thc.code},uh-1,1,1,1
2022-12-01,{net.hospital.code},uh-1,1,0,0
""",
    )
    with pytest.raises(ImportRejected) as exc:
        services.import_transfers(bad, today=ON)
    found = {(p.row, p.column): p.reason for p in exc.value.problems}
    assert set(found) == {
        (2, "to_facility"),  # the centre of another township
        (3, "to_facility"),  # downwards
        (4, "green_channel"),  # skips a level with patients not on the green channel
        (5, "to_facility"),  # uh-2 is not paired
        (6, "to_facility"),  # the pairing has no green channel
        (7, "to_facility"),  # before the pairing began
    }, found
    assert "不结对" in found[(5, "to_facility")] and "2022-12-01" in found[(7, "to_facility")]
    shape = _write(
        tmp_path / "shape.csv",
        f"""
date,from_facility,to_facility,patients,severe
{DAY},{net.clinic.code},{net.thc.code},2,3
{DAY},{net.clinic.code},{net.clinic.code},1,0
2023-02-30,nothere,{net.thc.code},x,0
""",
    )
    with pytest.raises(ImportRejected) as exc:
        services.import_transfers(shape, today=ON)
    assert {(p.row, p.column) for p in exc.value.problems} == {
        (2, "severe"),
        (3, "to_facility"),
        (4, "date"),
        (4, "from_facility"),
        (4, "patients"),
    }, exc.value.problems
    assert not Transfer.objects.exists()


def test_page_shows_the_network_scoped_and_exports(net: Net, tmp_path: Path) -> None:
    import io

    from django.test import Client
    from openpyxl import load_workbook

    from ruralwatch.accounts.services import create_user_with_jurisdiction

    _pair(tmp_path, net, reserved=1)
    services.import_transfers(
        _write(
            tmp_path / "t.csv",
            f"""
date,from_facility,to_facility,patients,severe
{DAY},{net.hospital.code},uh-1,2,0
{DAY},{net.other_thc.code},{net.hospital.code},1,0
""",
        ),
        today=ON,
    )
    create_user_with_jurisdiction("ref_county", "pw-ref-123", net.county.code, "county")
    create_user_with_jurisdiction("ref_town", "pw-ref-123", net.town.code, "township")
    county_client, town_client = Client(), Client()
    assert county_client.login(username="ref_county", password="pw-ref-123")
    assert town_client.login(username="ref_town", password="pw-ref-123")
    url = f"/resources/area/{net.county.code}/referrals/"
    page = county_client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert page.context["on"] == ON  # the latest transfer's date, not the wall clock's
    assert "市第一人民医院" in text and "转诊网络" in text
    assert "超出为本县预留的床位" in text  # 2 patients against 1 reserved bed
    county_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    en = county_client.get(url).content.decode()
    assert "Referral network" in en and "over the beds reserved for the county" in en
    x = county_client.get(url + "?format=xlsx")
    ws = load_workbook(io.BytesIO(x.content)).active
    assert ws.max_row == 1 + 2  # the header and both routes
    # A township sees its own network page; another township's is the same 404 as a missing
    # area's, and its routes are not on the township's page.
    own = town_client.get(f"/resources/area/{net.town.code}/referrals/")
    assert own.status_code == 200 and net.other_thc.name not in own.content.decode()
    other = town_client.get(f"/resources/area/{net.other_town.code}/referrals/")
    missing = town_client.get("/resources/area/990999999999/referrals/")
    assert other.status_code == missing.status_code == 404


def test_cli_imports_and_prints_the_network(net: Net, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from ruralwatch.cli import app

    runner = CliRunner()
    bad = _write(
        tmp_path / "bad_pairs.csv",
        f"county_code,hospital_code,since\n{net.county.code},{net.hospital.code},{DAY}",
    )
    r = runner.invoke(app, ["resources", "import-pairings", str(bad)])
    assert r.exit_code == 1 and "bad_pairs.csv" in r.output and "hospital_code" in r.output
    good = _write(
        tmp_path / "pairs.csv", f"county_code,hospital_code,since\n{net.county.code},uh-1,{DAY}"
    )
    r = runner.invoke(app, ["resources", "import-pairings", str(good), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["inserted"] == 1
    moves = _write(
        tmp_path / "moves.csv",
        f"date,from_facility,to_facility,patients\n{DAY},{net.hospital.code},uh-1,3",
    )
    r = runner.invoke(app, ["resources", "import-transfers", str(moves)])
    assert r.exit_code == 0 and "new 1" in r.output, r.output
    r = runner.invoke(app, ["resources", "referrals", "--area", net.county.code, "--json"])
    assert r.exit_code == 0, r.output
    network = json.loads(r.stdout)
    assert network["date"] == DAY and network["totals"]["patients"] == 3
    assert network["pairings"][0]["green_channel"] is True  # the default


def test_a_route_over_capacity_becomes_a_capacity_task_that_closes(
    net: Net, tmp_path: Path
) -> None:
    from django.utils import timezone, translation

    from ruralwatch.dispatch.models import Status, Task
    from ruralwatch.dispatch.services import sync_tasks

    _pair(tmp_path, net, reserved=1)
    services.import_transfers(
        _write(
            tmp_path / "t.csv",
            f"date,from_facility,to_facility,patients\n{DAY},{net.hospital.code},uh-1,3",
        ),
        today=ON,
    )
    now = timezone.make_aware(dt.datetime(2023, 2, 6, 9, 0))
    sync_tasks(ON, net.county.path, now)
    key = f"capacity_gap:{selectors.OVER_RESERVED}:{net.hospital.code}>uh-1"
    task = Task.objects.get(kind_id="capacity_gap", source_key__startswith=key)
    assert task.owner_level == 3 and task.evidence["received"] == 3
    assert task.evidence["capacity"] == 1
    with translation.override("zh-hans"):
        words = " ".join(selectors.task_sentences("capacity_gap", task.evidence, "县"))
    assert "超出为本县预留的床位" in words and "市第一人民医院" in words
    # Once the 7 days have passed without transfers, the route is no longer over capacity.
    later = ON + dt.timedelta(days=8)
    sync_tasks(later, net.county.path, now + dt.timedelta(days=8))
    task.refresh_from_db()
    assert task.status == Status.CLOSED_AUTO and task.auto_reason == "gap_closed"


def test_the_briefing_says_the_network_s_flows_and_gaps(net: Net, tmp_path: Path) -> None:
    import re

    from django.utils import translation

    from ruralwatch.briefings.selectors import briefing_content
    from ruralwatch.briefings.services import render_html

    def text(language: str) -> str:
        with translation.override(language):
            content = briefing_content(net.county, ON, language)
            html = render_html(content, issue=1)
        return re.sub(r"<[^>]+>", "", html)

    before = text("zh-hans")
    assert "未结对城市医院的县" in before and net.county.name in before
    _pair(tmp_path, net, reserved=1)
    services.import_transfers(
        _write(
            tmp_path / "t.csv",
            f"date,from_facility,to_facility,patients,severe\n{DAY},{net.hospital.code},uh-1,3,1",
        ),
        today=ON,
    )
    zh = text("zh-hans")
    assert "1 条路线共 3 人（重症 1 人，经绿色通道 0 人）；1 条路线的接收方超出能力" in zh
    assert "超出能力： 市第一人民医院" in zh and "未结对城市医院的县" not in zh
    en = text("en")
    assert "3 patients on 1 routes (1 severe, 0 by the green channel)" in en
