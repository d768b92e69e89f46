"""The outlier flags of an area page (:mod:`ruralwatch.dashboard.flags`):

- ``{% area_flags area overview as fl %}``: the flags of the page's 7 days (``None`` on a
  page without figures);
- ``{% flag_mark fl code %}``: the ring beside a row's count in the children's table;
- ``spec|with_flag_marks:fl``: the epidemic curve with a ring on the days holding a flag.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from ruralwatch.dashboard.flags import AreaFlags, child_note, with_curve_marks
from ruralwatch.dashboard.flags import area_flags as _area_flags

register = template.Library()


@register.simple_tag
def area_flags(area: Any, overview: Any) -> AreaFlags | None:
    if overview.date is None or overview.no_data or overview.window_start is None:
        return None
    indicator = getattr(overview, "indicator", None)
    series = [day for day, _v in overview.series]
    return _area_flags(
        area,
        overview.window_start,
        overview.date,
        indicator=indicator.code if indicator is not None else None,
        curve=(series[0], series[-1]) if series else None,
        indicators=list(overview.indicators) or None,
    )


@register.simple_tag
def flag_mark(flags: AreaFlags | None, code: str) -> SafeString | str:
    rows = flags.by_child.get(code) if flags is not None else None
    if not rows:
        return ""
    note = child_note(rows)
    return format_html(
        '<span class="flag-mark" tabindex="0" title="{}" aria-label="{}">{}</span> ',
        note,
        _("%(n)s flagged value(s)") % {"n": len(rows)},
        len(rows),
    )


@register.filter
def with_flag_marks(spec: Any, flags: AreaFlags | None) -> Any:
    return with_curve_marks(spec, flags)
