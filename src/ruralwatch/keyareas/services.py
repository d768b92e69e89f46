"""Writes of the key areas (三区一岛): tags (import, the level above, the default derivation),
support pairings and support requests.

Tags are stored on :attr:`Area.key_areas`, the field the division importer also reads; every
change here leaves a :class:`~ruralwatch.keyareas.models.TagChange`. Imports are
all-or-nothing: every problem (file, row, column, reason) is collected and nothing is written
unless there is none.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ruralwatch.accounts.access import jurisdiction, manages_from, scope_areas, sees_everything
from ruralwatch.areas.models import KEY_AREA_TAGS, Area
from ruralwatch.core.problems import ImportRejected, ImportSummary, Problem
from ruralwatch.core.tabular import (
    canonical_columns,
    only_columns,
    problems_where,
    read_table,
)
from ruralwatch.keyareas.models import (
    Need,
    Pairing,
    RequestStatus,
    SupportRequest,
    TagChange,
    TagSource,
)

CHUNK = 500
TAG_ALIASES: dict[str, tuple[str, ...]] = {
    "code": ("区划代码", "统计用区划代码", "代码", "area_code"),
    "key_areas": ("重点地区", "三区一岛", "tags"),
    "support_unit": ("支援单位", "对口支援单位", "支援单位代码", "support_code"),
}
#: Hours a support request gives its paired unit to respond, unless the requester says.
DEFAULT_RESPONSE_HOURS = 24
MAX_RESPONSE_HOURS = 24 * 14


def normalise_tags(tags: Iterable[str]) -> str:
    """Tags in their canonical order, comma-separated; ``ValidationError`` for an unknown one."""
    given = {t.strip().lower() for t in tags if t and t.strip()}
    unknown = sorted(given - set(KEY_AREA_TAGS))
    if unknown:
        raise ValidationError(
            _("Unknown key-area tag(s) %(bad)s; use: %(tags)s.")
            % {"bad": ", ".join(unknown), "tags": ", ".join(KEY_AREA_TAGS)}
        )
    return ",".join(t for t in KEY_AREA_TAGS if t in given)


def _canonical_text(text: pl.Expr) -> pl.Expr:
    """Tags as written in a file (any order, case, spaces, 、 or ；) in canonical order."""
    parts = text.str.to_lowercase().str.replace_all(r"[\s]", "").str.split(by=",")
    return pl.concat_str(
        [pl.when(parts.list.contains(pl.lit(t))).then(pl.lit(t)) for t in KEY_AREA_TAGS],
        separator=",",
        ignore_nulls=True,
    )


# --- who may set what ----------------------------------------------------------------------------


def may_set_tags(user: Any, area: Area) -> bool:
    """The level above sets tags: ``area`` lies in the user's jurisdiction, strictly below the
    level the user manages from (the village roles and the county leader set none)."""
    level = manages_from(user)
    if level is None or area.level <= level:
        return False
    return sees_everything(user) or scope_areas(user).filter(code=area.code).exists()


def _record(changes: list[TagChange]) -> None:
    TagChange.objects.bulk_create(changes, batch_size=2000)


def _write_tags(new: dict[str, str], source: str, by: Any, now: dt.datetime, note: str) -> int:
    """Store ``code → tags`` where they differ from the stored value, with their trace;
    pairings of areas that are no longer key areas are removed. Returns the number changed."""
    before: dict[str, str] = {}
    codes = list(new)
    for i in range(0, len(codes), CHUNK):
        before.update(
            Area.objects.filter(code__in=codes[i : i + CHUNK]).values_list("code", "key_areas")
        )
    changed = {c: t for c, t in new.items() if c in before and before[c] != t}
    by_value: dict[str, list[str]] = defaultdict(list)
    for code, tags in changed.items():
        by_value[tags].append(code)
    for tags, group in by_value.items():
        for i in range(0, len(group), CHUNK):
            Area.objects.filter(code__in=group[i : i + CHUNK]).update(key_areas=tags)
    cleared = by_value.get("", [])
    for i in range(0, len(cleared), CHUNK):
        Pairing.objects.filter(key_area_id__in=cleared[i : i + CHUNK]).delete()
    user = by if getattr(by, "pk", None) else None
    _record(
        [
            TagChange(
                area_id=c, before=before[c], after=t, source=source, by=user, at=now, note=note
            )
            for c, t in changed.items()
        ]
    )
    return len(changed)


def set_tags(user: Any, area: Area, tags: Iterable[str], *, now: dt.datetime | None = None) -> str:
    """Set the tags of one area on behalf of the level above; returns the stored text."""
    if not may_set_tags(user, area):
        raise PermissionDenied(_("Only the level above may set this area's key-area tags."))
    text = normalise_tags(tags)
    with transaction.atomic():
        _write_tags({area.code: text}, TagSource.PAGE, user, now or timezone.now(), "")
    return text


# --- import --------------------------------------------------------------------------------------


@dataclass
class TagImportSummary(ImportSummary):
    tagged: int = 0
    cleared: int = 0
    pairings: int = 0
    by_tag: dict[str, int] = field(default_factory=dict)


def _areas_frame(codes: list[str]) -> pl.DataFrame:
    rows: list[tuple[Any, ...]] = []
    for i in range(0, len(codes), CHUNK):
        rows += Area.objects.filter(code__in=codes[i : i + CHUNK]).values_list(
            "code", "level", "path", "key_areas"
        )
    return pl.DataFrame(
        rows,
        schema={"code": pl.String, "level": pl.Int64, "path": pl.String, "stored": pl.String},
        orient="row",
    )


def import_tags(
    path: str | Path, *, user: Any = None, now: dt.datetime | None = None
) -> TagImportSummary:
    """Import key-area tags (and optionally each key area's support unit) from CSV/XLSX.

    Columns: ``code``, ``key_areas`` (comma-separated mountain, pastoral, forest, island;
    empty clears), optional ``support_unit`` (the code of the paired unit). With ``user``, every
    area must lie in the user's jurisdiction below the level they manage from. All-or-nothing.
    """
    now = now or timezone.now()
    path = Path(path)
    file = path.name
    frame = read_table(path)
    frame = canonical_columns(frame, TAG_ALIASES, ["code", "key_areas"], file)
    frame = only_columns(frame, TAG_ALIASES)
    if "support_unit" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("support_unit"))
    problems: list[Problem] = []
    problems += problems_where(frame, pl.col("code").is_null(), file, "code", _("code is empty"))
    frame = frame.with_columns(
        pl.col("key_areas").fill_null("").str.replace_all(r"[、；;，\s]+", ",").alias("raw")
    )
    allowed = "|".join(KEY_AREA_TAGS)
    problems += problems_where(
        frame,
        ~pl.col("raw").str.to_lowercase().str.contains(rf"^,*(({allowed}),*)*$"),
        file,
        "key_areas",
        pl.format(
            _("“{}”: key-area tags must be a comma-separated list of: {}"),
            pl.col("key_areas"),
            pl.lit(", ".join(KEY_AREA_TAGS)),
        ),
    )
    frame = frame.with_columns(_canonical_text(pl.col("raw")).fill_null("").alias("tags"))
    dup = pl.col("code").is_not_null() & pl.col("code").is_duplicated()
    problems += problems_where(
        frame,
        dup,
        file,
        "code",
        pl.format(_("area {} appears more than once"), pl.col("code")),
    )
    codes = frame["code"].drop_nulls().unique().to_list()
    supports = frame["support_unit"].drop_nulls().unique().to_list()
    known = _areas_frame(sorted(set(codes) | set(supports)))
    frame = frame.join(known, on="code", how="left", maintain_order="left").join(
        known.select(
            pl.col("code").alias("support_unit"),
            pl.col("path").alias("support_path"),
            pl.col("stored").alias("support_stored"),
        ),
        on="support_unit",
        how="left",
        maintain_order="left",
    )
    problems += problems_where(
        frame,
        pl.col("code").is_not_null() & pl.col("path").is_null(),
        file,
        "code",
        pl.format(_("unknown area {}"), pl.col("code")),
    )
    problems += problems_where(
        frame,
        pl.col("support_unit").is_not_null() & pl.col("support_path").is_null(),
        file,
        "support_unit",
        pl.format(_("unknown support unit {}"), pl.col("support_unit")),
    )
    problems += problems_where(
        frame,
        pl.col("support_unit").is_not_null() & (pl.col("tags") == ""),
        file,
        "support_unit",
        _("only a key area (with tags) has a support unit"),
    )
    # The support unit must lie outside the key area, and not be a key area itself (after
    # this file).
    new_tags = dict(frame.select("code", "tags").drop_nulls("code").iter_rows())
    frame = frame.with_columns(
        pl.col("support_unit")
        .replace_strict(new_tags, default=None, return_dtype=pl.String)
        .alias("support_new")
    )
    problems += problems_where(
        frame,
        pl.col("support_path").is_not_null()
        & pl.col("path").is_not_null()
        & pl.col("support_path").str.starts_with(pl.col("path")),
        file,
        "support_unit",
        _("the support unit lies inside the key area it should support"),
    )
    problems += problems_where(
        frame,
        pl.col("support_path").is_not_null()
        & (pl.coalesce(pl.col("support_new"), pl.col("support_stored")).fill_null("") != ""),
        file,
        "support_unit",
        pl.format(_("support unit {} is itself a key area"), pl.col("support_unit")),
    )
    if user is not None:
        level = manages_from(user)
        root = None if sees_everything(user) else jurisdiction(user)
        if level is None or (root is None and not sees_everything(user)):
            raise PermissionDenied(_("Only the level above may set key-area tags."))
        prefix = root.path if root is not None else "/"
        for column, path_col in (("code", "path"), ("support_unit", "support_path")):
            outside = pl.col(path_col).is_not_null() & ~pl.col(path_col).str.starts_with(prefix)
            if column == "code":
                outside = outside | (pl.col(path_col).is_not_null() & (pl.col("level") <= level))
            problems += problems_where(
                frame,
                outside,
                file,
                column,
                pl.format(
                    _("you may not set area {} (outside your jurisdiction or not below it)"),
                    pl.col(column),
                ),
            )
    if problems:
        raise ImportRejected(problems)
    ok = frame.filter(pl.col("path").is_not_null())
    summary = TagImportSummary(file=file, rows=frame.height)
    with transaction.atomic():
        changed = _write_tags(
            dict(ok.select("code", "tags").iter_rows()), TagSource.IMPORT, user, now, file
        )
        pairs = ok.filter(pl.col("support_unit").is_not_null())
        existing = {
            k: s
            for k, s in Pairing.objects.filter(key_area_id__in=pairs["code"].to_list()).values_list(
                "key_area_id", "support_unit_id"
            )
        }
        fresh = [
            Pairing(
                key_area_id=c,
                support_unit_id=s,
                support_path=p,
                set_by=user if getattr(user, "pk", None) else None,
                since=now,
            )
            for c, s, p in pairs.select("code", "support_unit", "support_path").iter_rows()
            if existing.get(c) != s
        ]
        Pairing.objects.bulk_create(
            fresh,
            update_conflicts=True,
            unique_fields=["key_area"],
            update_fields=["support_unit", "support_path", "set_by", "since"],
            batch_size=1000,
        )
    summary.updated = changed
    summary.unchanged = ok.height - changed
    summary.tagged = int((ok["tags"] != "").sum())
    summary.cleared = int((ok["tags"] == "").sum())
    summary.pairings = len(fresh)
    for t in KEY_AREA_TAGS:
        summary.by_tag[t] = int(ok["tags"].str.contains(t).sum())
    return summary


# --- default derivation --------------------------------------------------------------------------

#: Township-level names that say what kind of area it is (the NBS division list has state
#: forest farms 林场 / forestry bureaus 林业局, pastures 牧场 and island towns 岛镇/岛乡 as
#: township-level units). Mountain areas cannot be told from a name (山 is everywhere): they
#: come from an import or the level above.
NAME_RULES: tuple[tuple[str, str], ...] = (
    ("forest", r"(林场|林业局)"),
    ("pastoral", r"牧场"),
    ("island", r"岛(镇|乡)$"),
)


@dataclass
class Derivation:
    code: str
    name: str
    level: int
    tags: str
    rule: str  # "name" or "inherited"


def derive_tags(root: Area | None = None) -> list[Derivation]:
    """Tags the default derivation suggests for untagged areas under ``root``:

    1. a township-level unit whose name is a forest farm or forestry bureau (林场, 林业局), a
       pasture (牧场) or an island town (…岛镇, …岛乡) gets that tag;
    2. a rural village (urban-rural code 2xx) of a tagged township — tagged before or by rule
       1 — inherits its township's tags.

    Areas already tagged are never changed. Nothing is written (see :func:`apply_derivation`).
    """
    base = Area.objects.filter(path__startswith=root.path) if root is not None else Area.objects
    out: list[Derivation] = []
    township_tags: dict[str, str] = dict(
        base.filter(level=4).exclude(key_areas="").values_list("code", "key_areas")
    )
    for code, name in base.filter(level=4, key_areas="").values_list("code", "name"):
        tags = normalise_tags(t for t, rx in NAME_RULES if _matches(rx, name))
        if tags:
            out.append(Derivation(code, name, 4, tags, "name"))
            township_tags[code] = tags
    codes = list(township_tags)
    for i in range(0, len(codes), CHUNK):
        part = codes[i : i + CHUNK]
        rows = (
            base.filter(level=5, key_areas="", l4__in=part, urban_rural__startswith="2")
            .values_list("code", "name", "l4")
            .order_by("code")
        )
        out += [Derivation(c, n, 5, township_tags[t], "inherited") for c, n, t in rows]
    return out


def _matches(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def apply_derivation(
    root: Area | None = None, *, user: Any = None, now: dt.datetime | None = None
) -> int:
    """Store what :func:`derive_tags` suggests (with ``user``: only below their level)."""
    found = derive_tags(root)
    if user is not None:
        level = manages_from(user)
        base = jurisdiction(user)
        if level is None or (base is None and not sees_everything(user)):
            raise PermissionDenied(_("Only the level above may set key-area tags."))
        found = [d for d in found if d.level > level]
    with transaction.atomic():
        return _write_tags(
            {d.code: d.tags for d in found},
            TagSource.DERIVED,
            user,
            now or timezone.now(),
            "",
        )


# --- pairing -------------------------------------------------------------------------------------


def set_pairing(
    user: Any, key_area: Area, support_code: str, *, now: dt.datetime | None = None
) -> Pairing:
    """Pair ``key_area`` with the unit ``support_code``, on behalf of the level above, which
    must see both. The support unit is not a key area and does not lie inside this one."""
    if not may_set_tags(user, key_area):
        raise PermissionDenied(_("Only the level above may pair this key area."))
    if not key_area.key_areas:
        raise ValidationError(_("Only a key area (with tags) has a support unit."))
    support = scope_areas(user).filter(code=support_code.strip()).first()
    if support is None:
        raise ValidationError(
            _("No such area in your jurisdiction: %(code)s.") % {"code": support_code}
        )
    if support.path.startswith(key_area.path):
        raise ValidationError(_("The support unit lies inside the key area it should support."))
    if support.key_areas:
        raise ValidationError(_("The support unit is itself a key area."))
    with transaction.atomic():
        pairing, _created = Pairing.objects.update_or_create(
            key_area=key_area,
            defaults={
                "support_unit": support,
                "support_path": support.path,
                "set_by": user if getattr(user, "pk", None) else None,
                "since": now or timezone.now(),
            },
        )
    return pairing


# --- support requests ----------------------------------------------------------------------------


def _in_scope(user: Any, path: str) -> bool:
    if sees_everything(user):
        return True
    root = jurisdiction(user)
    return root is not None and path.startswith(root.path)


def file_request(
    user: Any,
    key_area: Area,
    need: str,
    *,
    quantity: int | None = None,
    note: str = "",
    hours: float = DEFAULT_RESPONSE_HOURS,
    now: dt.datetime | None = None,
) -> SupportRequest:
    """A key area asks its paired unit for ``need``; the unit has ``hours`` to respond. The
    request becomes a dispatch task owned by the paired unit at the next task sync."""
    now = now or timezone.now()
    if not _in_scope(user, key_area.path):
        raise PermissionDenied(_("You may not file requests for this area."))
    if need not in Need.values:
        raise ValidationError(
            _("A need must be one of: %(needs)s.") % {"needs": ", ".join(Need.values)}
        )
    if not 0 < hours <= MAX_RESPONSE_HOURS:
        raise ValidationError(
            _("The response deadline must lie between 1 hour and %(n)d hours.")
            % {"n": MAX_RESPONSE_HOURS}
        )
    if quantity is not None and quantity < 0:
        raise ValidationError(_("A quantity cannot be negative."))
    pairing = (
        Pairing.objects.select_related("support_unit").filter(key_area_id=key_area.code).first()
    )
    if pairing is None:
        raise ValidationError(_("This key area has no paired support unit yet."))
    return SupportRequest.objects.create(
        key_area=key_area,
        key_path=key_area.path,
        support_unit=pairing.support_unit,
        support_path=pairing.support_unit.path,
        need=need,
        quantity=quantity,
        note=note.strip()[:300],
        filed_at=now,
        respond_by=now + dt.timedelta(hours=hours),
        filed_by=user if getattr(user, "pk", None) else None,
    )


def answer_request(
    user: Any, request: SupportRequest, answer: str, *, now: dt.datetime | None = None
) -> SupportRequest:
    """The paired unit (or a level above it) answers: what it sends, or why not."""
    if not _in_scope(user, request.support_path):
        raise PermissionDenied(_("Only the support unit or a level above it may answer."))
    if not answer.strip():
        raise ValidationError(_("An answer needs text: what is sent, and when."))
    with transaction.atomic():
        n = SupportRequest.objects.filter(pk=request.pk, status=RequestStatus.OPEN).update(
            status=RequestStatus.ANSWERED,
            answer=answer.strip()[:300],
            answered_at=now or timezone.now(),
            answered_by=user if getattr(user, "pk", None) else None,
        )
    if n == 0:
        raise ValidationError(_("This request is no longer open."))
    request.refresh_from_db()
    return request


def withdraw_request(
    user: Any, request: SupportRequest, *, now: dt.datetime | None = None
) -> SupportRequest:
    """The key area (or a level above it) withdraws an open request."""
    if not _in_scope(user, request.key_path):
        raise PermissionDenied(_("Only the key area or a level above it may withdraw."))
    n = SupportRequest.objects.filter(pk=request.pk, status=RequestStatus.OPEN).update(
        status=RequestStatus.WITHDRAWN, answered_at=now or timezone.now()
    )
    if n == 0:
        raise ValidationError(_("This request is no longer open."))
    request.refresh_from_db()
    return request


# --- the demo ------------------------------------------------------------------------------------


def load_demo(
    province: str, expected: list[dict[str, Any]], *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The demo's support mechanism: every key area of each county is paired with the
    county's most populous untagged township (the county seat, where the county hospital
    is); and, when the demo has its remote township (``expected``: the truth entries of
    :func:`ruralwatch.synth.keyareas.remote_key_areas`), its first rising village asks for
    oxygen. Returns what was made."""
    now = now or timezone.now()
    root = Area.objects.get(code=province)
    pairs = 0
    with transaction.atomic():
        for county in Area.objects.filter(level=3, path__startswith=root.path).order_by("code"):
            seat = (
                Area.objects.filter(level=4, parent=county, key_areas="")
                .order_by("-population", "code")
                .first()
            )
            if seat is None:
                continue
            keys = list(
                Area.objects.filter(path__startswith=county.path)
                .exclude(key_areas="")
                .values_list("code", flat=True)
            )
            Pairing.objects.bulk_create(
                [
                    Pairing(key_area_id=c, support_unit=seat, support_path=seat.path, since=now)
                    for c in keys
                ],
                update_conflicts=True,
                unique_fields=["key_area"],
                update_fields=["support_unit", "support_path", "since"],
                batch_size=1000,
            )
            pairs += len(keys)
        rising = sorted(e["area"] for e in expected if e.get("status") == "rising")
        requests = 0
        if rising:
            village = Area.objects.get(code=rising[0])
            pairing = Pairing.objects.select_related("support_unit").get(key_area=village)
            SupportRequest.objects.create(
                key_area=village,
                key_path=village.path,
                support_unit=pairing.support_unit,
                support_path=pairing.support_unit.path,
                need=Need.OXYGEN,
                quantity=1,
                note="村里新发病例，老人多，需要一台制氧机",
                filed_at=now,
                respond_by=now + dt.timedelta(hours=DEFAULT_RESPONSE_HOURS),
            )
            requests = 1
    return {"pairings": pairs, "requests": requests}
