"""What a briefing says, composed from the other apps' selectors.

The briefing computes nothing of its own: judgements come from ``assessments``, incidence and
completeness from ``reporting``, signals from ``signals``, tasks and the accountability figures
from ``dispatch``, coverage and the audit from ``keygroups``. This module picks, joins and
orders them for one area and date; :mod:`ruralwatch.briefings.services` renders the result.

Callers pass an area they obtained through
:func:`ruralwatch.accounts.access.access_area_by_code` (or trust, like the cycle).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, F, Q, Sum, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from ruralwatch.areas.models import Area, Level
from ruralwatch.assessments.models import LEVEL_LABELS, PHASE_LABELS, Judgement
from ruralwatch.assessments.phrases import event_name
from ruralwatch.assessments.selectors import judgement_for
from ruralwatch.briefings.models import Briefing
from ruralwatch.core.i18n import localized
from ruralwatch.dispatch.evidence import method_name
from ruralwatch.dispatch.models import OPEN_STATUSES, Source, Status, Task
from ruralwatch.dispatch.selectors import accountability, overdue_q
from ruralwatch.keyareas import selectors as keyareas
from ruralwatch.keygroups.selectors import AUDIT_LABELS, audit, audit_summary, coverage
from ruralwatch.reporting import selectors as reporting
from ruralwatch.reporting.models import AggregateValue
from ruralwatch.resources import selectors as resources
from ruralwatch.signals.selectors import signals_by_method, signals_in

CASES = "new_cases"
WINDOW_DAYS = 7
CURVE_DAYS = 60
#: The next scheduling meeting is expected this many days later (the to-do list runs to it).
NEXT_MEETING_DAYS = 7
#: Tasks created this many days before the period count in the accountability figures.
ACCOUNTABILITY_DAYS = 28
#: At most this many rows in the lists (signals, to-do, lagging units, missing villages).
MAX_ROWS = 12
#: Key areas listed (the most urgent first: rising and first cases come before the quiet).
KEY_AREA_ROWS = 8


def _event_label(rebound: dict[str, Any], language: str) -> str:
    """The watched event's name in ``language`` (``phrases.event_name``), "" without one."""
    if not rebound.get("event"):
        return ""
    with override(language):
        return event_name(rebound)


@dataclass
class BriefingContent:
    """Everything one briefing shows (labels already in the active language)."""

    area: Area
    date: dt.date
    period_start: dt.date
    next_meeting: dt.date
    issuer: str
    indicator_name: str
    headline: dict[str, Any] | None
    numbers: dict[str, Any]
    series: list[tuple[dt.date, float | None]]
    map_points: list[dict[str, Any]]
    map_labels: list[dict[str, Any]]
    children: list[dict[str, Any]]
    signals: list[dict[str, Any]]
    signals_total: int
    signals_by_method: dict[str, int]
    tasks: dict[str, Any]
    completeness: dict[str, Any]
    keygroups: dict[str, Any]
    todo: list[dict[str, Any]]
    todo_total: int
    figures: dict[str, Any]
    previous: Briefing | None = None
    since_last: list[dict[str, Any]] = field(default_factory=list)
    child_level_label: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    key_areas: dict[str, Any] = field(default_factory=dict)


def issuer_for(area: Area) -> str:
    """The issuing body: the area's rural epidemic prevention and control task force."""
    return _("%(name)s Rural Epidemic Prevention and Control Task Force") % {"name": area.name}


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if v == v and abs(v) != float("inf") else None


def headline(j: Judgement | None, language: str) -> dict[str, Any] | None:
    """The judgement with its numbers: level, phase, growth rate with its interval, doubling
    or halving time, Rt with its credible interval, the rebound watch after the last event."""
    if j is None:
        return None
    ev = j.evidence or {}
    growth = ev.get("growth") or {}
    rt = ev.get("rt") or {}
    rebound = ev.get("rebound") or {}
    ci = growth.get("ci") or [None, None]
    cri = rt.get("cri95") or [None, None]
    event = rebound.get("event")
    return {
        "date": j.date,
        "level": j.level,
        "phase": j.phase,
        "level_label": j.level_label,
        "phase_label": j.phase_label,
        "text": j.text(language),
        "pooled": j.pooled,
        "basis": (ev.get("basis") or {}).get("name", ""),
        "growth": _num(growth.get("r")),
        "growth_low": _num(ci[0]),
        "growth_high": _num(ci[1]),
        "growth_window": growth.get("window"),
        "doubling": _num(growth.get("doubling_time")),
        "halving": _num(growth.get("halving_time")),
        "rt": _num(rt.get("mean")),
        "rt_low": _num(cri[0]),
        "rt_high": _num(cri[1]),
        "level_per_100k": _num((ev.get("level") or {}).get("per_100k")),
        "level_method": (ev.get("level") or {}).get("method", ""),
        "rebound_event": event,
        "rebound_event_label": _event_label(rebound, language),
        "rebound_event_start": rebound.get("event_start"),
        "rebound_outcome": rebound.get("outcome", ""),
        "rebound_detected": bool(j.rebound_detected),
    }


def _window_sum(series: list[tuple[dt.date, float | None]], end: int) -> float | None:
    window = [v for _d, v in series[max(0, end - WINDOW_DAYS) : end] if v is not None]
    return sum(window) if window else None


def _change(now: float | None, before: float | None) -> float | None:
    if now is None or before is None or before == 0:
        return None
    return (now - before) / before


def _children(area: Area, date: dt.date) -> list[dict[str, Any]]:
    """Each sub-area: 7-day cases and incidence, the week before, the change, its judgement
    and its report completeness on ``date``."""
    rows = reporting.children_incidence(area, CASES, date, WINDOW_DAYS)
    before = {
        r["code"]: r
        for r in reporting.children_incidence(
            area, CASES, date - dt.timedelta(days=WINDOW_DAYS), WINDOW_DAYS
        )
    }
    judgements = {
        j.area_id: j
        for j in Judgement.objects.filter(
            area_id__in=[r["code"] for r in rows], indicator_id=CASES, date=date
        )
    }
    out = []
    for r in rows:
        prev = before.get(r["code"], {})
        j = judgements.get(r["code"])
        out.append(
            {
                **r,
                "prev_cases": prev.get("cases"),
                "change": _change(r["cases"], prev.get("cases")),
                "level": j.level if j else "",
                "phase": j.phase if j else "",
                "level_label": j.level_label if j else "",
                "phase_label": j.phase_label if j else "",
                "rebound": bool(j and j.rebound_detected),
            }
        )
    out.sort(key=lambda c: (c["incidence"] is None, -(c["incidence"] or 0), c["code"]))
    return out


def _placed(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and all(r["lon"] is not None and r["lat"] is not None for r in rows)


def _counties_incidence(area: Area, date: dt.date) -> list[dict[str, Any]]:
    """Each county under ``area`` (a province or prefecture): 7-day cases and incidence from
    the roll-ups, with its coordinates and its ancestor one level below ``area``. One query
    for the areas, one for the sums."""
    start = date - dt.timedelta(days=WINDOW_DAYS - 1)
    group = f"l{area.level + 1}"
    counties = list(
        Area.objects.filter(path__startswith=area.path, level=Level.COUNTY)
        .order_by("code")
        .values("code", "name", "population", "lon", "lat", group)
    )
    sums = dict(
        AggregateValue.objects.filter(
            area__path__startswith=area.path,
            area__level=Level.COUNTY,
            indicator_id=CASES,
            date__range=(start, date),
        )
        .values("area_id")
        .annotate(total=Sum("value"))
        .values_list("area_id", "total")
    )
    return [
        {
            **c,
            "group": c[group],
            "cases": sums.get(c["code"]),
            "incidence": reporting.incidence(sums.get(c["code"]), c["population"]),
        }
        for c in counties
    ]


def _map(
    area: Area, date: dt.date, children: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Points and labels of the map. A county is mapped village by village (labels: its
    townships); a province or prefecture whose sub-areas have no coordinates county by county
    (labels: the sub-areas, at the mean position of their counties); otherwise the sub-areas.
    Without coordinates there is no map (the table stays)."""
    points: list[dict[str, Any]] = []
    if area.level == Level.COUNTY:
        points = reporting.village_incidence(area, CASES, date, WINDOW_DAYS)
        parents = dict(
            Area.objects.filter(path__startswith=area.path, level=Level.VILLAGE).values_list(
                "code", "parent_id"
            )
        )
        for p in points:
            p["group"] = parents.get(p["code"])
    elif area.level < Level.COUNTY and not _placed(children):
        points = _counties_incidence(area, date)
    if not _placed(points):
        return (children if _placed(children) else []), []
    names = {c["code"]: c["name"] for c in children}
    sums: dict[str, list[float]] = {}
    for p in points:
        if p.get("group") in names:
            acc = sums.setdefault(p["group"], [0.0, 0.0, 0.0])
            acc[0] += p["lon"]
            acc[1] += p["lat"]
            acc[2] += 1
    labels = [
        {"name": names[code], "lon": lon / n, "lat": lat / n}
        for code, (lon, lat, n) in sums.items()
    ]
    return points, labels


def _task_for_signal_keys(signals: list[Any]) -> dict[str, Task]:
    keys = []
    for s in signals:
        prefix = Source.SINGLE_CASE if s.method == "cidars-single-case" else Source.SIGNAL
        keys.append(f"{prefix}:{s.rule_id}:{s.area_id}:{s.date.isoformat()}")
    tasks = Task.objects.filter(source_key__in=keys).select_related("owner_area")
    return {t.source_key: t for t in tasks}


def _signals(
    area: Area, start: dt.date, end: dt.date
) -> tuple[list[dict[str, Any]], int, dict[str, int]]:
    qs = signals_in(area.path, start, end)
    counts = signals_by_method(start, end, area.path)
    total = sum(counts.values())
    by_method = {method_name(m): n for m, n in counts.items()}
    shown = list(qs[:MAX_ROWS])
    tasks = _task_for_signal_keys(shown)
    rows = []
    for s in shown:
        prefix = Source.SINGLE_CASE if s.method == "cidars-single-case" else Source.SIGNAL
        task = tasks.get(f"{prefix}:{s.rule_id}:{s.area_id}:{s.date.isoformat()}")
        rows.append(
            {
                "date": s.date,
                "area": s.area.name,
                "indicator": localized(s.indicator, "name"),
                "method": method_name(s.method),
                "observed": s.observed,
                "threshold": s.threshold,
                "status": task.get_status_display() if task else _("no task"),
                "outcome": task.get_outcome_display() if task and task.outcome else "",
                "owner": task.owner_area.name if task else "",
                "open": bool(task and task.is_open),
            }
        )
    return rows, total, by_method


def _todo(area: Area, now: dt.datetime, until: dt.datetime) -> tuple[list[dict[str, Any]], int]:
    """Open tasks under ``area`` whose deadline (acknowledgement while new, else the outcome)
    falls before the next meeting, most urgent first."""
    base = Task.objects.filter(area_path__startswith=area.path, status__in=OPEN_STATUSES)
    due = base.filter(
        Q(status=Status.NEW, due_ack__lt=until) | (~Q(status=Status.NEW) & Q(due_done__lt=until))
    )
    total = due.count()
    deadline = Case(When(status=Status.NEW, then=F("due_ack")), default=F("due_done"))
    ordered = due.order_by(deadline.asc(), "priority", "id")
    overdue_ids = set(due.filter(overdue_q(now)).values_list("id", flat=True)[:1000])
    rows = []
    for t in ordered.select_related("kind", "area", "owner_area")[:MAX_ROWS]:
        rows.append(
            {
                "kind": localized(t.kind, "name"),
                "area": t.area.name,
                "owner": t.owner_area.name,
                "deadline": timezone.localtime(t.deadline),
                "status": t.get_status_display(),
                "overdue": t.id in overdue_ids,
                "escalations": t.escalations,
            }
        )
    return rows, total


def _tasks(area: Area, date: dt.date, now: dt.datetime) -> dict[str, Any]:
    """The accountability figures of the tasks under ``area`` and the lagging units one level
    down (those with overdue or escalated tasks), from :func:`dispatch.selectors.accountability`."""
    tz = timezone.get_current_timezone()
    since = dt.datetime.combine(date - dt.timedelta(days=ACCOUNTABILITY_DAYS), dt.time(), tz)
    figures = accountability(area, since, now + dt.timedelta(seconds=1), now)
    lagging = [u for u in figures["lagging"] if u["overdue"] or u["escalated"]][:MAX_ROWS]
    for u in lagging:
        u["holders_text"] = ", ".join(h["user"] for h in u["holders"])
    return {"overall": figures["overall"], "lagging": lagging, "since": since}


def _completeness(area: Area, date: dt.date, children: list[dict[str, Any]]) -> dict[str, Any]:
    """Report completeness on ``date``: the area's own figures, the sub-areas below 100 %,
    and (for a township or a county) the villages whose report has not arrived."""
    levels = reporting.completeness_by_level(area, date)
    own = next((r for r in levels if r["level"] == area.level), None)
    lagging = sorted(
        (c for c in children if c["expected"] and c["received"] < c["expected"]),
        key=lambda c: (c["completeness"] or 0.0, c["code"]),
    )
    missing: list[str] = []
    missing_total = 0
    if area.level in (Level.COUNTY, Level.TOWNSHIP):
        villages = [
            v for v in reporting.village_incidence(area, CASES, date, 1) if not v["received"]
        ]
        missing_total = len(villages)
        missing = [v["name"] for v in villages[: MAX_ROWS * 2]]
    return {
        "own": own,
        "lagging": lagging[:MAX_ROWS],
        "lagging_total": len(lagging),
        "missing": missing,
        "missing_total": missing_total,
    }


def _keygroups(area: Area, date: dt.date) -> dict[str, Any]:
    """Key-group coverage of the area and of each sub-area (lowest first), and the audit.

    One coverage scan at the sub-areas' level; the area's own totals are their sums."""
    rows: list[dict[str, Any]] = []
    if area.level < Level.VILLAGE:
        names = dict(Area.objects.filter(parent=area).values_list("code", "name"))
        rows = [
            {**r, "name": names.get(r["area"], r["area"])}
            for r in coverage(area.path, date, area.level + 1)
        ]
        own = None
        if rows:
            own = {
                k: sum(r[k] for r in rows)
                for k in ("registered", "red", "due", "overdue", "no_doctor", "covered")
            }
            own["coverage"] = own["covered"] / own["registered"] if own["registered"] else None
        rows.sort(key=lambda r: (r["coverage"] if r["coverage"] is not None else 2.0, r["area"]))
    else:
        found = coverage(area.path, date, area.level)
        own = found[0] if found else None
    findings = audit_summary(audit(area, date)) if own else {}
    return {
        "own": own,
        "lowest": rows[:5],
        "audit": findings,
        "audit_total": sum(findings.values()),
    }


def _resources(area: Area, date: dt.date, language: str) -> dict[str, Any]:
    """The resources panel: stock against the minimums by item, stock-outs and coverage gaps
    (``resources.selectors.briefing_panel``), and the referral network's flows and gaps
    (``resources.selectors.referral_network``)."""
    panel = resources.briefing_panel(area.path, date, language)
    network = resources.referral_network(area.path, date)
    over = [g for g in network["gaps"] if g["kind"] != resources.UNPAIRED]
    panel["referrals"] = {
        **network["totals"],
        "days": network["days"],
        "pairings": len(network["pairings"]),
        "unpaired": [u["county_name"] for u in network["unpaired"]][:MAX_ROWS],
        "unpaired_total": len(network["unpaired"]),
        "over_ends": sorted({g["target_name"] for g in over})[:MAX_ROWS],
    }
    return panel


def _key_areas(area: Area, date: dt.date) -> dict[str, Any]:
    """The key-area panel (三区一岛): counts by status and by tag, and the most urgent key
    areas with their watch (``keyareas.selectors.panel``)."""
    p = keyareas.panel(area, date)
    return {
        "count": p["count"],
        "by_status": [
            {"code": s, "label": keyareas.status_label(s), "n": n}
            for s, n in p["by_status"].items()
        ],
        "by_tag": [
            {"label": keyareas.tag_labels(t)[0], "n": n} for t, n in p["by_tag"].items() if n
        ],
        "rising": p["by_status"].get("rising", 0) + p["by_status"].get("first_case", 0),
        "rows": p["rows"][:KEY_AREA_ROWS],
        "open_requests": p["open_requests"],
        "params": p["params"],
    }


def audit_label(kind: str) -> str:
    label = AUDIT_LABELS.get(kind)
    return str(label) if label is not None else kind.replace("_", " ")


def previous_briefing(area: Area, date: dt.date) -> Briefing | None:
    """The latest archived briefing of ``area`` before ``date`` (any language or format)."""
    return Briefing.objects.filter(area=area, date__lt=date).order_by("-date", "-id").first()


def figures_of(content: BriefingContent) -> dict[str, Any]:
    """The headline figures stored with a briefing, for the next one to compare with."""
    h = content.headline or {}
    t = content.tasks["overall"]
    own = content.completeness["own"] or {}
    kg = content.keygroups["own"] or {}
    return {
        "level": h.get("level"),
        "phase": h.get("phase"),
        "cases7": content.numbers["cases7"],
        "incidence7": content.numbers["incidence7"],
        "rt": h.get("rt"),
        "signals": content.signals_total,
        "open_tasks": t["open"],
        "overdue_tasks": t["overdue"],
        "completeness": own.get("completeness"),
        "coverage": kg.get("coverage"),
        "audit": content.keygroups["audit_total"],
        "stock_outs": content.resources.get("stock_outs"),
        "key_areas_rising": content.key_areas.get("rising"),
    }


def compare(before: dict[str, Any], now: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of "since the last meeting": label, before, now, and which way it moved."""
    rows = []
    specs: list[tuple[str, Any, str]] = [
        ("level", _("Epidemic level"), "label"),
        ("phase", _("Trend"), "label"),
        ("cases7", _("New cases, 7 days"), "int"),
        ("incidence7", _("Incidence per 100,000, 7 days"), "float"),
        ("rt", "Rt", "float2"),
        ("signals", _("Signals in the period"), "int"),
        ("open_tasks", _("Open tasks"), "int"),
        ("overdue_tasks", _("Overdue tasks"), "int"),
        ("completeness", _("Report completeness"), "pct"),
        ("coverage", _("Key-group coverage"), "pct"),
        ("audit", _("Audit findings"), "int"),
        ("stock_outs", _("Stock-outs"), "int"),
        ("key_areas_rising", _("Key areas rising or with a first case"), "int"),
    ]
    for key, label, kind in specs:
        a, b = before.get(key), now.get(key)
        if a is None and b is None:
            continue
        if kind == "label":
            labels: dict[Any, Any] = LEVEL_LABELS if key == "level" else PHASE_LABELS
            fa = str(labels.get(a, a or "—"))
            fb = str(labels.get(b, b or "—"))
            move = "same" if a == b else "changed"
        else:
            fa, fb = _fmt(a, kind), _fmt(b, kind)
            move = "same"
            if a is not None and b is not None and a != b:
                move = "up" if b > a else "down"
        rows.append({"label": str(label), "before": fa, "now": fb, "move": move})
    return rows


def _fmt(v: Any, kind: str) -> str:
    if v is None:
        return "—"
    if kind == "int":
        return f"{v:,.0f}"
    if kind == "float":
        return f"{v:,.1f}"
    if kind == "float2":
        return f"{v:.2f}"
    return f"{v * 100:.1f}%"


def briefing_content(
    area: Area, date: dt.date, language: str, *, now: dt.datetime | None = None
) -> BriefingContent:
    """Everything the briefing of ``area`` on ``date`` shows, in the active language (the
    caller activates ``language``). ``now`` (aware; default the current time) decides which
    tasks are overdue. A bounded number of queries whatever the size of the subtree."""
    now = now or timezone.now()
    period_start = date - dt.timedelta(days=WINDOW_DAYS - 1)
    series = reporting.daily_series(area, CASES, date - dt.timedelta(days=CURVE_DAYS - 1), date)
    cases7 = _window_sum(series, len(series))
    prev7 = _window_sum(series, len(series) - WINDOW_DAYS)
    numbers = {
        "cases7": cases7,
        "prev7": prev7,
        "change": _change(cases7, prev7),
        "incidence7": reporting.incidence(cases7, area.population),
        "population": area.population,
    }
    children = _children(area, date)
    map_points, map_labels = _map(area, date, children)
    from ruralwatch.reporting.models import Indicator

    indicator = Indicator.objects.filter(code=CASES).first()
    indicator_name = ""
    if indicator is not None:
        indicator_name = localized(indicator, "name", language)
    signals, signals_total, by_method = _signals(area, period_start, date)
    next_meeting = date + dt.timedelta(days=NEXT_MEETING_DAYS)
    tz = timezone.get_current_timezone()
    until = max(now, dt.datetime.combine(next_meeting, dt.time(), tz))
    todo, todo_total = _todo(area, now, until)
    child_level = area.level + 1
    content = BriefingContent(
        area=area,
        date=date,
        period_start=period_start,
        next_meeting=next_meeting,
        issuer=issuer_for(area),
        indicator_name=indicator_name,
        headline=headline(judgement_for(area, date, CASES), language),
        numbers=numbers,
        series=series,
        map_points=map_points,
        map_labels=map_labels,
        children=children,
        signals=signals,
        signals_total=signals_total,
        signals_by_method=by_method,
        tasks=_tasks(area, date, now),
        completeness=_completeness(area, date, children),
        keygroups=_keygroups(area, date),
        todo=todo,
        todo_total=todo_total,
        figures={},
        child_level_label=str(Level(child_level).label) if child_level <= 5 else "",
        resources=_resources(area, date, language),
        key_areas=_key_areas(area, date),
    )
    content.figures = figures_of(content)
    content.previous = previous_briefing(area, date)
    if content.previous is not None:
        content.since_last = compare(content.previous.figures or {}, content.figures)
    return content


def briefings_of(area: Area, limit: int = 100) -> list[Briefing]:
    """The archived briefings of ``area``, newest first (the download list)."""
    return list(
        Briefing.objects.filter(area=area)
        .select_related("created_by")
        .order_by("-date", "-id")[:limit]
    )
