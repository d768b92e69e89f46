"""Issue a scheduling-meeting briefing: compose, render (HTML, then PDF with WeasyPrint),
archive the file and its row.

:func:`issue_briefing` is the one entry point (the CLI, the pages, the API, the cycle and the
demo call it). A county briefing is one to three A4 pages; charts are vector SVG drawn by
vl-convert and embedded in the HTML; the CJK font (Noto Sans CJK, Debian fonts-noto-cjk) is
embedded in the PDF as a subset.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from ruralwatch.areas.models import Area
from ruralwatch.areas.selectors import child_shapes
from ruralwatch.briefings import charts
from ruralwatch.briefings.models import Briefing, Format, Language
from ruralwatch.briefings.selectors import (
    BriefingContent,
    audit_label,
    briefing_content,
)
from ruralwatch.core import pdf
from ruralwatch.core.dates import in_span, iso_day

LANGUAGES = tuple(Language.values)
FORMATS = tuple(Format.values)


class BriefingError(ValueError):
    """A briefing that cannot be issued as asked (unknown area, bad date, language, format)."""


def parse_date(value: dt.date | str) -> dt.date:
    """A cycle date from a date or an ISO ``YYYY-MM-DD`` string within the plausible span."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        day: dt.date | None = value
    else:
        day = iso_day(str(value).strip())
        if day is None:
            raise BriefingError(_("The date must be a day written YYYY-MM-DD, not “%s”.") % value)
    assert day is not None
    if not in_span(day):
        raise BriefingError(_("The date %s is outside the span a briefing can cover.") % day)
    return day


def _check(language: str, fmt: str) -> tuple[str, str]:
    language = language.lower()
    if language == "zh" or language.startswith("zh-"):
        language = Language.ZH_HANS
    if language not in LANGUAGES:
        raise BriefingError(
            _("Unknown language “%(lang)s” (use one of: %(choices)s).")
            % {"lang": language, "choices": ", ".join(LANGUAGES)}
        )
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise BriefingError(
            _("Unknown format “%(fmt)s” (use one of: %(choices)s).")
            % {"fmt": fmt, "choices": ", ".join(FORMATS)}
        )
    return language, fmt


def render_html(content: BriefingContent, *, issue: int, revision: int = 1) -> str:
    """The briefing as a standalone HTML document (in the active language)."""
    h = content.headline or {}
    marks = []
    if h.get("rebound_event_start"):
        start = iso_day(str(h["rebound_event_start"]))
        if start is not None:
            marks.append((start, str(h.get("rebound_event_label") or "")))
    curve_svg = charts.data_uri(charts.to_svg(charts.epicurve(content.series, marks)))
    # The sub-areas' boundaries where they are known (imported or derived), else points.
    shapes = child_shapes(content.area, pixels=300)
    map_spec = charts.shapes_map(shapes, content.children) or charts.area_map(
        content.map_points, content.map_labels
    )
    map_svg = charts.data_uri(charts.to_svg(map_spec))
    audit = [
        {"kind": kind, "label": audit_label(kind), "n": n}
        for kind, n in (content.keygroups["audit"] or {}).items()
        if n
    ]
    return render_to_string(
        "briefings/briefing.html",
        {
            "c": content,
            "h": content.headline,
            "issue": issue,
            "revision": revision,
            "curve_svg": curve_svg,
            "map_svg": map_svg,
            "map_shapes": bool(shapes),
            "map_derived": any(derived for _c, derived, _t in shapes),
            "audit": audit,
            "language": translation.get_language(),
            "issued_at": timezone.localtime(),
            "font_family": pdf.FONT_FAMILY,
        },
    )


def render_pdf(html: str) -> tuple[bytes, int]:
    """The HTML as an A4 PDF (WeasyPrint, :mod:`ruralwatch.core.pdf`) and its number of pages."""
    return pdf.render_pdf(html, base_url=str(Path(__file__).parent))


def _next_issue(area: Area, date: dt.date) -> int:
    """The issue number of a new briefing of ``area`` on ``date``: the date's issue if one
    exists, else one more than the area's last."""
    same = Briefing.objects.filter(area=area, date=date).aggregate(i=Max("issue"))["i"]
    if same is not None:
        return int(same)
    last = Briefing.objects.filter(area=area).aggregate(i=Max("issue"))["i"] or 0
    return int(last) + 1


def storage_dir() -> Path:
    return Path(settings.RURALWATCH_BRIEFINGS_DIR)


def file_path(briefing: Briefing) -> Path:
    """Where the archived file of ``briefing`` lies."""
    return storage_dir() / briefing.file


def read_file(briefing: Briefing) -> bytes:
    """The archived document, checked against its recorded SHA-256."""
    data = file_path(briefing).read_bytes()
    if hashlib.sha256(data).hexdigest() != briefing.sha256:
        raise BriefingError(_("The archived file of this briefing has been altered."))
    return data


def issue_briefing(
    area_code: str,
    date: dt.date | str,
    *,
    language: str = "zh-hans",
    fmt: str = "pdf",
    user: Any = None,
    now: dt.datetime | None = None,
) -> Briefing:
    """Compose, render and archive the briefing of ``area_code`` for ``date``.

    ``language`` is ``zh-hans`` (default) or ``en``; ``fmt`` is ``pdf`` or ``html``. ``now``
    (aware; default the current time) decides which tasks are overdue. Each call archives a
    new file: the first briefing of an area and date gets the area's next issue number, later
    ones (other language, format, or the same again) share it, and the same language and
    format again becomes the next *revision* (nothing is overwritten). Raises
    :class:`BriefingError` for an unknown area, a bad date, language or format. The caller
    checks that ``user`` may see the area (:func:`accounts.access.access_area_by_code`).
    """
    began = time.perf_counter()
    day = parse_date(date)
    language, fmt = _check(language, fmt)
    area = Area.objects.filter(code=str(area_code).strip()).first()
    if area is None:
        raise BriefingError(_("Unknown area %s.") % area_code)
    with translation.override(language):
        content = briefing_content(area, day, language, now=now)
        for attempt in range(3):
            issue = _next_issue(area, day)
            revision = (
                Briefing.objects.filter(
                    area=area, date=day, language=language, format=fmt
                ).aggregate(r=Max("revision"))["r"]
                or 0
            ) + 1
            html = render_html(content, issue=issue, revision=revision)
            if fmt == Format.PDF:
                data, pages = render_pdf(html)
            else:
                data, pages = html.encode("utf-8"), None
            digest = hashlib.sha256(data).hexdigest()
            rel = f"{area.code}/{day.isoformat()}-{issue:04d}-{language}-r{revision}.{fmt}"
            path = storage_dir() / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            # The file first (under a temporary name), then the row and the final name in one
            # transaction: no row ever points at a file that is not there.
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(data)
            try:
                with transaction.atomic():
                    briefing = Briefing.objects.create(
                        area=area,
                        date=day,
                        language=language,
                        format=fmt,
                        issue=issue,
                        revision=revision,
                        file=rel,
                        pages=pages,
                        size=len(data),
                        sha256=digest,
                        figures=content.figures,
                        seconds=round(time.perf_counter() - began, 3),
                        created_by=user if getattr(user, "is_authenticated", False) else None,
                    )
                    tmp.replace(path)
            except IntegrityError:  # someone issued the same revision meanwhile: next one
                tmp.unlink(missing_ok=True)
                if attempt == 2:
                    raise
                continue
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return briefing
    raise AssertionError("unreachable")
