"""Reads of the key areas: the sparse-count watch of every key area under a root, the panel
the dashboard and the briefing call (:func:`panel`), pairings and support requests.

The watch is computed when read (a few set-based queries, then
:func:`ruralwatch.epi.assess.sparse.watch` over all key areas at once), so it always reflects
the reports as they stand.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.accounts.access import jurisdiction, sees_everything
from ruralwatch.areas.models import KEY_AREA_TAGS, Area
from ruralwatch.core import bulk
from ruralwatch.epi.assess.sparse import STATUS_CODES, SparseParams, watch
from ruralwatch.keyareas.models import Need, Pairing, RequestStatus, SupportRequest
from ruralwatch.reporting.models import ReportValue, Submission

CHUNK = 500
INDICATOR = "new_cases"
#: Days read before the watched day: the baseline, the window and the quiet days of the
#: first-case rule, and room to see when the current episode began.
HISTORY_DAYS = 63
METHOD = "keyarea-exact-poisson"
LEVEL_COLUMN = {1: "l1", 2: "l2", 3: "l3", 4: "l4", 5: "l5"}


def status_label(code: str) -> str:
    return {
        "no_reports": _("no reports"),
        "low": _("still low"),
        "first_case": _("first case"),
        "rising": _("rising"),
    }.get(code, code)


def tag_labels(tags: str) -> list[str]:
    return [str(KEY_AREA_TAGS[t]) for t in tags.split(",") if t in KEY_AREA_TAGS]


def key_areas(root_path: str = "/") -> QuerySet[Area]:
    """Tagged areas under ``root_path`` (the root included), in code order."""
    qs = Area.objects.exclude(key_areas="")
    if root_path != "/":
        qs = qs.filter(path__startswith=root_path)
    return qs.order_by("code")


@dataclass
class WatchRow:
    code: str
    name: str
    level: int
    path: str
    tags: str
    status: str
    observed: int
    expected: float | None
    limit: float | None
    threshold: int | None
    p_value: float | None
    baseline_rate_per_100k: float | None
    days_since_first: int | None
    first_case_date: dt.date | None
    first_case_censored: bool
    completeness: float | None
    support_code: str
    support_name: str

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def tag_labels(self) -> list[str]:
        return tag_labels(self.tags)

    def evidence(self, date: dt.date, params: dict[str, Any]) -> dict[str, Any]:
        """What a task or a briefing line carries: method, parameters, baseline, limit."""
        return {
            "method": METHOD,
            "indicator": INDICATOR,
            "date": date.isoformat(),
            "status": self.status,
            "tags": self.tags,
            "observed": self.observed,
            "expected": self.expected,
            "threshold": self.threshold,
            "limit": self.limit,
            "p_value": self.p_value,
            "baseline_rate_per_100k": self.baseline_rate_per_100k,
            "days_since_first": self.days_since_first,
            "first_case_date": self.first_case_date.isoformat() if self.first_case_date else None,
            "completeness": self.completeness,
            "params": params,
        }


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)


def _villages(units: list[dict[str, Any]], start: dt.date, end: dt.date) -> pl.DataFrame:
    """(village, unit): the villages open during ``start … end`` that make up each unit (a
    village unit is its own village), as row indices into ``units``."""
    pairs: list[tuple[str, int]] = []
    index = {u["code"]: i for i, u in enumerate(units)}
    by_level: dict[int, list[str]] = {}
    for u in units:
        by_level.setdefault(u["level"], []).append(u["code"])
    for level, codes in by_level.items():
        # a village is its own village: by the primary key (l5 has no index of its own)
        col = "code" if level == 5 else LEVEL_COLUMN[level]
        for i in range(0, len(codes), CHUNK):
            rows = (
                Area.objects.filter(level=5, **{f"{col}__in": codes[i : i + CHUNK]})
                .exclude(valid_to__lt=start)
                .exclude(valid_from__gt=end)
                .values_list("code", col)
            )
            pairs += [(v, index[u]) for v, u in rows]
    return pl.DataFrame(pairs, schema={"village": pl.String, "unit": pl.Int64}, orient="row")


def _by_village(
    model: Any, villages: list[str], fields: tuple[str, ...], **where: Any
) -> list[tuple[Any, ...]]:
    """Rows of ``model`` for ``villages`` (by the area index, in chunks: no join)."""
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(villages), CHUNK):
        part = villages[i : i + CHUNK]
        out += model.objects.filter(area_id__in=part, **where).values_list(*fields)
    return out


def _series(
    units: list[dict[str, Any]], members: pl.DataFrame, start: dt.date, end: dt.date
) -> np.ndarray:
    """(T × U) daily counts (NaN: nothing reported) for units of any level: a village's own
    values, an area's sum over its villages (NaN on a day none of them reported)."""
    days = (end - start).days + 1
    counts = np.full((days, len(units)), np.nan)
    villages = members["village"].unique().sort().to_list()
    # Raw rows through core.bulk (COPY on PostgreSQL): a province's key villages are some
    # 170,000 village-days, which the ORM's per-row conversion took seconds to build.
    table = ReportValue._meta.db_table
    schema: dict[str, type[pl.DataType]] = {
        "village": pl.String,
        "day": pl.String,
        "value": pl.Float64,
    }
    parts = []
    for i in range(0, len(villages), CHUNK):
        part = villages[i : i + CHUNK]
        parts.append(
            bulk.fetch_frame(
                f"SELECT area_id, CAST(date AS TEXT), value FROM {table} "
                # ``|| ''`` keeps the indicator's own index out of the plan: without
                # statistics SQLite chose it for a long IN list and read every village's
                # values (0.5 s a chunk) instead of seeking each village (10 ms).
                f"WHERE indicator_id || '' = %s AND date >= %s AND date <= %s "
                f"AND area_id IN ({', '.join(['%s'] * len(part))})",
                [INDICATOR, start, end, *part],
                schema=schema,
            )
        )
    values = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    if values.is_empty():
        return counts
    values = values.with_columns(pl.col("day").str.slice(0, 10).str.to_date().alias("date"))
    summed = (
        values.join(members, on="village")
        .group_by("unit", "date")
        .agg(pl.col("value").sum())
        .with_columns((pl.col("date") - pl.lit(start)).dt.total_days().alias("day"))
    )
    counts[summed["day"].to_numpy(), summed["unit"].to_numpy()] = summed["value"].to_numpy()
    return counts


def _completeness(
    units: list[dict[str, Any]], members: pl.DataFrame, start: dt.date, end: dt.date
) -> dict[str, float]:
    """Share of the expected village reports of ``start … end`` that arrived, per unit."""
    days = (end - start).days + 1
    villages = members["village"].unique().sort().to_list()
    counts: dict[str, int] = {}
    for i in range(0, len(villages), CHUNK):
        counts.update(
            Submission.objects.filter(area_id__in=villages[i : i + CHUNK], date__range=(start, end))
            .values_list("area_id")
            .annotate(n=Count("*"))
        )
    per_unit = (
        members.with_columns(
            pl.col("village").replace_strict(counts, default=0, return_dtype=pl.Int64).alias("n")
        )
        .group_by("unit")
        .agg(pl.col("n").sum(), pl.len().alias("villages"))
    )
    out = {}
    for unit, n, v in per_unit.iter_rows():
        if v:
            out[units[unit]["code"]] = min(n / (v * days), 1.0)
    return out


def watch_rows(
    root_path: str, date: dt.date, params: SparseParams | None = None
) -> tuple[list[WatchRow], dict[str, Any]]:
    """The watch of every key area under ``root_path`` on ``date`` and the parameters used.
    Pools: the key areas with the same parent (the key villages of a township, the key
    townships of a county) share a baseline: neighbours, alike in remoteness. A pool's
    members outside ``root_path`` count in its baseline too (only the root's key areas are
    returned), so a key area's status does not depend on who reads it."""
    p = params or SparseParams()
    fields = ("code", "name", "level", "path", "key_areas", "population", "parent_id")
    inside: list[dict[str, Any]] = [dict(u) for u in key_areas(root_path).values(*fields)]
    if not inside:
        return [], p.as_dict()
    seen = {u["code"] for u in inside}
    parents = sorted({u["parent_id"] for u in inside if u["parent_id"]})
    others: list[dict[str, Any]] = []
    for i in range(0, len(parents), CHUNK):
        others += [
            dict(u)
            for u in key_areas("/").filter(parent_id__in=parents[i : i + CHUNK]).values(*fields)
            if u["code"] not in seen
        ]
    units = inside + others
    start = date - dt.timedelta(days=HISTORY_DAYS - 1)
    members = _villages(units, start, date)
    counts = _series(units, members, start, date)
    pools: dict[tuple[str, int], int] = {}
    pool = np.array(
        [pools.setdefault((u["parent_id"] or u["code"], u["level"]), len(pools)) for u in units]
    )
    pop = np.array([float(u["population"] or 0) for u in units])
    known = pop > 0
    if not known.all():  # an unknown population takes its pool's mean (flagged by None)
        for g in np.unique(pool):
            m = (pool == g) & known
            pop[(pool == g) & ~known] = pop[m].mean() if m.any() else 1000.0
    result = watch(counts, pop, counts.shape[0] - 1, pool=pool, params=p)
    w0 = date - dt.timedelta(days=p.window - 1)
    complete = _completeness(units, members, w0, date)
    pairs = dict(
        Pairing.objects.filter(key_area_id__in=[u["code"] for u in units]).values_list(
            "key_area_id", "support_unit_id"
        )
    )
    names = dict(Area.objects.filter(code__in=set(pairs.values())).values_list("code", "name"))
    rows = []
    for i, u in enumerate(units[: len(inside)]):
        first = int(result.first_case_index[i])
        since = int(result.days_since_first[i])
        threshold = result.threshold[i]
        rows.append(
            WatchRow(
                code=u["code"],
                name=u["name"],
                level=u["level"],
                path=u["path"],
                tags=u["key_areas"],
                status=STATUS_CODES[int(result.status[i])],
                observed=int(result.observed[i]),
                expected=_num(result.expected[i]),
                limit=_num(result.limit[i]),
                threshold=int(threshold) if np.isfinite(threshold) else None,
                p_value=_num(result.p_value[i]),
                baseline_rate_per_100k=_num(result.baseline_rate[i] * 1e5),
                days_since_first=since if since >= 0 else None,
                first_case_date=start + dt.timedelta(days=first) if first >= 0 else None,
                first_case_censored=bool(result.first_case_censored[i]),
                completeness=complete.get(u["code"]),
                support_code=pairs.get(u["code"], ""),
                support_name=names.get(pairs.get(u["code"], ""), ""),
            )
        )
    return rows, result.params


SEVERITY = {s: i for i, s in enumerate(STATUS_CODES)}


def panel(area: Area, date: dt.date) -> dict[str, Any]:
    """The key-area panel of ``area``'s subtree on ``date``, for pages, the dashboard and the
    briefing: counts by status and by tag, every key area (most urgent first) with its status,
    cases in the window against the exact limit, days since the first case and reporting
    completeness, the support requests still open, and the method's parameters."""
    rows, params = watch_rows(area.path, date)
    rows.sort(key=lambda r: (-SEVERITY[r.status], -(r.observed or 0), r.code))
    by_status = Counter(r.status for r in rows)
    by_tag = Counter(t for r in rows for t in r.tags.split(",") if t)
    open_requests = SupportRequest.objects.filter(
        Q(key_path__startswith=area.path) | Q(support_path__startswith=area.path),
        status=RequestStatus.OPEN,
    ).count()
    return {
        "area": area,
        "date": date,
        "count": len(rows),
        "by_status": {s: by_status.get(s, 0) for s in STATUS_CODES},
        "by_tag": {t: by_tag.get(t, 0) for t in KEY_AREA_TAGS},
        "rows": rows,
        "open_requests": open_requests,
        "method": METHOD,
        "indicator": INDICATOR,
        "params": params,
    }


def summary(area: Area, date: dt.date) -> dict[str, Any]:
    """The panel as plain JSON (the demo's ``summary.json`` ``key_areas``)."""
    p = panel(area, date)
    return {
        "date": date.isoformat(),
        "count": p["count"],
        "by_status": p["by_status"],
        "by_tag": p["by_tag"],
        "by_level": dict(Counter(str(r.level) for r in p["rows"])),
        "paired": sum(1 for r in p["rows"] if r.support_code),
        "open_requests": p["open_requests"],
        "method": p["method"],
        "params": p["params"],
        "watched": [
            {
                "code": r.code,
                "name": r.name,
                "level": r.level,
                "status": r.status,
                "observed": r.observed,
                "threshold": r.threshold,
                "days_since_first": r.days_since_first,
                "completeness": r.completeness,
            }
            for r in p["rows"]
            if r.status in ("rising", "first_case")
        ],
    }


# --- requests ------------------------------------------------------------------------------------


def visible_requests(user: Any) -> QuerySet[SupportRequest]:
    """Requests a user may see: filed from or sent to an area of their jurisdiction."""
    qs = SupportRequest.objects.select_related("key_area", "support_unit")
    if sees_everything(user):
        return qs
    root = jurisdiction(user)
    if root is None:
        return qs.none()
    return qs.filter(Q(key_path__startswith=root.path) | Q(support_path__startswith=root.path))


def access_request_by_id(user: Any, value: str) -> SupportRequest | None:
    """The request ``value`` if the user may see it; ``None`` for missing and forbidden alike."""
    if not value.isdigit() or len(value) > 12:
        return None
    return visible_requests(user).filter(pk=int(value)).first()


def requests_of(area: Area, *, limit: int = 100) -> dict[str, list[SupportRequest]]:
    """Requests from the key areas under ``area`` (sent) and to the units under it
    (received), newest first."""
    base = SupportRequest.objects.select_related("key_area", "support_unit").order_by("-filed_at")
    return {
        "sent": list(base.filter(key_path__startswith=area.path)[:limit]),
        "received": list(base.filter(support_path__startswith=area.path)[:limit]),
    }


def pairing_of(area: Area) -> Pairing | None:
    return Pairing.objects.select_related("support_unit").filter(key_area_id=area.code).first()


# --- words for dispatch ------------------------------------------------------------------------


def _local(iso: Any) -> str:
    try:
        return f"{timezone.localtime(dt.datetime.fromisoformat(str(iso))):%Y-%m-%d %H:%M}"
    except (TypeError, ValueError):
        return "—"


def task_sentences(source: str, evidence: dict[str, Any], area_name: str) -> list[str]:
    """What made a key-area task (``support_request`` or ``key_area_rise``), in the active
    language, for the dispatch pages (``dispatch.evidence.sentences``)."""
    ev = evidence or {}
    if source == "support_request":
        need = str(Need(ev["need"]).label) if ev.get("need") in Need.values else ev.get("need")
        quantity = ev.get("quantity")
        what = f"{need} × {quantity}" if quantity is not None else str(need)
        out = [
            _(
                "Key area %(area)s asks its paired support unit for %(what)s, to be answered by "
                "%(by)s."
            )
            % {"area": area_name, "what": what, "by": _local(ev.get("respond_by"))}
        ]
        if ev.get("note"):
            out.append(_("Note: %(note)s") % {"note": ev["note"]})
        out.append(
            _("Answer it on the key-area page of the support unit; the task then closes itself.")
        )
        return out
    if source == "key_area_rise":
        values = {
            "area": area_name,
            "date": ev.get("date", ""),
            "observed": ev.get("observed"),
            "days": (ev.get("params") or {}).get("window", 7),
            "threshold": ev.get("threshold") if ev.get("threshold") is not None else "—",
        }
        if ev.get("status") == "first_case":
            return [
                _(
                    "First case in key area %(area)s on %(date)s after %(quiet)s days without "
                    "one: %(observed)s case(s) in the last %(days)s days."
                )
                % {**values, "quiet": (ev.get("params") or {}).get("quiet_days", 14)}
            ]
        return [
            _(
                "Cases are rising in key area %(area)s: %(observed)s in the %(days)s days to "
                "%(date)s, where %(threshold)s already exceed the exact Poisson limit of the "
                "pooled baseline."
            )
            % values
        ]
    return []
