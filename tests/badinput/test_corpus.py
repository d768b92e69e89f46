"""Every file of the bad-input corpus is refused whole, with a clear problem, by every path.

For each file: the importer service raises :class:`ImportRejected` (no other exception: no
traceback), one of its problems names the expected column, row and reason, and no table the
importers write to has gained or lost a row. A sample goes through the command line (exit 1,
the reason printed, no traceback) and, for reports, through the upload API (422 with the
problem). Runs on SQLite by default and on PostgreSQL with ``DATABASE_URL``.
"""

from __future__ import annotations

import gzip
import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation

from ruralwatch.accounts.services import create_user_with_jurisdiction
from ruralwatch.areas.models import Area
from ruralwatch.areas.services import import_areas
from ruralwatch.core.problems import ImportRejected
from ruralwatch.keygroups.models import Membership, Person, Responsible, RosterImport
from ruralwatch.keygroups.services import import_roster
from ruralwatch.reporting.models import AggregateValue, ImportBatch, ReportValue, Submission
from ruralwatch.reporting.services import import_reports
from tests.badinput.corpus import (
    NOW,
    TODAY,
    TREE,
    V1,
    Case,
    _area_cases,
    _report_cases,
    _roster_cases,
    gzip_bomb,
    write_corpus,
)
from tests.commands import cli_runner
from tests.fixtures.shared_db import built_once

pytestmark = pytest.mark.django_db

ALL = [case for case, _data in (*_report_cases(), *_area_cases(), *_roster_cases())]
WRITTEN = (
    Area,
    ReportValue,
    Submission,
    ImportBatch,
    AggregateValue,
    Person,
    Membership,
    Responsible,
    RosterImport,
)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("badinput")
    write_corpus(directory)
    return directory


def _import_tree(folder: Path) -> None:
    path = folder / "tree.csv"
    path.write_text(TREE, encoding="utf-8")
    import_areas(path)


#: The tree is imported once for the module (tests.fixtures.shared_db); each test runs in its own
#: savepoint inside the module's transaction, so what an import writes is undone before the next.
_module_tree = built_once(_import_tree)


@pytest.fixture
def tree(_module_tree: None, db: None) -> None:
    """The corpus's tree (every database test of this module asks for it)."""


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in WRITTEN}


def _run(case: Case, path: Path) -> Any:
    if case.importer == "areas":
        return import_areas(path)
    if case.importer == "reports":
        return import_reports(path, now=NOW)
    return import_roster(path, today=TODAY)


def _matches(case: Case, problems: list[Any]) -> bool:
    return any(
        p.column == case.column
        and case.reason in p.reason
        and (case.row is None or p.row == case.row)
        for p in problems
    )


def test_the_corpus_is_large_and_covers_every_importer() -> None:
    by_importer = Counter(c.importer for c in ALL)
    assert len(ALL) >= 100
    assert min(by_importer.values()) >= 30, by_importer


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_refused_whole_with_a_clear_problem(case: Case, corpus: Path, tree: None) -> None:
    path = corpus / case.importer / case.name
    before = _counts()
    with translation.override("en"), pytest.raises(ImportRejected) as info:
        _run(case, path)
    problems = info.value.problems
    assert _matches(case, problems), [str(p) for p in problems]
    assert all(p.file == case.name and p.reason for p in problems)
    assert _counts() == before


def test_problems_are_translated(corpus: Path, tree: None) -> None:
    case = next(c for c in ALL if c.id == "reports:township_row.csv")
    with translation.override("zh-hans"), pytest.raises(ImportRejected) as info:
        _run(case, corpus / case.importer / case.name)
    assert any("第" in str(p) or "行" in str(p) for p in info.value.problems)


def test_a_one_mebibyte_gzip_inflating_to_a_gibibyte_is_refused_early(
    tmp_path: Path, tree: None
) -> None:
    """The case of the issue at full size: about 1 MiB on disk, 1 GiB inflated; refused after
    reading the limit (256 MiB), never holding the gibibyte."""
    import tracemalloc

    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip_bomb("area_code,date,indicator,value", 1024))
    assert path.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        with translation.override("en"), pytest.raises(ImportRejected) as info:
            import_reports(path, now=NOW)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "once decompressed" in str(info.value.problems[0])
    assert peak < 600 << 20  # the limit and one copy, not the gibibyte


# --- the command line ----------------------------------------------------------------------

CLI_SAMPLE = [
    ("reports", "township_row.csv"),
    ("reports", "nan.csv"),
    ("reports", "truncated.csv.gz"),
    ("reports", "formula_uncached.xlsx"),
    ("areas", "village_under_county.csv"),
    ("areas", "lon_nan.csv"),
    ("areas", "truncated.csv.gz"),
    ("roster", "id_feb30.csv"),
    ("roster", "phone_dashes.csv"),
    ("roster", "truncated.csv.gz"),
]
COMMAND = {"reports": "reports", "areas": "areas", "roster": "keygroups"}


@pytest.mark.parametrize(("importer", "name"), CLI_SAMPLE, ids=[f"{i}:{n}" for i, n in CLI_SAMPLE])
def test_command_line_prints_the_problem_and_exits_1(
    importer: str, name: str, corpus: Path, tree: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = next(c for c in ALL if (c.importer, c.name) == (importer, name))
    monkeypatch.setenv("LANGUAGE", "en")
    # The test database is already migrated; the command's own start-up must not migrate.
    invoke = cli_runner(monkeypatch)
    args = [COMMAND[importer], "import", str(corpus / importer / name)]
    if importer == "reports":
        args.append("--no-rollup")
    before = _counts()
    with translation.override("en"):
        result = invoke(args)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 1, output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output and "Aborted" not in output
    assert case.reason in output, output
    assert _counts() == before


# --- the upload API ------------------------------------------------------------------------

API_SAMPLE = [
    "township_row.csv",
    "township_wide.csv",
    "nan.csv",
    "ten_to_15.csv",
    "date_1900.csv",
    "date_trailing.csv",
    "truncated.csv.gz",
    "bomb.csv.gz",
    "dimension_xfd.xlsx",
    "formula_uncached.xlsx",
]


@pytest.fixture
def county_client(tree: None, settings: Any) -> Client:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = create_user_with_jurisdiction(
        "county-badinput", "pw-badinput-1", "990101000000", "county"
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("name", API_SAMPLE)
def test_upload_api_answers_422_with_the_problem(
    name: str, corpus: Path, county_client: Client
) -> None:
    case = next(c for c in ALL if (c.importer, c.name) == ("reports", name))
    data = (corpus / "reports" / name).read_bytes()
    before = _counts()
    response = county_client.post(
        "/api/reports/import",
        {"file": SimpleUploadedFile(name, data)},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 422, response.content[:500]
    problems = response.json()["problems"]
    assert any(p["column"] == case.column and case.reason in p["reason"] for p in problems), (
        problems
    )
    assert _counts() == before


def test_upload_api_still_takes_a_good_file(county_client: Client) -> None:
    text = f"区划代码,日期,指标,数值\n{V1},2023-01-08,new_cases,3\n"
    response = county_client.post(
        "/api/reports/import",
        {"file": SimpleUploadedFile("ok.csv.gz", gzip.compress(text.encode()))},
    )
    assert response.status_code == 200, response.content[:500]
    assert response.json()["imported"] == 1


def test_good_xlsx_with_cached_formula_results_is_read(tmp_path: Path, tree: None) -> None:
    """A formula whose result the spreadsheet program stored is read as that result."""
    from openpyxl import load_workbook

    from tests.badinput.corpus import _xlsx

    raw = _xlsx([["区划代码", "日期", "指标", "数值"], [V1, "2023-01-08", "new_cases", "=1+2"]])
    # Store a cached value the way Excel does: <f>1+2</f><v>3</v>.
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(raw))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = body.replace(b"<v />", b"<v>3</v>").replace(b"<v/>", b"<v>3</v>")
            out.writestr(info.filename, body)
    path = tmp_path / "cached.xlsx"
    path.write_bytes(buf.getvalue())
    assert load_workbook(path, data_only=True).active["D2"].value == 3  # type: ignore[index]
    summary = import_reports(path, now=NOW)
    assert summary.values == 1
    assert ReportValue.objects.get(area_id=V1, indicator_id="new_cases").value == 3.0
