"""The village daily form (村级日报): what a village's form holds, and storing one sending.

A sending carries an idempotency key made on the phone when the report was filled in; the
key is unique in :class:`~ruralwatch.reporting.models.FormReport`, so a retried or doubled
sending (an offline queue replayed, two taps, a network that dropped the answer) stores one
report. Every assigned indicator is answered with a number or with "not known" (``None``):
a zero is a value, not known stores no value. A day already reported is changed only with a
reason, and every changed value is kept in :class:`~ruralwatch.reporting.models.ValueChange`.
A day approved by its township or county is refused, saying by whom and how to unlock it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.areas.models import Area, Level
from ruralwatch.core import bulk
from ruralwatch.core.problems import ImportRejected, Problem
from ruralwatch.reporting.models import (
    FormReport,
    Indicator,
    IndicatorAssignment,
    ReportValue,
    RollupPending,
    Submission,
    ValidationPending,
    ValueChange,
)
from ruralwatch.reporting.services import EARLIEST_REPORT_DATE
from ruralwatch.reporting.signoff import Refused, lock_of, lock_reason

KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")


def form_name() -> str:
    """How problems of the form name their "file"."""
    return _("daily report form")


def form_indicators(village: Area) -> list[Indicator]:
    """The indicators on ``village``'s form: assigned to every village or to an area on the
    village's path, and collected at the village level; in the indicators' order
    (``Indicator.Meta.ordering``). Written in SQL: every sending asks it, and compiling the
    ORM's version cost ten times the query."""
    ancestors = [c for c in (village.l1, village.l2, village.l3, village.l4, village.l5) if c]
    on_path = f"OR a.area_id IN ({', '.join(['%s'] * len(ancestors))})" if ancestors else ""
    sql = (
        f"SELECT i.* FROM {Indicator._meta.db_table} i WHERE i.level = %s AND i.code IN "
        f"(SELECT a.indicator_id FROM {IndicatorAssignment._meta.db_table} a "
        f"WHERE a.area_id IS NULL {on_path}) ORDER BY i.sort_order, i.code"
    )
    return list(Indicator.objects.raw(sql, [int(Level.VILLAGE), *ancestors]))


@dataclass
class FieldState:
    indicator: Indicator
    value: float | None
    yesterday: float | None
    unknown: bool = False


@dataclass
class DayForm:
    village: Area
    date: dt.date
    fields: list[FieldState]
    reported: bool
    lock: str | None
    reporter: str = ""
    comment: str = ""
    corrections: list[ValueChange] = field(default_factory=list)


def day_form(village: Area, day: dt.date) -> DayForm:
    """What the form shows for ``village`` and ``day``: today's stored values (or "not
    known" as last sent), yesterday's values, whether the day is reported or locked, and its
    corrections. A handful of queries whatever the number of indicators."""
    indicators = form_indicators(village)
    codes = [i.code for i in indicators]
    yesterday = day - dt.timedelta(days=1)
    stored = {
        (d, c): v
        for d, c, v in ReportValue.objects.filter(
            area_id=village.code, date__in=[day, yesterday], indicator_id__in=codes
        ).values_list("date", "indicator_id", "value")
    }
    last = (
        FormReport.objects.filter(area_id=village.code, date=day).order_by("-received_at").first()
    )
    unknown = {c for c, v in (last.values if last else {}).items() if v is None}
    fields = [
        FieldState(
            indicator=i,
            value=stored.get((day, i.code)),
            yesterday=stored.get((yesterday, i.code)),
            unknown=i.code in unknown and (day, i.code) not in stored,
        )
        for i in indicators
    ]
    approval = lock_of(village, day)
    return DayForm(
        village=village,
        date=day,
        fields=fields,
        reported=Submission.objects.filter(area_id=village.code, date=day).exists(),
        lock=lock_reason(approval) if approval else None,
        reporter=last.reporter if last else "",
        comment=last.comment if last else "",
        corrections=list(
            ValueChange.objects.filter(area_id=village.code, date=day)
            .select_related("indicator", "batch", "user")
            .order_by("-at", "-id")[:50]
        ),
    )


@dataclass
class Outcome:
    """What a sending did: ``stored`` (new), or ``duplicate`` (its key was already stored)."""

    status: str
    form_id: int
    changed: int = 0
    received_at: dt.datetime | None = None


def _parse_value(raw: Any, ind: Indicator, file: str) -> tuple[float | None, Problem | None]:
    if raw is None:
        return None, None
    if isinstance(raw, bool):
        return None, Problem(file, None, ind.code, _("not a number: %(v)s") % {"v": raw})
    if isinstance(raw, str):
        text = raw.strip().replace(",", "")
        if text == "":
            return None, Problem(
                file,
                None,
                ind.code,
                _("empty: enter a number (0 if none) or tick 'not known'"),
            )
        try:
            number = float(text)
        except ValueError:
            return None, Problem(file, None, ind.code, _("not a number: %(v)s") % {"v": raw})
    elif isinstance(raw, int | float):
        number = float(raw)
    else:
        return None, Problem(file, None, ind.code, _("not a number: %(v)s") % {"v": raw})
    if not math.isfinite(number):
        return None, Problem(file, None, ind.code, _("not a finite number: %(v)s") % {"v": raw})
    if number < 0:
        return None, Problem(file, None, ind.code, _("negative count %(v)s") % {"v": raw})
    if number > ind.max_value:
        return None, Problem(
            file,
            None,
            ind.code,
            _("value %(v)s is above %(max)g, the largest plausible value of this indicator")
            % {"v": raw, "max": ind.max_value},
        )
    if ind.is_count and number != round(number):
        return None, Problem(
            file, None, ind.code, _("a count must be a whole number, got %(v)s") % {"v": raw}
        )
    return number, None


def check_values(
    village: Area, day: dt.date, values: dict[str, Any], *, now: dt.datetime
) -> dict[str, float | None]:
    """The sent values as numbers (``None``: not known), or :class:`ImportRejected` naming
    every indicator that is wrong and why. Every indicator of the form must be answered."""
    file = form_name()
    problems: list[Problem] = []
    if village.level != Level.VILLAGE:
        problems.append(Problem(file, None, "area", _("only a village files the daily form")))
    today = timezone.localtime(now).date()
    if day > today:
        problems.append(
            Problem(file, None, "date", _("date %(d)s is in the future") % {"d": day.isoformat()})
        )
    if day < EARLIEST_REPORT_DATE:
        problems.append(
            Problem(
                file,
                None,
                "date",
                _("date %(d)s is before %(first)s, the earliest report date accepted")
                % {"d": day.isoformat(), "first": EARLIEST_REPORT_DATE.isoformat()},
            )
        )
    if (village.valid_from and day < village.valid_from) or (
        village.valid_to and day > village.valid_to
    ):
        problems.append(
            Problem(
                file,
                None,
                "date",
                _("%(area)s does not exist on %(d)s")
                % {"area": village.name, "d": day.isoformat()},
            )
        )
    indicators = {i.code: i for i in form_indicators(village)}
    out: dict[str, float | None] = {}
    for code in values:
        if code not in indicators:
            problems.append(
                Problem(file, None, str(code)[:40], _("not an indicator of this village's form"))
            )
    for code, ind in indicators.items():
        if code not in values:
            problems.append(
                Problem(
                    file,
                    None,
                    code,
                    _("no answer: enter a number (0 if none) or tick 'not known'"),
                )
            )
            continue
        number, problem = _parse_value(values[code], ind, file)
        if problem is not None:
            problems.append(problem)
        else:
            out[code] = number
    if problems:
        raise ImportRejected(problems)
    return out


def _delay_hours(day: dt.date, at: dt.datetime) -> float:
    midnight = timezone.make_aware(dt.datetime.combine(day, dt.time()))
    return (at - midnight).total_seconds() / 3600.0


def submit_day(
    village: Area,
    day: dt.date,
    values: dict[str, Any],
    *,
    key: str,
    user: Any = None,
    reporter: str = "",
    comment: str = "",
    reason: str = "",
    now: dt.datetime | None = None,
) -> Outcome:
    """Store one sending of ``village``'s form for ``day``, once per idempotency ``key``.

    Refuses (:class:`~ruralwatch.reporting.signoff.Refused`) a locked day and a change of a
    reported day without a reason; rejects (:class:`ImportRejected`) bad values. Nothing is
    written unless the whole sending is stored.
    """
    now = now or timezone.now()
    if not KEY.fullmatch(key or ""):
        raise ImportRejected(
            [
                Problem(
                    form_name(),
                    None,
                    "key",
                    _("the idempotency key must be 8 to 64 letters, digits, '-' or '_'"),
                )
            ]
        )
    numbers = check_values(village, day, values, now=now)
    reporter = (reporter or "").strip()[:64]
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    form = FormReport(
        key=key,
        area_id=village.code,
        date=day,
        user_id=user_id,
        reporter=reporter,
        comment=(comment or "").strip()[:500],
        values=numbers,
        received_at=now,
        reason=(reason or "").strip()[:200],
    )
    try:
        with transaction.atomic():
            changed = _store(village, day, numbers, form, user_id, reporter, now)
        return Outcome("stored", form.pk, changed, now)
    except IntegrityError:  # the key is stored already (a retry, or the twin sent at once)
        pass
    except Refused:
        # A retried sending stored before the day was locked or corrected is answered as
        # stored, not refused: the phone must drop it from its queue.
        found = FormReport.objects.filter(key=key).values_list("id", "received_at").first()
        if found is None:
            raise
        return Outcome("duplicate", found[0], received_at=found[1])
    found = FormReport.objects.filter(key=key).values_list("id", "received_at").first()
    if found is None:  # pragma: no cover - the conflicting row vanished (rolled back)
        raise Refused(_("The report could not be stored; send it again."))
    return Outcome("duplicate", found[0], received_at=found[1])


def _store(
    village: Area,
    day: dt.date,
    numbers: dict[str, float | None],
    form: FormReport,
    user_id: int | None,
    reporter: str,
    now: dt.datetime,
) -> int:
    """The writes of one sending, inside the caller's transaction; returns values changed."""
    # One sending per village day at a time: the submission row is the lock (on PostgreSQL a
    # row lock; SQLite serialises writers anyway).
    table = Submission._meta.db_table
    ops = connection.ops
    created = bulk.execute(
        f"INSERT INTO {table} (area_id, date, submitted_at, delay_hours, reporter) "
        f"VALUES (%s, %s, %s, %s, %s) ON CONFLICT (area_id, date) DO NOTHING",
        [
            village.code,
            ops.adapt_datefield_value(day),
            ops.adapt_datetimefield_value(now),
            _delay_hours(day, now),
            reporter,
        ],
    )
    existed = not created
    # The reads and writes below are SQL of their own: each is a few hundred microseconds of
    # the database's time, and the ORM spent more than that compiling each of them.
    where_day = [village.code, ops.adapt_datefield_value(day)]
    if existed and connection.features.has_select_for_update:
        bulk.execute(
            f"SELECT 1 FROM {table} WHERE area_id = %s AND date = %s FOR UPDATE", where_day
        )
    approval = lock_of(village, day)
    if approval is not None:
        raise Refused(lock_reason(approval))
    values_table = ReportValue._meta.db_table
    old: dict[str, float] = {}
    if numbers:
        old = dict(
            bulk.rows(
                f"SELECT indicator_id, value FROM {values_table} WHERE area_id = %s "
                f"AND date = %s AND indicator_id IN ({', '.join(['%s'] * len(numbers))})",
                [*where_day, *numbers],
            )
        )
    changes = {c: v for c, v in numbers.items() if old.get(c) != v}
    # A day without a submission before this one has no earlier sending of the form.
    earlier = existed and bool(
        bulk.rows(
            f"SELECT 1 FROM {FormReport._meta.db_table} WHERE area_id = %s AND date = %s LIMIT 1",
            where_day,
        )
    )
    # A correction changes what the day already said: a stored value, or a previous sending
    # of the form (its "not known" included). Adding a value an import left out is not one.
    corrections = [c for c in changes if earlier or c in old]
    if corrections and not form.reason:
        raise Refused(
            _(
                "%(area)s has already reported %(date)s: say why the values change "
                "(the reason is kept with the correction)."
            )
            % {"area": village.name, "date": day.isoformat()}
        )
    gone = [c for c, v in changes.items() if v is None and c in old]
    form.changed = sum(1 for v in changes.values() if v is not None) + len(gone)
    form.save(force_insert=True)  # a key stored meanwhile fails here: nothing is written
    put = [(c, v) for c, v in changes.items() if v is not None]
    if put:
        at = ops.adapt_datetimefield_value(now)
        bulk.execute(
            f"INSERT INTO {values_table} "
            "(area_id, date, indicator_id, value, reporter, submitted_at, batch_id) VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s, %s, NULL)"] * len(put))
            + " ON CONFLICT (area_id, date, indicator_id) DO UPDATE SET value = EXCLUDED.value, "
            "reporter = EXCLUDED.reporter, submitted_at = EXCLUDED.submitted_at, batch_id = NULL",
            [x for c, v in put for x in (*where_day, c, v, reporter, at)],
        )
    if gone:
        ReportValue.objects.filter(area_id=village.code, date=day, indicator_id__in=gone).delete()
    if corrections:
        ValueChange.objects.bulk_create(
            [
                ValueChange(
                    area_id=village.code,
                    date=day,
                    indicator_id=c,
                    old_value=old.get(c),
                    new_value=changes[c],
                    user_id=user_id,
                    reporter=reporter,
                    at=now,
                    reason=form.reason,
                    form=form,
                )
                for c in corrections
            ]
        )
    n = form.changed
    # Every village's sending marks the same date: insert only while it is not yet marked,
    # since concurrent inserts of one key wait for each other's commit on PostgreSQL.
    # (reporting.services.mark_changed, one date at a time)
    if n or not existed:
        for model in (RollupPending, ValidationPending):
            pending = model._meta.db_table
            bulk.execute(
                f"INSERT INTO {pending} (date) SELECT %s WHERE NOT EXISTS "
                f"(SELECT 1 FROM {pending} WHERE date = %s) ON CONFLICT DO NOTHING",
                [where_day[1], where_day[1]],
            )
    return n
