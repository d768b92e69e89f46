"""Writes of the intake app: values from systems (bulk JSON, DHIS2), validation-rule runs,
outlier screening and the rate-limit windows.

Values go through the report store's own checks (``reporting.services``: codes, dates, counts,
levels, duplicates) and its staging upsert, then the validation rules; the import is
all-or-nothing unless the caller asks for the partial mode, where refused rows are listed
and the rest is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.areas.models import Area
from ruralwatch.core import bulk
from ruralwatch.core.problems import ImportRejected, Problem
from ruralwatch.core.tabular import ROW, problems_where
from ruralwatch.intake import outliers as screen
from ruralwatch.intake import rules as engine
from ruralwatch.intake.models import (
    RateWindow,
    Severity,
    ValidationRule,
    Violation,
)
from ruralwatch.reporting import services as reporting
from ruralwatch.reporting.models import ImportBatch, Indicator, ReportValue
from ruralwatch.reporting.signoff import locked_problems

ALL_OR_NOTHING = "all_or_nothing"
PARTIAL = "partial"
MODES = (ALL_OR_NOTHING, PARTIAL)
#: Most values one bulk request may carry.
MAX_VALUES = 10_000
FIELDS = ("area", "date", "indicator", "value", "reporter", "submitted_at")


@dataclass
class IntakeSummary:
    """What an intake did. ``conflicts`` are the refused rows (with reasons); ``violations``
    the warning rules that failed on the stored values (accepted, to be checked)."""

    source: str
    mode: str
    received: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0
    conflicts: list[Problem] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def status(self) -> str:
        if self.conflicts and self.imported + self.updated + self.unchanged == 0:
            return "rejected"
        return "partial" if self.conflicts else "success"


class _DryRun(Exception):
    """Raised inside the transaction of a dry run (or of an import left with nothing to
    store) to roll it back."""


# --- rules -------------------------------------------------------------------------------------


def indicator_codes() -> list[str]:
    return list(Indicator.objects.order_by("code").values_list("code", flat=True))


def build_rule(row: ValidationRule, known: Sequence[str]) -> engine.Rule:
    return engine.make_rule(
        row.code,
        row.left,
        row.operator,
        row.right,
        known,
        left_missing=row.left_missing,
        right_missing=row.right_missing,
        severity=row.severity,
    )


def active_rules(level: int | None = 5) -> list[engine.Rule]:
    """The active rules (of one level), parsed. A rule that no longer parses (an indicator
    was removed) is left out rather than stopping every import."""
    known = indicator_codes()
    rows = ValidationRule.objects.filter(active=True)
    if level is not None:
        rows = rows.filter(level=level)
    out = []
    for row in rows.order_by("code"):
        try:
            out.append(build_rule(row, known))
        except engine.ExpressionError:
            continue
    return out


def save_rule(**fields: Any) -> ValidationRule:
    """Create or replace a rule after checking both sides (``ValidationError`` naming the
    side and the reason otherwise)."""
    from django.core.exceptions import ValidationError

    try:
        engine.make_rule(
            fields["code"],
            fields["left"],
            fields["operator"],
            fields["right"],
            indicator_codes(),
            left_missing=fields.get("left_missing", "SKIP_IF_ALL_VALUES_MISSING"),
            right_missing=fields.get("right_missing", "SKIP_IF_ALL_VALUES_MISSING"),
        )
    except engine.ExpressionError as exc:
        raise ValidationError(str(exc)) from None
    rule, _created = ValidationRule.objects.update_or_create(code=fields["code"], defaults=fields)
    return rule


def _wide(long: pl.DataFrame) -> pl.DataFrame:
    """area_code, date, indicator, value (long) → one row per area and date, with population."""
    if long.is_empty():
        return pl.DataFrame(schema={"area_code": pl.String, "date": pl.Date})
    wide = long.pivot(on="indicator", index=["area_code", "date"], values="value")
    codes = wide["area_code"].unique().to_list()
    pops: dict[str, int | None] = {}
    for start in range(0, len(codes), 900):
        pops.update(
            Area.objects.filter(code__in=codes[start : start + 900]).values_list(
                "code", "population"
            )
        )
    return wide.with_columns(
        pl.col("area_code")
        .replace_strict(pops, default=None, return_dtype=pl.Float64)
        .alias(engine.POPULATION)
    )


def rule_message(rule: engine.Rule, left: float | None, right: float | None) -> str:
    def show(v: float | None) -> str:
        return _("missing") if v is None else f"{v:g}"

    return _("rule %(code)s fails: %(left)s = %(lv)s, %(op)s, %(right)s = %(rv)s") % {
        "code": rule.code,
        "left": rule.left.text,
        "lv": show(left),
        "op": rule.operator,
        "right": rule.right.text,
        "rv": show(right),
    }


def check_values(
    area: Area, date: dt.date, values: Mapping[str, float | None]
) -> list[dict[str, Any]]:
    """The rules a village's report for ``date`` would fail, with ``values`` (indicator →
    value, ``None`` for not known) over what is already stored: for the form, before sending.

    Each item: rule, severity, left, right, message. Values far above the village's own
    history (:func:`outlier_warnings`) come after the rules, as warnings to confirm."""
    stored: dict[str, float | None] = dict(
        ReportValue.objects.filter(area_id=area.code, date=date).values_list(
            "indicator_id", "value"
        )
    )
    stored.update(values)
    row: dict[str, Any] = {"area_code": area.code, "date": date, engine.POPULATION: area.population}
    row.update({k: (None if v is None else float(v)) for k, v in stored.items()})
    wide = pl.DataFrame([row])
    rules = active_rules(area.level)
    found = engine.evaluate(rules, wide)
    by_code = {r.code: r for r in rules}
    return [
        {
            "rule": code,
            "severity": by_code[code].severity,
            "left": left,
            "right": right,
            "message": rule_message(by_code[code], left, right),
        }
        for code, _a, _d, left, right in found.iter_rows()
    ] + outlier_warnings(area, date, values)


def outlier_warnings(
    area: Area, date: dt.date, values: Mapping[str, float | None]
) -> list[dict[str, Any]]:
    """The sent values the nightly screen would flag (the seasonal robust z against the
    village's own history, ``intake.outliers``), so that the form asks the reporter to confirm
    them before sending. Item: ``rule`` ``outlier:<indicator>``, severity warn, the value
    (left) and the village's usual level (right), and a sentence. One query."""
    from ruralwatch.core.i18n import localized

    sent = {k: float(v) for k, v in values.items() if v is not None}
    if not sent:
        return []
    prm = screen.Params(methods=("seasonal",))
    long = _stored_long(date - dt.timedelta(days=screen.HISTORY_DAYS), date, area.path)
    long = pl.concat(
        [
            long.filter(~((pl.col("date") == date) & pl.col("indicator").is_in(list(sent)))),
            pl.DataFrame(
                {
                    "area_code": [area.code] * len(sent),
                    "date": [date] * len(sent),
                    "indicator": list(sent),
                    "value": list(sent.values()),
                },
                schema=long.schema,
            ),
        ]
    )
    flags = screen.screen(long, date, date, params=prm).filter(
        pl.col("indicator").is_in(list(sent))
    )
    if flags.is_empty():
        return []
    names = {i.code: localized(i, "name") for i in Indicator.objects.filter(code__in=list(sent))}
    return [
        {
            "rule": f"outlier:{code}",
            "severity": Severity.WARN.value,
            "left": value,
            "right": round(baseline, 1),
            "message": _(
                "%(indicator)s %(value)s is far above what %(area)s usually reports (about "
                "%(usual)s): check the number before sending."
            )
            % {
                "indicator": names.get(code, code),
                "value": f"{value:g}",
                "area": area.name,
                "usual": f"{baseline:.1f}",
            },
        }
        for code, value, baseline in flags.select("indicator", "value", "baseline").iter_rows()
    ]


# --- values from systems -----------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def frame_from_items(items: Sequence[Any], source: str) -> tuple[pl.DataFrame, list[Problem]]:
    """JSON items (objects with ``area``, ``date``, ``indicator``, ``value`` and optional
    ``reporter``, ``submitted_at``) → the all-string long frame the report checks take.
    ``__row__`` is the item's index; items that are not objects or carry unknown fields are
    problems of their own."""
    problems: list[Problem] = []
    known = set(FIELDS)
    rows = [i for i, item in enumerate(items) if isinstance(item, dict)]
    objects = [items[i] for i in rows]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(Problem(source, i, None, _("not an object")))
        elif not item.keys() <= known:
            for key in [k for k in item if k not in known][:5]:
                problems.append(Problem(source, i, str(key)[:40], _("unknown field")))
    # Numbers, booleans, lists and objects all become text: a value that is not a number
    # is then refused by the report checks with the text it had.
    # Text and missing values (most cells) skip the call to _text (2 of 16 ms for 10,000
    # values).
    frame = pl.DataFrame(
        {
            ROW: pl.Series(rows, dtype=pl.Int64),
            **{
                f: pl.Series(
                    [
                        v if (v := o.get(f)) is None or v.__class__ is str else _text(v)
                        for o in objects
                    ],
                    dtype=pl.String,
                )
                for f in FIELDS
            },
        }
    )
    frame = frame.rename({"area": "area_code"}).with_columns(
        pl.col("submitted_at").str.replace(r"Z$", "+00:00"),
        pl.col("value").str.slice(0, 60),
    )
    return frame, problems


def _checked(
    frame: pl.DataFrame, source: str, now: dt.datetime, allowed: QuerySet[Area] | None
) -> tuple[pl.DataFrame, list[Problem]]:
    """The report store's own checks, plus the caller's jurisdiction (an area outside it is
    refused like an unknown one)."""
    ind = reporting._indicators()
    problems = problems_where(
        frame, pl.col("indicator").is_null(), source, "indicator", _("indicator is empty")
    )
    frame = frame.with_columns(
        pl.col("indicator")
        .replace_strict({c: c for c in ind.level}, default=None)
        .alias("indicator_code")
    )
    if "reporter" in frame.columns and frame["reporter"].null_count() == frame.height:
        frame = frame.drop("reporter")
    if "submitted_at" in frame.columns and frame["submitted_at"].null_count() == frame.height:
        frame = frame.drop("submitted_at")
    frame, more = reporting._parse(frame, source, ind, now)
    problems += [p for p in more if not (p.column == "indicator" and frame.is_empty())]
    problems += reporting._area_problems(frame, source, ind)
    problems += locked_problems(frame, source)  # days signed off (数据审核) are locked
    if allowed is not None:
        codes = (
            frame.filter(pl.col("area_code").str.contains(r"^\d{12}$"))["area_code"]
            .unique()
            .to_list()
        )
        inside: set[str] = set()
        for start in range(0, len(codes), 900):
            inside.update(
                allowed.filter(code__in=codes[start : start + 900]).values_list("code", flat=True)
            )
        known: set[str] = set()
        for start in range(0, len(codes), 900):
            known.update(
                Area.objects.filter(code__in=codes[start : start + 900]).values_list(
                    "code", flat=True
                )
            )
        # Codes missing from the tree are already refused as unknown.
        outside = sorted(known - inside)
        problems += problems_where(
            frame,
            pl.col("area_code").is_in(outside),
            source,
            "area_code",
            pl.format(_("unknown area code {}"), pl.col("area_code")),
        )
    # "indicator is empty" and "unknown indicator" name the same cell: keep the first.
    seen: set[tuple[int | None, str | None]] = set()
    unique = []
    for p in problems:
        if p.column == "indicator" and (p.row, p.column) in seen:
            continue
        seen.add((p.row, p.column))
        unique.append(p)
    return frame, unique


def import_values(
    frame: pl.DataFrame,
    *,
    source: str,
    mode: str = ALL_OR_NOTHING,
    now: dt.datetime | None = None,
    allowed: QuerySet[Area] | None = None,
    dry_run: bool = False,
    problems: Sequence[Problem] = (),
    digest: str = "",
    user: Any = None,
) -> IntakeSummary:
    """Store report values from a long all-string frame (``__row__``, ``area_code``,
    ``date``, ``indicator``, ``value``, optional ``reporter`` and ``submitted_at``).

    All-or-nothing (``ImportRejected`` with every problem, nothing written) unless ``mode``
    is ``partial``: then refused rows are left out and listed, and the rest is stored.
    ``problems`` are the caller's own (e.g. unparsable items). Rules of severity *refuse*
    refuse the area-day's rows; *warn* rules are stored as violations and returned. A value
    that changes a stored one is kept in the correction history with ``source`` and ``user``.
    """
    if mode not in MODES:
        raise ValueError(mode)
    now = now or timezone.now()
    received = frame.height + sum(1 for p in problems if p.column is None)
    summary = IntakeSummary(source=source, mode=mode, received=received, dry_run=dry_run)
    frame, found = _checked(frame, source, now, allowed)
    conflicts = [*problems, *found]
    if conflicts and mode == ALL_OR_NOTHING:
        raise ImportRejected(conflicts)
    bad_rows = {p.row for p in conflicts}
    frame = frame.filter(~pl.col(ROW).is_in([r for r in bad_rows if r is not None]))
    stage = reporting.stage_frame(frame, now)
    try:
        if stage.is_empty():  # partial mode with every value refused: nothing to write
            raise _DryRun
        with transaction.atomic():
            bulk.import_lock("reports", ReportValue._meta.db_table)
            bulk.create_staging("stage_day", reporting.DAY_STAGE)
            # Analyzed (a few ms for its 2,000 rows): without statistics PostgreSQL joined it
            # to the values by a hash over a sequential scan of the whole table (225 ms at
            # 150,000 values, growing with the table) instead of probing the unique index.
            bulk.load_staging("stage_day", reporting.day_frame(stage))
            # One read of what the request's area-days hold: it classifies every value (new,
            # changed, unchanged) and gives the rules the day's other values.
            stored = reporting.stored_values_of_days()
            refused, violations = _rule_check(stage, stored, source)
            if refused and mode == ALL_OR_NOTHING:
                raise ImportRejected([*conflicts, *refused])
            if refused:
                rows = sorted({p.row for p in refused if p.row is not None})
                stage = stage.filter(~pl.col("row_no").is_in(rows))
                bulk.execute("DELETE FROM stage_day")
                bulk.load_staging("stage_day", reporting.day_frame(stage))
                conflicts += refused
                if stage.is_empty():
                    raise _DryRun  # no import batch for an import of nothing
            batch = ImportBatch.objects.create(source=source[:255], sha256=digest or _digest(stage))
            written = reporting.write_staged(
                stage, stored, batch.pk, source, getattr(user, "pk", None)
            )
            summary.imported, summary.updated, summary.unchanged = (
                written.imported,
                written.updated,
                written.unchanged,
            )
            reporting.upsert_day_submissions()
            batch.imported, batch.updated, batch.unchanged = (
                summary.imported,
                summary.updated,
                summary.unchanged,
            )
            batch.save(update_fields=["imported", "updated", "unchanged"])
            dates = sorted(set(stage["date"].to_list()))
            reporting.mark_changed(dt.date.fromisoformat(d) for d in dates)
            summary.violations = _store_violations(stage, violations, now)
            bulk.drop_staging("stage_day")
            if dry_run:
                raise _DryRun
    except _DryRun:
        bulk.drop_staging("stage_day")
    summary.conflicts = sorted(conflicts, key=lambda p: (p.row or 0, p.column or ""))
    summary.ignored = len({p.row for p in conflicts})
    return summary


def _digest(stage: pl.DataFrame) -> str:
    return hashlib.sha256(stage.write_csv().encode()).hexdigest()


def _combined(stage: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """The staged values over the stored ones of the same area-days (long: area_code, date,
    indicator, value)."""
    new = stage.select("area_code", "date", "indicator", "value")
    both = pl.concat([new, stored.join(new, on=["area_code", "date", "indicator"], how="anti")])
    return both.with_columns(pl.col("date").str.to_date())


def _rule_check(
    stage: pl.DataFrame, stored: pl.DataFrame, source: str
) -> tuple[list[Problem], pl.DataFrame]:
    """Refusing rules' problems (on the staged rows they name) and every violation."""
    rules = active_rules()
    if not rules or stage.is_empty():
        return [], engine.evaluate([], pl.DataFrame())
    found = engine.evaluate(rules, _wide(_combined(stage, stored)))
    by_code = {r.code: r for r in rules}
    refusing = found.filter(
        pl.col("rule").is_in([r.code for r in rules if r.severity == Severity.REFUSE])
    )
    problems: list[Problem] = []
    if not refusing.is_empty():
        staged = stage.select("row_no", "area_code", pl.col("date").str.to_date(), "indicator")
        hits = refusing.join(staged, on=["area_code", "date"])
        for code, left, right, row, indicator in hits.select(
            "rule", "left", "right", "row_no", "indicator"
        ).iter_rows():
            if indicator in by_code[code].items:
                problems.append(
                    Problem(source, row, "value", rule_message(by_code[code], left, right))
                )
    return problems, found


def _store_violations(
    stage: pl.DataFrame, found: pl.DataFrame, now: dt.datetime
) -> list[dict[str, Any]]:
    """Replace the violations of the staged area-days with what the rules found now."""
    table = Violation._meta.db_table
    bulk.execute(
        f"DELETE FROM {table} WHERE id IN (SELECT v.id "
        f"FROM stage_day k JOIN {table} v ON v.date = k.date AND v.area_id = k.area_code)"
    )
    if found.is_empty():
        return []
    kept = found.join(
        stage.select("area_code", pl.col("date").str.to_date()).unique(), on=["area_code", "date"]
    )
    Violation.objects.bulk_create(
        [
            Violation(rule_id=r, area_id=a, date=d, left_value=lv, right_value=rv, found_at=now)
            for r, a, d, lv, rv in kept.iter_rows()
        ],
        batch_size=2000,
    )
    return [
        {"rule": r, "area": a, "date": d.isoformat(), "left": lv, "right": rv}
        for r, a, d, lv, rv in kept.iter_rows()
    ]


def _stored_long(start: dt.date, end: dt.date, path: str = "/") -> pl.DataFrame:
    value, area = ReportValue._meta.db_table, Area._meta.db_table
    frame = bulk.fetch_frame(
        f"SELECT v.area_id, CAST(v.date AS TEXT), v.indicator_id, v.value FROM {value} v "
        f"JOIN {area} a ON a.code = v.area_id "
        f"WHERE v.date BETWEEN %s AND %s AND a.path LIKE %s",
        [start.isoformat(), end.isoformat(), path + "%"],
        schema={
            "area_code": pl.String,
            "date": pl.String,
            "indicator": pl.String,
            "value": pl.Float64,
        },
    )
    frame.columns = ["area_code", "date", "indicator", "value"]
    return frame.with_columns(pl.col("date").cast(pl.String).str.slice(0, 10).str.to_date())


# --- rate limits -------------------------------------------------------------------------------


def rate_limit() -> int:
    """Requests per minute per token (``RURALWATCH_INTAKE_RATE_PER_MINUTE``)."""
    return int(getattr(settings, "RURALWATCH_INTAKE_RATE_PER_MINUTE", 120))


def take_request(key: str, *, now: float | None = None, limit: int | None = None) -> int:
    """Count one request of ``key`` in the current minute; 0 if allowed, else the seconds
    until the next minute (the ``Retry-After``). One upsert, safe under concurrency."""
    now = time.time() if now is None else now
    limit = rate_limit() if limit is None else limit
    window = int(now // 60)
    table = RateWindow._meta.db_table
    with transaction.atomic():
        bulk.execute(
            f"INSERT INTO {table} (caller, minute, requests) VALUES (%s, %s, 1) "
            f"ON CONFLICT (caller, minute) DO UPDATE SET requests = {table}.requests + 1",
            [key[:80], window],
        )
        used = bulk.scalar(
            f"SELECT requests FROM {table} WHERE caller = %s AND minute = %s", [key[:80], window]
        )
        if window % 10 == 0:
            bulk.execute(f"DELETE FROM {table} WHERE minute < %s", [window - 10])
    if used <= limit:
        return 0
    return max(1, int((window + 1) * 60 - now + 0.999))


def unique_codes(values: Iterable[str]) -> list[str]:
    return sorted(set(values))
