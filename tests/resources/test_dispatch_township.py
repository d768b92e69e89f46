"""The allocation's dispatch list names each recipient's township (issue 12's leftover: the
township column showed the township's statistical code), on the page, in the XLSX/CSV and in
the PDF, in Chinese and English."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from django.test import Client
from django.utils import translation
from openpyxl import load_workbook

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.models import Area
from ruralwatch.synth.resources import Resources
from tests.resources.conftest import county
from tests.resources.test_dispatch_pdf import _text

PASSWORD = "pw-resources-123"


def _url(code: str) -> str:
    return (
        f"/resources/area/{code}/allocate/?date=2023-02-05&supply_antigen_kit=2000"
        "&supply_pulse_oximeter=100&mode=weighted"
    )


def test_dispatch_list_names_the_township(loaded: Resources, region, tmp_path: Path) -> None:
    place = county(region)
    create_user_with_jurisdiction("res_town_names", PASSWORD, place.code, "county")
    c = Client()
    assert c.login(username="res_town_names", password=PASSWORD)
    townships = dict(
        Area.objects.filter(level=4, path__startswith=place.path).values_list("code", "name")
    )
    area_town = dict(Area.objects.filter(path__startswith=place.path).values_list("code", "l4"))
    facility_town = {
        code: area_town[area] for code, area in loaded.facilities.select("code", "area_code").rows()
    }
    url = _url(place.code)
    # XLSX: the township column holds the recipient's township name, never a code.
    ws = load_workbook(io.BytesIO(c.get(url + "&format=xlsx").content)).active
    rows = list(ws.iter_rows(values_only=True))
    with translation.override("zh-hans"):
        township_label = translation.gettext("Township")
    header, body = rows[0], rows[1:]
    town, fac = header.index(township_label), header.index("机构编码")
    assert body
    for row in body:
        assert row[town] == townships[facility_town[row[fac]]], row
    # CSV: the same.
    text = c.get(url + "&format=csv").content.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert {r[0] for r in table[1:]} == {r[town] for r in body}
    assert not set(townships) & {r[0] for r in table[1:]}
    # The page: every row of the result names its township, and no township code shows.
    page = c.get(url).content.decode()
    assert f'<th scope="col">{township_label}</th>' in page
    shown = {r[town] for r in body}
    assert all(f"<td>{name}</td>" in page for name in shown)
    assert not [code for code in townships if code in page.split("res-allocation")[1]]
    # The PDF, in Chinese and English: township names, no township codes.
    for language in ("zh-hans", "en"):
        c.post("/i18n/setlang/", {"language": language, "next": "/"})
        pdf = _text(c.get(url + "&format=pdf").content, tmp_path, language)
        flat = "".join(pdf.split())
        assert all(name in flat for name in shown), language
        for code in sorted(facility_town, key=len, reverse=True):  # "thc-<township code>"
            flat = flat.replace(code, "")
        assert not [code for code in townships if code in flat], language
