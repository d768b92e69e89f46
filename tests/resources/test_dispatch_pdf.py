"""The allocation's dispatch list as a PDF (issue 14, item 3): Chinese and English, every
facility that gets units named in it (read back with pdftotext), scoped like the page."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

from django.test import Client
from openpyxl import load_workbook

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.synth.resources import Resources
from tests.resources.conftest import county

PASSWORD = "pw-resources-123"


def _text(data: bytes, tmp_path: Path, name: str) -> str:
    assert shutil.which("pdftotext"), "poppler-utils is installed on this machine"
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    )
    return out.stdout


def test_dispatch_list_pdf_in_both_languages(loaded: Resources, region, tmp_path: Path) -> None:
    code = county(region).code
    create_user_with_jurisdiction("res_pdf", PASSWORD, code, "county")
    c = Client()
    assert c.login(username="res_pdf", password=PASSWORD)
    url = (
        f"/resources/area/{code}/allocate/?date=2023-02-05&supply_antigen_kit=2000"
        "&supply_pulse_oximeter=100&mode=weighted"
    )
    assert "format=pdf" in c.get(url).content.decode()  # the page links the PDF
    r = c.get(url + "&format=pdf")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    assert "attachment" in r["Content-Disposition"] and ".pdf" in r["Content-Disposition"]
    # The same recipients as the XLSX dispatch list: every facility getting units is named.
    ws = load_workbook(io.BytesIO(c.get(url + "&format=xlsx").content)).active
    rows = list(ws.iter_rows(values_only=True))
    name_col = rows[0].index("机构")
    names = {row[name_col] for row in rows[1:]}
    assert names
    zh = _text(r.content, tmp_path, "zh")
    flat = "".join(zh.split())  # a long name may wrap inside its cell
    assert "调拨清单" in zh and "抗原检测试剂" in zh
    missing = {n for n in names if "".join(n.split()) not in flat}
    assert missing == set()
    c.post("/i18n/setlang/", {"language": "en", "next": "/"})
    en = _text(c.get(url + "&format=pdf").content, tmp_path, "en")
    assert "Dispatch list" in en and "Units toward the minimums" in en
    flat_en = "".join(en.split())
    assert all("".join(n.split()) in flat_en for n in names)  # facility names stay Chinese


def test_dispatch_list_pdf_is_scoped(loaded: Resources, region) -> None:
    code = county(region).code
    other = region.areas.filter(region.areas["level"] == 4)["code"][0]
    create_user_with_jurisdiction("res_pdf_town", PASSWORD, other, "township")
    c = Client()
    assert c.login(username="res_pdf_town", password=PASSWORD)
    r = c.get(f"/resources/area/{code}/allocate/?supply_antigen_kit=100&format=pdf")
    assert r.status_code == 404  # the county above is outside a township's jurisdiction
