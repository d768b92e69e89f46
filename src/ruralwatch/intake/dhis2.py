"""DHIS2 ``dataValueSets`` exchange: JSON, CSV and ADX XML in and out, DHIS2 periods, id
schemes (CODE, or UID through :class:`~ruralwatch.intake.models.IdMapping` rows) and an
``importSummary`` shaped like DHIS2's.

RuralWatch stores daily village values. A value for a daily period (``yyyyMMdd``, ADX
``YYYY-MM-DD/P1D``) is stored; one for a weekly (``yyyyWn``) or monthly (``yyyyMM``) period
is refused with its reason, as DHIS2 refuses a period of another type than its data set's.
On export a weekly or monthly ``period`` selects the days it spans.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.areas.models import Area
from ruralwatch.core import bulk
from ruralwatch.core.problems import ImportRejected, Problem
from ruralwatch.core.tabular import ROW
from ruralwatch.intake import selectors, services
from ruralwatch.intake.models import MappingKind
from ruralwatch.reporting.models import ReportValue

ADX_NS = "urn:ihe:qrph:adx:2015"
SCHEMES = ("UID", "CODE")
#: DHIS2's CSV columns, in order (the first row is a header unless firstRowIsHeader=false).
CSV_COLUMNS = (
    "dataElement",
    "period",
    "orgUnit",
    "categoryOptionCombo",
    "attributeOptionCombo",
    "value",
    "storedBy",
    "lastUpdated",
    "comment",
    "followup",
    "deleted",
)
#: Our problem columns → DHIS2's property names in conflicts.
PROPERTY = {"area_code": "orgUnit", "date": "period", "indicator": "dataElement", "value": "value"}
_DAILY = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_WEEKLY = re.compile(r"^(\d{4})W(\d{1,2})$")
_MONTHLY = re.compile(r"^(\d{4})(\d{2})$")
_ADX = re.compile(r"^(\d{4}-\d{2}-\d{2})/P(\d+)([DWM])$")


class PeriodError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date
    kind: str  # "daily" | "weekly" | "monthly"


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def parse_period(text: str) -> Period:
    """A DHIS2 period (``yyyyMMdd``, ``yyyyWn``, ``yyyyMM``) or an ADX one
    (``YYYY-MM-DD/P1D``, ``/P7D`` or ``/P1W`` from a Monday, ``/P1M`` from the 1st)."""
    text = (text or "").strip()
    try:
        if m := _DAILY.match(text):
            day = dt.date(int(m[1]), int(m[2]), int(m[3]))
            return Period(day, day, "daily")
        if m := _WEEKLY.match(text):
            monday = dt.date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return Period(monday, monday + dt.timedelta(days=6), "weekly")
        if m := _MONTHLY.match(text):
            year, month = int(m[1]), int(m[2])
            return Period(dt.date(year, month, 1), _month_end(year, month), "monthly")
        if m := _ADX.match(text):
            start, n, unit = dt.date.fromisoformat(m[1]), int(m[2]), m[3]
            if unit == "D" and n == 1:
                return Period(start, start, "daily")
            if ((unit == "D" and n == 7) or (unit == "W" and n == 1)) and start.isoweekday() == 1:
                return Period(start, start + dt.timedelta(days=6), "weekly")
            if unit == "M" and n == 1 and start.day == 1:
                return Period(start, _month_end(start.year, start.month), "monthly")
    except ValueError:
        pass
    raise PeriodError(_("not a period: %(p)s (use yyyyMMdd, yyyyWn or yyyyMM)") % {"p": text[:40]})


def format_period(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


# --- parsing -------------------------------------------------------------------------------------


@dataclass
class Parsed:
    """The data values of a payload as rows of DHIS2 fields (strings), and the envelope."""

    rows: list[dict[str, str | None]] = field(default_factory=list)
    data_set: str | None = None
    #: Id schemes the payload itself names (DHIS2's data value set attributes).
    schemes: dict[str, str] = field(default_factory=dict)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_json(body: bytes) -> Parsed:
    import json

    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise _payload_error(_("The request body is not valid JSON.")) from None
    if not isinstance(data, dict) or not isinstance(data.get("dataValues", []), list):
        raise _payload_error(_('Send a data value set: {"dataValues": [...]}.'))
    head = {k: _text(data.get(k)) for k in ("period", "orgUnit", "attributeOptionCombo")}
    out = Parsed(data_set=_text(data.get("dataSet")))
    for key in ("idScheme", "dataElementIdScheme", "orgUnitIdScheme", "dataSetIdScheme"):
        if isinstance(data.get(key), str):
            out.schemes[key] = data[key]
    for item in data.get("dataValues", []):
        if not isinstance(item, dict):
            out.rows.append({"__bad__": _("not an object")})
            continue
        row = {k: _text(v) for k, v in item.items()}
        for key, value in head.items():
            if value is not None and not row.get(key):
                row[key] = value
        out.rows.append(row)
    return out


def parse_csv(body: bytes, *, first_row_is_header: bool = True) -> Parsed:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _payload_error(_("The CSV is not UTF-8 text.")) from None
    reader = csv.reader(io.StringIO(text))
    out = Parsed()
    for i, cells in enumerate(reader):
        if i == 0 and first_row_is_header:
            continue
        if not any(c.strip() for c in cells):
            continue
        out.rows.append(
            {
                name: (cells[j] if j < len(cells) and cells[j] != "" else None)
                for j, name in enumerate(CSV_COLUMNS)
            }
        )
    return out


def parse_adx(body: bytes) -> Parsed:
    head = body[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in body.upper():
        raise _payload_error(_("ADX: document type and entity declarations are not accepted."))
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise _payload_error(
            _("ADX: not well-formed XML (%(e)s).") % {"e": str(exc)[:80]}
        ) from None
    if root.tag != f"{{{ADX_NS}}}adx":
        raise _payload_error(
            _('ADX: the root element must be <adx xmlns="%(ns)s">.') % {"ns": ADX_NS}
        )
    out = Parsed()
    group_attrs = {"orgUnit", "period", "dataSet", "completeDate", "attributeOptionCombo"}
    value_attrs = {"dataElement", "value", "comment", "categoryOptionCombo"}
    for group in root.findall(f"{{{ADX_NS}}}group"):
        extra_g = sorted(set(group.attrib) - group_attrs)
        for dv in group.findall(f"{{{ADX_NS}}}dataValue"):
            row: dict[str, str | None] = {
                "orgUnit": group.get("orgUnit"),
                "period": group.get("period"),
                "dataElement": dv.get("dataElement"),
                "value": dv.get("value"),
                "comment": dv.get("comment"),
                "dataSet": group.get("dataSet"),
            }
            extra = extra_g + sorted(set(dv.attrib) - value_attrs)
            if extra:
                row["__bad__"] = _(
                    "category disaggregation %(a)s is not supported: RuralWatch values have "
                    "no categories"
                ) % {"a": ", ".join(extra)[:80]}
            out.rows.append(row)
    return out


def _payload_error(reason: str) -> ImportRejected:
    return ImportRejected([Problem("dataValueSet", None, None, reason)])


# --- import --------------------------------------------------------------------------------------


@dataclass
class Options:
    id_scheme: str = "UID"
    data_element_id_scheme: str | None = None
    org_unit_id_scheme: str | None = None
    data_set_id_scheme: str | None = None
    dry_run: bool = False
    atomic_mode: str = "ALL"
    import_strategy: str = "CREATE_AND_UPDATE"

    def scheme(self, kind: str) -> str:
        own = {
            "dataElement": self.data_element_id_scheme,
            "orgUnit": self.org_unit_id_scheme,
            "dataSet": self.data_set_id_scheme,
        }[kind]
        return (own or self.id_scheme).upper()

    def as_dict(self) -> dict[str, Any]:
        return {
            "idSchemes": {
                "idScheme": self.id_scheme.upper(),
                "dataElementIdScheme": self.scheme("dataElement"),
                "orgUnitIdScheme": self.scheme("orgUnit"),
                "dataSetIdScheme": self.scheme("dataSet"),
            },
            "dryRun": self.dry_run,
            "async": False,
            "importStrategy": self.import_strategy,
            "atomicMode": self.atomic_mode,
        }


def _resolve(kind: str, scheme: str, ids: Sequence[str | None]) -> dict[str, str]:
    """identifier → our code, for the identifiers that resolve."""
    present = [i for i in ids if i]
    if scheme == "CODE":
        return {i: i for i in present}
    return selectors.uid_to_code(kind, present)


def _conflict(problem: Problem, rows: list[dict[str, str | None]]) -> dict[str, Any]:
    prop = PROPERTY.get(problem.column or "", problem.column)
    obj = None
    if problem.row is not None and 0 <= problem.row < len(rows) and prop:
        obj = rows[problem.row].get(prop)
    return {
        "object": obj if obj is not None else "",
        "value": problem.reason,
        "property": prop,
        "indexes": [problem.row] if problem.row is not None else [],
    }


def import_data_values(
    parsed: Parsed,
    options: Options,
    *,
    allowed: QuerySet[Area] | None = None,
    now: dt.datetime | None = None,
    user: Any = None,
) -> tuple[int, dict[str, Any]]:
    """Import parsed data values; the HTTP status and DHIS2's ``importSummary``. Changed
    values are kept in the correction history under ``user``."""
    now = now or timezone.now()
    rows = parsed.rows
    for key, scheme in parsed.schemes.items():
        name = {
            "idScheme": "id_scheme",
            "dataElementIdScheme": "data_element_id_scheme",
            "orgUnitIdScheme": "org_unit_id_scheme",
            "dataSetIdScheme": "data_set_id_scheme",
        }[key]
        setattr(options, name, scheme)
    problems: list[Problem] = []
    src = "dataValueSet"
    if options.import_strategy not in ("CREATE_AND_UPDATE", "CREATE_AND_UPDATES"):
        problems.append(
            Problem(src, None, "importStrategy", _("only CREATE_AND_UPDATE is supported"))
        )
    for kind in ("dataElement", "orgUnit", "dataSet"):
        if options.scheme(kind) not in SCHEMES:
            problems.append(Problem(src, None, f"{kind}IdScheme", _("use UID or CODE")))
    if problems:
        return import_summary(
            0, 0, 0, len(rows), [_conflict(p, rows) for p in problems], options, error=True
        )
    de = _resolve(
        MappingKind.DATA_ELEMENT,
        options.scheme("dataElement"),
        [r.get("dataElement") for r in rows],
    )
    ou = _resolve(MappingKind.ORG_UNIT, options.scheme("orgUnit"), [r.get("orgUnit") for r in rows])
    ds_ids = [parsed.data_set, *[r.get("dataSet") for r in rows]]
    ds = _resolve(MappingKind.DATA_SET, options.scheme("dataSet"), ds_ids)
    members: dict[str, set[str] | None] = {}
    for code in set(ds.values()):
        found = selectors.data_set_indicators(code)
        members[code] = set(found) if found is not None else None
    cols: dict[str, list[str | None]] = {
        k: [] for k in (ROW, "area_code", "date", "indicator", "value", "reporter", "submitted_at")
    }
    for i, row in enumerate(rows):
        bad = row.get("__bad__")
        if bad:
            problems.append(Problem(src, i, None, bad))
            continue
        element, unit, period = row.get("dataElement"), row.get("orgUnit"), row.get("period")
        date: str | None = None
        try:
            p = parse_period(period or "")
            if p.kind != "daily":
                problems.append(
                    Problem(
                        src,
                        i,
                        "date",
                        _("period %(p)s is %(kind)s; RuralWatch stores daily values (yyyyMMdd)")
                        % {"p": period, "kind": p.kind},
                    )
                )
                continue
            date = p.start.isoformat()
        except PeriodError as exc:
            problems.append(Problem(src, i, "date", str(exc)))
            continue
        if not element or element not in de:
            problems.append(
                Problem(
                    src,
                    i,
                    "indicator",
                    _("data element not found: %(id)s") % {"id": (element or "")[:40]},
                )
            )
            continue
        if not unit or unit not in ou:
            problems.append(
                Problem(
                    src,
                    i,
                    "area_code",
                    _("organisation unit not found: %(id)s") % {"id": (unit or "")[:40]},
                )
            )
            continue
        set_id = row.get("dataSet") or parsed.data_set
        if set_id:
            set_code = ds.get(set_id)
            if set_code is None or members.get(set_code) is None:
                problems.append(
                    Problem(
                        src, i, "dataSet", _("data set not found: %(id)s") % {"id": set_id[:40]}
                    )
                )
                continue
            if de[element] not in (members[set_code] or set()):
                problems.append(
                    Problem(
                        src,
                        i,
                        "indicator",
                        _("data element %(de)s is not in data set %(ds)s")
                        % {"de": element, "ds": set_id},
                    )
                )
                continue
        for combo in ("categoryOptionCombo", "attributeOptionCombo"):
            value = row.get(combo)
            if value and value not in ("default", "HllvX50cXC0"):
                problems.append(
                    Problem(
                        src,
                        i,
                        combo,
                        _("only the default category option combination is supported"),
                    )
                )
                break
        else:
            if (row.get("deleted") or "").lower() == "true":
                problems.append(Problem(src, i, "deleted", _("deleting values is not supported")))
                continue
            cols[ROW].append(str(i))
            cols["area_code"].append(ou[unit])
            cols["date"].append(date)
            cols["indicator"].append(de[element])
            cols["value"].append(row.get("value"))
            cols["reporter"].append(row.get("storedBy"))
            cols["submitted_at"].append(_timestamp(row.get("created") or row.get("lastUpdated")))
    frame = pl.DataFrame({k: pl.Series(v, dtype=pl.String) for k, v in cols.items()}).with_columns(
        pl.col(ROW).cast(pl.Int64)
    )
    mode = services.PARTIAL if options.atomic_mode.upper() == "NONE" else services.ALL_OR_NOTHING
    try:
        result = services.import_values(
            frame,
            source=src,
            mode=mode,
            now=now,
            allowed=allowed,
            dry_run=options.dry_run,
            problems=problems,
            user=user,
        )
    except ImportRejected as exc:
        conflicts = [_conflict(p, rows) for p in exc.problems]
        return import_summary(0, 0, 0, len(rows), conflicts, options, error=True)
    conflicts = [_conflict(p, rows) for p in result.conflicts]
    return import_summary(
        result.imported,
        result.updated + result.unchanged,
        0,
        result.ignored,
        conflicts,
        options,
        error=False,
    )


def _timestamp(text: str | None) -> str | None:
    """DHIS2's ``created`` (``2023-01-05T20:00:00.000+0800`` or without a zone: UTC) as the
    report importer's time text."""
    if not text:
        return None
    t = text.strip().replace("T", " ")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        t += " 00:00:00"
    t = re.sub(r"\.\d+", "", t)
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    if not re.search(r"[+-]\d{2}:?\d{2}$", t):
        t += "+00:00"
    return t


def import_summary(
    imported: int,
    updated: int,
    deleted: int,
    ignored: int,
    conflicts: list[dict[str, Any]],
    options: Options,
    *,
    error: bool,
) -> tuple[int, dict[str, Any]]:
    if error:
        # DHIS2 answers 409; RuralWatch answers a refused content with 422 everywhere.
        status, http = "ERROR", 422
        description = _("The import was refused; nothing was stored.")
    elif conflicts:
        status, http = "WARNING", 200
        description = _("Import done; values with conflicts were ignored.")
    else:
        status, http = "SUCCESS", 200
        description = _("Import process completed successfully")
    return http, {
        "responseType": "ImportSummary",
        "status": status,
        "description": description,
        "importOptions": options.as_dict(),
        "importCount": {
            "imported": imported,
            "updated": updated,
            "ignored": ignored,
            "deleted": deleted,
        },
        "conflicts": conflicts,
        "dataSetComplete": "false",
    }


# --- export --------------------------------------------------------------------------------------


@dataclass
class ExportQuery:
    data_sets: list[str]
    data_elements: list[str]
    periods: list[str]
    start: dt.date | None
    end: dt.date | None
    org_units: list[str]
    children: bool
    options: Options


class ExportError(ValueError):
    pass


def export_frame(query: ExportQuery, roots: list[Area]) -> pl.DataFrame:
    """The stored values the query names, in ``roots`` (areas already resolved and checked
    against the caller's scope), as dataElement, period, orgUnit, value, storedBy, created."""
    opt = query.options
    indicators: set[str] = set()
    if query.data_sets:
        ds = _resolve(MappingKind.DATA_SET, opt.scheme("dataSet"), query.data_sets)
        for ident in query.data_sets:
            found = selectors.data_set_indicators(ds.get(ident, "")) if ident in ds else None
            if found is None:
                raise ExportError(_("data set not found: %(id)s") % {"id": ident[:40]})
            indicators.update(found)
    if query.data_elements:
        de = _resolve(MappingKind.DATA_ELEMENT, opt.scheme("dataElement"), query.data_elements)
        for ident in query.data_elements:
            if ident not in de:
                raise ExportError(_("data element not found: %(id)s") % {"id": ident[:40]})
            indicators.add(de[ident])
    if not indicators:
        raise ExportError(_("give dataSet or dataElement"))
    spans: list[tuple[dt.date, dt.date]] = []
    for text in query.periods:
        try:
            p = parse_period(text)
        except PeriodError as exc:
            raise ExportError(str(exc)) from None
        spans.append((p.start, p.end))
    if query.start or query.end:
        if not (query.start and query.end):
            raise ExportError(_("give both startDate and endDate"))
        if query.start > query.end:
            raise ExportError(_("startDate is after endDate"))
        spans.append((query.start, query.end))
    if not spans:
        raise ExportError(_("give period, or startDate and endDate"))
    if not roots:
        raise ExportError(_("give orgUnit"))
    value, area = ReportValue._meta.db_table, Area._meta.db_table
    where_area = " OR ".join(
        ["a.path LIKE %s" if query.children else "a.code = %s" for _r in roots]
    )
    area_params = [r.path + "%" if query.children else r.code for r in roots]
    where_span = " OR ".join(["v.date BETWEEN %s AND %s"] * len(spans))
    span_params = [d.isoformat() for s in spans for d in s]
    inds = sorted(indicators)
    sql = (
        f"SELECT v.indicator_id, CAST(v.date AS TEXT), v.area_id, v.value, v.reporter, "
        f"CAST(v.submitted_at AS TEXT) "
        f"FROM {value} v JOIN {area} a ON a.code = v.area_id "
        f"WHERE ({where_area}) AND ({where_span}) "
        f"AND v.indicator_id IN ({', '.join(['%s'] * len(inds))}) "
        f"ORDER BY v.area_id, v.date, v.indicator_id"
    )
    schema = {
        "indicator": pl.String,
        "date": pl.String,
        "area_code": pl.String,
        "value": pl.Float64,
        "reporter": pl.String,
        "submitted_at": pl.String,
    }
    frame = bulk.fetch_frame(sql, [*area_params, *span_params, *inds], schema=schema)
    frame.columns = list(schema)
    frame = frame.with_columns(
        pl.col("date").cast(pl.String).str.slice(0, 10),
        pl.col("submitted_at").cast(pl.String),
    )
    return _to_dhis2(frame, opt)


def _to_dhis2(frame: pl.DataFrame, opt: Options) -> pl.DataFrame:
    """Our codes → the requested id scheme (an unmapped code under UID is an error)."""
    out = frame.with_columns(
        (pl.col("date").str.replace_all("-", "")).alias("period"),
        _value_text(pl.col("value")).alias("value"),
        pl.col("reporter").fill_null(""),
        _created_text(pl.col("submitted_at")).alias("created"),
    )
    for kind, col in (("dataElement", "indicator"), ("orgUnit", "area_code")):
        if opt.scheme(kind) == "UID":
            mapping = selectors.code_to_uid(kind, out[col].unique().to_list())
            missing = sorted(set(out[col].unique().to_list()) - set(mapping))
            if missing:
                raise ExportError(
                    _("no DHIS2 uid for %(kind)s %(code)s; add the mapping or use idScheme=CODE")
                    % {"kind": kind, "code": missing[0]}
                )
            out = out.with_columns(pl.col(col).replace_strict(mapping))
    return out.select(
        pl.col("indicator").alias("dataElement"),
        "period",
        pl.col("area_code").alias("orgUnit"),
        "value",
        pl.col("reporter").alias("storedBy"),
        "created",
        pl.col("created").alias("lastUpdated"),
    )


def _value_text(expr: pl.Expr) -> pl.Expr:
    """3.0 → "3", 2.5 → "2.5" (DHIS2 values are text)."""
    whole = expr == expr.round(0)
    return pl.when(whole).then(expr.cast(pl.Int64).cast(pl.String)).otherwise(expr.cast(pl.String))


def _created_text(expr: pl.Expr) -> pl.Expr:
    """Stored timestamps (SQLite: naive UTC text; PostgreSQL: with offset) as ISO 8601 UTC."""
    t = expr.str.replace(" ", "T").str.replace(r"\.\d+", "").str.replace(r"(\+00(:?00)?)$", "")
    return pl.when(expr.is_null()).then(None).otherwise(t + pl.lit("Z"))


def render_json(frame: pl.DataFrame) -> dict[str, Any]:
    return {"dataValues": frame.to_dicts()}


def render_csv(frame: pl.DataFrame) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.lower() for c in CSV_COLUMNS[:-1]])
    for de, period, ou, value, stored_by, created, _updated in frame.iter_rows():
        writer.writerow([de, period, ou, "", "", value, stored_by, created, "", "false"])
    return out.getvalue()


def render_adx(frame: pl.DataFrame, data_set: str | None) -> bytes:
    root = ET.Element("adx", {"xmlns": ADX_NS, "exported": timezone.now().isoformat()})
    for (ou, period), part in frame.group_by(["orgUnit", "period"], maintain_order=True):
        day = dt.datetime.strptime(str(period), "%Y%m%d").date()
        attrs = {"orgUnit": str(ou), "period": f"{day.isoformat()}/P1D"}
        if data_set:
            attrs["dataSet"] = data_set
        group = ET.SubElement(root, "group", attrs)
        for de, value in part.select("dataElement", "value").iter_rows():
            ET.SubElement(group, "dataValue", {"dataElement": str(de), "value": str(value)})
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
