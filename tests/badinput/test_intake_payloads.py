"""The bad-input corpus of the systems' intake: the bulk JSON API (``POST /api/intake/values``)
and DHIS2's ``POST /api/dataValueSets`` (JSON, CSV, ADX XML).

Each payload must be answered with a 4xx whose body names the field and the reason (a
conflict's ``field`` and ``reason`` for the bulk API, a conflict's ``property`` and ``value``
for DHIS2's importSummary, or the ``detail`` of a refused request), never a traceback, and
must leave every table an import writes exactly as it was (row count and a checksum of every
row). One world (two townships of 长安区 from the 2016 list, a county and a township token, a
signed-off day and an archived one) is built once for the module, outside the tests'
transactions, and removed after it. Runs on SQLite and, with ``DATABASE_URL``, PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.utils import timezone

from ruralwatch.intake.models import OutlierFlag, ScreenDay, ScreenTake, Violation
from ruralwatch.reporting.models import (
    AggregateValue,
    ArchivedPeriod,
    FormReport,
    ImportBatch,
    ReportValue,
    RollupPending,
    Submission,
    ValidationPending,
    ValueChange,
)
from tests.intake import h4world

BULK = "/api/intake/values"
DHIS2 = "/api/dataValueSets"
ADX_NS = "urn:ihe:qrph:adx:2015"
DAY = h4world.DAY
LOCKED = DAY - dt.timedelta(days=1)  # signed off by township A
ARCHIVED = DAY - dt.timedelta(days=40)
V1 = "130102001001"  # a village of township A
VB = "130102002010"  # a village of township B (outside the township token's jurisdiction)
#: What an import may write: none of it may change for a refused payload.
WRITTEN = (
    ReportValue,
    Submission,
    ValueChange,
    ImportBatch,
    Violation,
    OutlierFlag,
    RollupPending,
    ValidationPending,
    ScreenDay,
    ScreenTake,
    AggregateValue,
    FormReport,
)


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[h4world.World]:
    from django.contrib.auth import get_user_model

    from ruralwatch.areas.models import Area
    from ruralwatch.areas.services import delete_subtree
    from ruralwatch.reporting.signoff import approve_day

    with django_db_blocker.unblock():
        empty = _state()
    try:
        with django_db_blocker.unblock():
            w = h4world.build()
            approve_day(Area.objects.get(code=h4world.TOWN_A), LOCKED, user=None, role="township")
            ArchivedPeriod.objects.create(
                start=ARCHIVED,
                end=ARCHIVED,
                file="x.parquet",
                sha256="0" * 64,
                values=0,
                submissions=0,
            )
        assert w.villages_a[0] == V1 and VB in w.villages_b
        yield w
    finally:
        with django_db_blocker.unblock():
            ArchivedPeriod.objects.all().delete()
            delete_subtree("130000000000")
            get_user_model().objects.filter(username__in=["h4county", "h4town"]).delete()
            from ruralwatch.intake.models import RateWindow

            RateWindow.objects.all().delete()
            assert _state() == empty, "the world was not removed whole"


def _state() -> dict[str, tuple[int, str]]:
    out = {}
    for model in WRITTEN:
        digest = hashlib.sha256()
        rows = list(model.objects.order_by("pk").values_list())
        for row in rows:
            digest.update(repr(row).encode())
        out[model.__name__] = (len(rows), digest.hexdigest())
    return out


@dataclass
class Case:
    name: str
    url: str
    body: bytes
    field: str | None  # the field named (None: the request as a whole)
    reason: str  # a piece of the English reason
    content_type: str = "application/json"
    query: str = ""
    status: int = 422
    client: str = "county"
    extra: dict[str, Any] = field(default_factory=dict)


def _v(area: str = V1, day: dt.date | str = DAY, indicator: str = "deaths", **kw: Any) -> Any:
    item = {
        "area": area,
        "date": day.isoformat() if isinstance(day, dt.date) else day,
        "indicator": indicator,
        "value": 1,
    }
    item.update(kw)
    return {k: v for k, v in item.items() if v is not _DROP}


_DROP = object()


def _bulk(name: str, values: Any, fld: str | None, reason: str, **kw: Any) -> Case:
    """A bulk case: ``values`` is the list (one good value is put first, so that nothing of
    a request with one bad value may be stored), or bytes sent as they are."""
    if isinstance(values, bytes):
        body = values
    else:
        body = json.dumps({"values": [_v(V1, DAY, "fever_visits"), *values]}).encode()
    return Case(name, BULK, body, fld, reason, **kw)


def _raw_json(items_text: str) -> bytes:
    """A body with JSON that ``json.dumps`` would not write (NaN, Infinity, 1e999)."""
    good = json.dumps(_v(V1, DAY, "fever_visits"))
    return ('{"values": [' + good + ", " + items_text + "]}").encode()


def _dv(**kw: Any) -> dict[str, Any]:
    dv = {"dataElement": "deaths", "period": DAY.strftime("%Y%m%d"), "orgUnit": V1, "value": "1"}
    dv.update(kw)
    return {k: v for k, v in dv.items() if v is not _DROP}


def _dhis2(name: str, values: Any, prop: str | None, reason: str, **kw: Any) -> Case:
    if isinstance(values, bytes):
        body = values
    else:
        good = _dv(dataElement="fever_visits")
        body = json.dumps({"dataValues": [good, *values]}).encode()
    kw.setdefault("query", "idScheme=CODE")
    return Case(name, DHIS2, body, prop, reason, **kw)


def _adx(groups: str) -> bytes:
    return f'<?xml version="1.0"?><adx xmlns="{ADX_NS}">{groups}</adx>'.encode()


def _cases() -> list[Case]:
    future = (timezone.localdate() + dt.timedelta(days=2)).isoformat()
    day = DAY.isoformat()
    many = [_v(V1, DAY - dt.timedelta(days=i // 5), "deaths") for i in range(10_001)]
    c = [
        # --- the request as a whole ---------------------------------------------------------
        _bulk("bad_json", b'{"values": [', None, "not valid JSON"),
        _bulk("not_utf8", b'{"values": ["\xff\xfe"]}', None, "not valid JSON"),
        _bulk("json_string", b'"values"', None, "values"),
        _bulk("values_not_a_list", b'{"values": {"area": "x"}}', None, "values"),
        _bulk("empty_list", b'{"values": []}', None, "empty"),
        _bulk("extra_top_level_key", b'{"values": [], "token": "x"}', None, "values"),
        _bulk("over_10000", json.dumps({"values": many}).encode(), None, "at most 10000"),
        _bulk(
            "wrong_content_type",
            b"area=1&value=2",
            None,
            "not valid JSON",
            content_type="application/x-www-form-urlencoded",
        ),
        _bulk("unknown_mode", [], "mode", "", query="mode=sometimes"),
        _bulk("bad_dry_run", [], "dry_run", "", query="dry_run=perhaps"),
        # --- an item ------------------------------------------------------------------------
        _bulk("item_not_an_object", ["130102001001"], None, "not an object"),
        _bulk("item_a_list", [[V1, day, "deaths", 1]], None, "not an object"),
        _bulk("unknown_field", [_v(colour="red")], "colour", "unknown field"),
        _bulk("area_missing", [_v(area=_DROP)], "area_code", "area code is empty"),
        _bulk("area_short", [_v(area="1301020010")], "area_code", "not 12 digits"),
        _bulk("area_with_letters", [_v(area="13010200100X")], "area_code", "not 12 digits"),
        _bulk("area_unknown", [_v(area="999999999999")], "area_code", "unknown area code"),
        _bulk("area_a_township", [_v(area=h4world.TOWN_A)], "area_code", "level-4"),
        _bulk(
            "area_outside_jurisdiction",
            [_v(area=VB)],
            "area_code",
            "unknown area code",
            client="town",
        ),
        _bulk("date_missing", [_v(day=_DROP)], "date", "not a date"),
        _bulk("date_impossible", [_v(day="2023-02-30")], "date", "not a date"),
        _bulk("date_day_first", [_v(day="05/01/2023")], "date", "not a date"),
        _bulk("date_trailing_text", [_v(day=day + "abc")], "date", "not a date"),
        _bulk("date_month_13", [_v(day="2023-13-01")], "date", "not a date"),
        _bulk("date_a_boolean", [_v(day=False)], "date", "not a date"),
        _bulk("date_future", [_v(day=future)], "date", "in the future"),
        _bulk("date_before_2000", [_v(day="1999-12-31")], "date", "before 2000-01-01"),
        _bulk("date_signed_off", [_v(day=LOCKED)], "date", "locked"),
        _bulk("date_archived", [_v(day=ARCHIVED)], "date", "archived"),
        _bulk("indicator_missing", [_v(indicator=_DROP)], "indicator", "indicator is empty"),
        _bulk("indicator_unknown", [_v(indicator="no_such")], "indicator", "unknown indicator"),
        _bulk("value_missing", [_v(value=_DROP)], "value", "value is empty"),
        _bulk("value_null", [_v(value=None)], "value", "value is empty"),
        _bulk("value_text", [_v(value="x")], "value", "not a number"),
        _bulk("value_boolean", [_v(value=True)], "value", "not a number"),
        _bulk("value_list", [_v(value=[1])], "value", "not a number"),
        _bulk("value_object", [_v(value={"n": 1})], "value", "not a number"),
        _bulk("value_nan_text", [_v(value="NaN")], "value", "not a finite number"),
        _bulk(
            "value_nan_literal",
            _raw_json(f'{{"area": "{V1}", "date": "{day}", "indicator": "deaths", "value": NaN}}'),
            "value",
            "not a finite number",
        ),
        _bulk(
            "value_infinity",
            _raw_json(
                f'{{"area": "{V1}", "date": "{day}", "indicator": "deaths", "value": -Infinity}}'
            ),
            "value",
            "not a finite number",
        ),
        _bulk(
            "value_overflow",
            _raw_json(
                f'{{"area": "{V1}", "date": "{day}", "indicator": "deaths", "value": 1e999}}'
            ),
            "value",
            "not a finite number",
        ),
        _bulk("value_huge", [_v(value=1e20)], "value", "largest plausible value"),
        _bulk("value_huge_integer", [_v(value=10**40)], "value", "largest plausible value"),
        _bulk("value_negative", [_v(value=-1)], "value", "negative count"),
        _bulk("value_fraction", [_v(value=1.5)], "value", "whole number"),
        _bulk("duplicate_key", [_v(), _v(value=2)], "indicator", "duplicate of row 1"),
        _bulk("submitted_at_bad", [_v(submitted_at="yesterday")], "submitted_at", "not a time"),
        _bulk(
            "submitted_at_future",
            [_v(submitted_at=future + "T10:00:00+08:00")],
            "submitted_at",
            "in the future",
        ),
        _bulk(
            "submitted_at_before_the_day",
            [_v(submitted_at="2023-01-04T10:00:00+08:00")],
            "submitted_at",
            "before the report date",
        ),
        _bulk("reporter_too_long", [_v(reporter="x" * 65)], "reporter", "at most 64"),
        _bulk(
            "partial_mode_all_bad",
            b'{"values": [{"area": "999999999999", "date": "2023-01-05", "indicator": "deaths", '
            b'"value": 1}]}',
            "area_code",
            "unknown area code",
            query="mode=partial",
        ),
        # --- DHIS2 JSON ------------------------------------------------------------------------
        _dhis2("dhis2_bad_json", b'{"dataValues": [', None, "not valid JSON"),
        _dhis2("dhis2_a_list", b"[]", None, "dataValues"),
        _dhis2("dhis2_values_not_a_list", b'{"dataValues": 3}', None, "dataValues"),
        _dhis2("dhis2_item_not_an_object", ["x"], None, "not an object"),
        _dhis2("dhis2_element_unknown", [_dv(dataElement="no_such")], "dataElement", "no_such"),
        _dhis2("dhis2_element_missing", [_dv(dataElement=_DROP)], "dataElement", ""),
        _dhis2("dhis2_orgunit_unknown", [_dv(orgUnit="999999999999")], "orgUnit", "999999999999"),
        _dhis2(
            "dhis2_orgunit_outside",
            [_dv(orgUnit=VB)],
            "orgUnit",
            "unknown area code",
            client="town",
        ),
        _dhis2("dhis2_period_impossible", [_dv(period="20230230")], "period", "20230230"),
        _dhis2("dhis2_period_weekly", [_dv(period="2023W1")], "period", "daily"),
        _dhis2("dhis2_period_garbage", [_dv(period="yesterday")], "period", "yesterday"),
        _dhis2(
            "dhis2_period_signed_off", [_dv(period=LOCKED.strftime("%Y%m%d"))], "period", "locked"
        ),
        _dhis2("dhis2_value_text", [_dv(value="many")], "value", "not a number"),
        _dhis2("dhis2_value_nan", [_dv(value="NaN")], "value", "not a finite number"),
        _dhis2("dhis2_value_huge", [_dv(value="1e20")], "value", "largest plausible value"),
        _dhis2("dhis2_duplicate", [_dv(), _dv(value="2")], "dataElement", "duplicate of row 1"),
        _dhis2("dhis2_id_scheme", [], "orgUnitIdScheme", "UID or CODE", query="idScheme=NAME"),
        _dhis2(
            "dhis2_wrong_content_type",
            b"a,b",
            None,
            "application/json",
            status=415,
            content_type="text/plain",
        ),
        # --- DHIS2 CSV ----------------------------------------------------------------------
        _dhis2(
            "dhis2_csv_not_utf8",
            b"dataelement,period,orgunit\n\xff\xfe\xfa",
            None,
            "not UTF-8",
            content_type="application/csv",
        ),
        _dhis2(
            "dhis2_csv_value_text",
            f"dataelement,period,orgunit,catoptcombo,attroptcombo,value\n"
            f"deaths,{DAY:%Y%m%d},{V1},,,lots\n".encode(),
            "value",
            "not a number",
            content_type="application/csv",
        ),
        _dhis2(
            "dhis2_csv_short_row",
            f"dataelement,period,orgunit\ndeaths,{DAY:%Y%m%d}\n".encode(),
            "orgUnit",
            "",
            content_type="application/csv",
        ),
        # --- DHIS2 ADX XML ------------------------------------------------------------------
        _dhis2(
            "adx_malformed",
            _adx("<group"),
            None,
            "not well-formed",
            content_type="application/adx+xml",
        ),
        _dhis2(
            "adx_entities",
            b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
            b'<adx xmlns="urn:ihe:qrph:adx:2015"/>',
            None,
            "entity",
            content_type="application/adx+xml",
        ),
        _dhis2(
            "adx_wrong_root",
            b'<?xml version="1.0"?><dataValueSet/>',
            None,
            "root element",
            content_type="application/adx+xml",
        ),
        _dhis2(
            "adx_categories",
            _adx(
                f'<group orgUnit="{V1}" period="{day}/P1D"><dataValue dataElement="deaths" '
                f'value="1" SEX="F"/></group>'
            ),
            None,
            "categor",
            content_type="application/adx+xml",
        ),
        _dhis2(
            "adx_value_text",
            _adx(
                f'<group orgUnit="{V1}" period="{day}/P1D"><dataValue dataElement="deaths" '
                f'value="x"/></group>'
            ),
            "value",
            "not a number",
            content_type="application/adx+xml",
        ),
        _dhis2(
            "adx_period_weekly",
            _adx(
                f'<group orgUnit="{V1}" period="2023-01-02/P7D"><dataValue dataElement="deaths" '
                f'value="1"/></group>'
            ),
            "period",
            "daily",
            content_type="application/adx+xml",
        ),
    ]
    return c


CASES = _cases()


def test_the_corpus_is_big_and_named_once() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert sum(c.url == BULK for c in CASES) >= 40 and sum(c.url == DHIS2 for c in CASES) >= 20


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_payload_is_refused_with_the_field_and_reason(
    case: Case, world: h4world.World, settings: Any
) -> None:
    settings.RURALWATCH_INTAKE_RATE_PER_MINUTE = 1_000_000
    client = world.county if case.client == "county" else world.town_a
    before = _state()
    url = case.url + (f"?{case.query}" if case.query else "")
    r = client.post(url, data=case.body, content_type=case.content_type, HTTP_ACCEPT_LANGUAGE="en")
    text = r.content.decode("utf-8", "replace")
    assert r.status_code == case.status, text[:600]
    assert "Traceback" not in text and 'File "' not in text
    body = r.json()
    named = _named(body)
    wanted = [(f, m) for f, m in named if f == case.field and case.reason.lower() in m.lower()]
    assert wanted, f"no {case.field!r} / {case.reason!r} among {named[:8]}"
    assert _state() == before, "a refused payload wrote something"


def _named(body: Any) -> list[tuple[str | None, str]]:
    """(field, reason) pairs of an answer: the bulk summary's conflicts, DHIS2's conflicts, a
    request's ``detail`` (text, or ninja's list of refused parameters)."""
    out: list[tuple[str | None, str]] = []
    if isinstance(body, dict):
        for c in body.get("conflicts") or []:
            if "reason" in c:
                out.append((c.get("field"), str(c["reason"])))
            else:
                out.append((c.get("property"), str(c.get("value", ""))))
        summary = body.get("importSummary") or body.get("response")
        if isinstance(summary, dict) and summary:
            out += _named(summary)
        if isinstance(body.get("detail"), str):
            out.append((None, body["detail"]))
        for d in body.get("errors") or []:  # refused parameters: the last of loc names it
            loc = d.get("loc") or []
            out.append((str(loc[-1]) if loc else None, str(d.get("msg", ""))))
        if isinstance(body.get("description"), str):
            out.append((None, body["description"]))
    return out
