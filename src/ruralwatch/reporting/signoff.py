"""Sign-off up the levels (数据审核): a township approves its villages' day, a county its
townships'; approved days are locked; only the level above unlocks, and every step is traced.

Who may approve or unlock is decided by the caller from the user's role (``accounts`` is not
this layer's to read); these functions check the state of the tree and the approvals, and
refuse with a sentence saying why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.areas.models import Area, Level
from ruralwatch.core import bulk
from ruralwatch.core.problems import Problem
from ruralwatch.core.tabular import problems_where
from ruralwatch.reporting.archive import archived_dates
from ruralwatch.reporting.models import ApprovalEvent, DayApproval, Submission

#: The levels whose units sign off their children's day: townships (villages) and counties
#: (townships).
SIGNING_LEVELS = (Level.COUNTY, Level.TOWNSHIP)


class Refused(Exception):
    """A write refused as a whole, with the reason shown to the user; nothing was written."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _active_villages(area: Area, day: dt.date) -> Any:
    return (
        Area.objects.filter(level=Level.VILLAGE, path__startswith=area.path)
        .exclude(valid_from__gt=day)
        .exclude(valid_to__lt=day)
    )


def lock_of(village: Area, day: dt.date) -> DayApproval | None:
    """The approval that locks ``village``'s report of ``day`` (its county's before its
    township's), or ``None``. Every sending of the daily form asks, and almost always
    nothing is locked: that answer is one SQL query (the ORM's compilation of it cost ten
    times the query); the approval itself is read only when there is one."""
    codes = [c for c in (village.l3, village.l4) if c]
    if not codes:
        return None
    found = bulk.rows(
        f"SELECT id FROM {DayApproval._meta.db_table} WHERE date = %s AND area_id IN "
        f"({', '.join(['%s'] * len(codes))}) ORDER BY level LIMIT 1",
        [connection.ops.adapt_datefield_value(day), *codes],
    )
    if not found:
        return None
    return DayApproval.objects.select_related("area").filter(pk=found[0][0]).first()


def lock_reason(approval: DayApproval) -> str:
    """Why a locked day refuses a report, and who can unlock it."""
    return _(
        "The reports of %(date)s were approved by %(area)s at %(at)s and are locked. "
        "Ask the level above %(area)s to unlock them before changing a value."
    ) % {
        "date": approval.date.isoformat(),
        "area": approval.area.name,
        "at": timezone.localtime(approval.at).strftime("%Y-%m-%d %H:%M"),
    }


def _archived_problems(frame: pl.DataFrame, file: str, dates: list[dt.date]) -> list[Problem]:
    """Rows dated in an archived period (village detail moved to a file, roll-ups kept)."""
    if not dates:
        return []
    gone = archived_dates(min(dates), max(dates))
    if not gone:
        return []
    return problems_where(
        frame,
        pl.col("date_parsed").is_in(sorted(gone)),
        file,
        "date",
        pl.format(
            _(
                "{}: the village reports of this date are archived (ruralwatch reports "
                "restore FILE brings them back before a change)"
            ),
            pl.col("date_parsed").cast(pl.String),
        ),
    )


def locked_problems(frame: pl.DataFrame, file: str) -> list[Problem]:
    """Problems for rows of an import (``area_code``, ``date_parsed``) whose village day is
    locked by an approval. One query when nothing of the file's dates is approved."""
    if frame.height == 0 or "date_parsed" not in frame.columns:
        return []
    dates = [d for d in frame["date_parsed"].drop_nulls().unique().to_list()]
    archived = _archived_problems(frame, file, dates)
    if archived:
        return archived
    approvals = list(
        DayApproval.objects.filter(date__in=dates).values_list("area_id", "date", "area__name")
    )
    if not approvals:
        return []
    names = {(a, d.isoformat()): n for a, d, n in approvals}
    codes = frame["area_code"].drop_nulls().unique().to_list()
    anc: dict[str, tuple[str, str]] = {}
    for i in range(0, len(codes), 900):
        for code, county, township in Area.objects.filter(code__in=codes[i : i + 900]).values_list(
            "code", "l3", "l4"
        ):
            anc[code] = (county, township)
    day = pl.col("date_parsed").cast(pl.String)
    l3 = pl.col("area_code").replace_strict({k: v[0] for k, v in anc.items()}, default="")
    l4 = pl.col("area_code").replace_strict({k: v[1] for k, v in anc.items()}, default="")
    keys = {f"{a}|{d}": n for (a, d), n in names.items()}
    k3 = pl.concat_str([l3, pl.lit("|"), day])
    k4 = pl.concat_str([l4, pl.lit("|"), day])
    by = pl.when(k3.is_in(list(keys))).then(k3).otherwise(k4)
    return problems_where(
        frame,
        k3.is_in(list(keys)) | k4.is_in(list(keys)),
        file,
        "date",
        pl.format(
            _("the reports of {} are approved by {} and locked; ask the level above to unlock"),
            day,
            by.replace_strict(keys, default=""),
        ),
    )


def _check_level(area: Area) -> None:
    if area.level not in SIGNING_LEVELS:
        raise Refused(_("Only a township or a county signs off a day's reports."))


def approve_day(
    area: Area, day: dt.date, *, user: Any, role: str = "", now: dt.datetime | None = None
) -> DayApproval:
    """Approve ``area``'s (a township's or a county's) reports of ``day`` and lock them.

    A county approves only when every township of it active on the day has approved."""
    now = now or timezone.now()
    _check_level(area)
    with transaction.atomic():
        if area.level == Level.COUNTY:
            townships = (
                Area.objects.filter(parent_id=area.code, level=Level.TOWNSHIP)
                .exclude(valid_from__gt=day)
                .exclude(valid_to__lt=day)
            )
            approved = DayApproval.objects.filter(date=day, area_id__in=townships.values("code"))
            waiting = townships.count() - approved.count()
            if waiting:
                raise Refused(
                    _(
                        "%(n)d township(s) of %(area)s have not approved %(date)s yet; a county "
                        "signs off after its townships."
                    )
                    % {"n": waiting, "area": area.name, "date": day.isoformat()}
                )
        villages = _active_villages(area, day)
        expected = villages.count()
        received = Submission.objects.filter(date=day, area_id__in=villages.values("code")).count()
        try:
            with transaction.atomic():
                approval = DayApproval.objects.create(
                    area=area,
                    date=day,
                    level=area.level,
                    user=user if getattr(user, "pk", None) else None,
                    at=now,
                    received=received,
                    expected=expected,
                )
        except IntegrityError:
            raise Refused(
                _("%(area)s has already approved %(date)s.")
                % {"area": area.name, "date": day.isoformat()}
            ) from None
        ApprovalEvent.objects.create(
            area=area,
            date=day,
            kind=ApprovalEvent.Kind.APPROVED,
            user=approval.user,
            role=role,
            at=now,
        )
    return approval


def unlock_day(
    area: Area,
    day: dt.date,
    *,
    user: Any,
    reason: str,
    role: str = "",
    now: dt.datetime | None = None,
) -> None:
    """Remove ``area``'s approval of ``day`` (the caller checked the user is above it), with
    the reason in the trace. A township's approval stays while its county's stands."""
    now = now or timezone.now()
    _check_level(area)
    reason = reason.strip()
    if not reason:
        raise Refused(_("Say why the day is unlocked: the reason is kept in the trace."))
    with transaction.atomic():
        approval = DayApproval.objects.select_for_update().filter(area=area, date=day).first()
        if approval is None:
            raise Refused(
                _("%(area)s has not approved %(date)s: there is nothing to unlock.")
                % {"area": area.name, "date": day.isoformat()}
            )
        if area.level == Level.TOWNSHIP and area.l3:
            county = DayApproval.objects.filter(area_id=area.l3, date=day).first()
            if county is not None:
                raise Refused(
                    _("The county's approval of %(date)s still stands: unlock the county first.")
                    % {"date": day.isoformat()}
                )
        approval.delete()
        ApprovalEvent.objects.create(
            area=area,
            date=day,
            kind=ApprovalEvent.Kind.UNLOCKED,
            user=user if getattr(user, "pk", None) else None,
            role=role,
            at=now,
            reason=reason[:200],
        )


# --- reads ---------------------------------------------------------------------------------------


@dataclass
class ChildStatus:
    code: str
    name: str
    level: int
    expected: int
    received: int
    approved: bool
    approved_at: dt.datetime | None = None


@dataclass
class SignoffOverview:
    area: Area
    date: dt.date
    approval: DayApproval | None
    #: The approval above that also locks the day (a township's county), if any.
    above: DayApproval | None
    children: list[ChildStatus]
    events: list[ApprovalEvent]

    @property
    def expected(self) -> int:
        return sum(c.expected for c in self.children)

    @property
    def received(self) -> int:
        return sum(c.received for c in self.children)

    @property
    def approved_children(self) -> int:
        return sum(1 for c in self.children if c.approved)


def overview(area: Area, day: dt.date) -> SignoffOverview:
    """The children of ``area`` on ``day``: village reports expected and received, and whether
    each child's day is approved (a village's: its township's approval). Four queries."""
    child_level = area.level + 1
    col = f"l{child_level}" if child_level <= Level.VILLAGE else "code"
    villages = _active_villages(area, day)
    expected = dict(villages.values_list(col).annotate(n=Count("code")).values_list(col, "n"))
    received = dict(
        Submission.objects.filter(date=day, area_id__in=villages.values("code"))
        .values_list(f"area__{col}")
        .annotate(n=Count("*"))
        .values_list(f"area__{col}", "n")
    )
    children = list(
        Area.objects.filter(parent_id=area.code).order_by("code").values_list("code", "name")
    )
    approvals = {
        a.area_id: a
        for a in DayApproval.objects.select_related("area").filter(
            date=day, area_id__in=[area.code, area.l3, area.l4, *[c for c, _n in children]]
        )
    }
    own = approvals.get(area.code)
    above = approvals.get(area.l3) if area.level == Level.TOWNSHIP and area.l3 else None
    rows = []
    for code, name in children:
        child = approvals.get(code)
        if child_level == Level.VILLAGE:
            child = own or above
        rows.append(
            ChildStatus(
                code=code,
                name=name,
                level=child_level,
                expected=int(expected.get(code, 0)),
                received=int(received.get(code, 0)),
                approved=child is not None,
                approved_at=child.at if child is not None else None,
            )
        )
    events = list(
        ApprovalEvent.objects.filter(area_id=area.code, date=day)
        .select_related("user")
        .order_by("-at", "-id")[:50]
    )
    return SignoffOverview(area, day, own, above, rows, events)
