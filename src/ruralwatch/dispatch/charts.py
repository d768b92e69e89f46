"""The chart of a signal task (Vega-Lite through Altair): the indicator's series around the
signal, the days that raised an alarm, and the method's threshold and expected value on them.

The dashboard's epidemic curve (``dashboard/charts.py``) shows a whole area's curve with a
7-day mean; this one shows what one detection rule saw, so it is drawn here, where the task's
evidence lives (the dashboard is a layer above this app). The page draws it with the same
local vega bundle as the dashboard.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import altair as alt
from django.utils.translation import gettext as _

BAR = "#9ecae1"
ALARM = "#c0392b"
THRESHOLD = "#1f2933"


def _data(values: Sequence[dict[str, Any]]) -> alt.Data:
    return alt.Data(values=list(values))  # type: ignore[no-untyped-call]


def _y_ticks(top: float) -> list[float]:
    """The ticks of the count axis, up to a round number (steps of 1, 2 or 5 × 10ⁿ, whole
    counts) at least 8 % above the highest mark. Without it Vega rounded the domain to the
    highest value itself (55 stayed 55 while the axis labelled 50), so the tallest bar ran
    into the frame as if cut off, and a threshold at the top was drawn half outside."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top * 1.08 / 6
    power = 10.0 ** math.floor(math.log10(raw))
    step = max(1.0, next(m * power for m in (1, 2, 5, 10) if m * power >= raw))
    return [i * step for i in range(math.ceil(top * 1.08 / step) + 1)]


def signal_chart(
    series: Sequence[tuple[dt.date, float | None]],
    alarms: Sequence[dict[str, Any]],
    signal_date: dt.date,
    weekly: bool,
) -> dict[str, Any] | None:
    """Bars of the counts (the signal's own day or week and other alarms in red), the
    threshold of each alarm as a dark tick and its expected value as a hollow circle."""
    if not series or all(v is None for _d, v in series):
        return None
    alarm_days = {a["date"] for a in alarms}
    rows = [
        {
            "date": day.isoformat(),
            "value": value,
            "state": (
                _("this signal")
                if day == signal_date
                else (_("other alarm") if day in alarm_days else _("no alarm"))
            ),
        }
        for day, value in series
    ]
    marks = [
        {
            "date": a["date"].isoformat(),
            "threshold": a["threshold"],
            "expected": a["expected"],
        }
        for a in alarms
    ]
    ticks = _y_ticks(
        max(
            [v for _d, v in series if v is not None]
            + [m[k] for m in marks for k in ("threshold", "expected") if m[k] is not None]
        )
    )
    # Days (or weeks) as bands: a bar, its threshold tick and its expected value line up, and
    # a day without a report keeps its place, empty.
    days = [day.isoformat() for day, _v in series]
    # Outer padding: the first bar keeps clear of the count axis.
    x = alt.X(
        "date:O",
        title=_("Week ending") if weekly else None,
        sort=days,
        scale=alt.Scale(domain=days, paddingInner=0.15, paddingOuter=0.4),
        axis=alt.Axis(labelExpr="slice(datum.value, 5)", labelAngle=-45, labelOverlap=True),
    )
    tip_date = alt.Tooltip("date:N", title=_("Date"))
    bars = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y(
                "value:Q",
                title=_("Weekly count") if weekly else _("Daily count"),
                scale=alt.Scale(domain=[0, ticks[-1]], nice=False, zero=True),
                axis=alt.Axis(values=ticks),
            ),
            color=alt.Color(
                "state:N",
                title=None,
                scale=alt.Scale(
                    domain=[_("this signal"), _("other alarm"), _("no alarm")],
                    range=[ALARM, "#e8a39c", BAR],
                ),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[tip_date, alt.Tooltip("value:Q", title=_("Count"), format=",.0f")],
        )
    )
    layers: list[Any] = [bars]
    if any(m["threshold"] is not None for m in marks):
        layers.append(
            alt.Chart(_data([m for m in marks if m["threshold"] is not None]))
            .mark_tick(color=THRESHOLD, thickness=3)  # as wide as the band (default)
            .encode(
                x=x,
                y="threshold:Q",
                tooltip=[tip_date, alt.Tooltip("threshold:Q", title=_("Threshold"), format=",.2f")],
            )
        )
    if any(m["expected"] is not None for m in marks):
        layers.append(
            alt.Chart(_data([m for m in marks if m["expected"] is not None]))
            .mark_point(color=THRESHOLD, filled=False, size=60)
            .encode(
                x=x,
                y="expected:Q",
                tooltip=[
                    tip_date,
                    alt.Tooltip("expected:Q", title=_("Expected value"), format=",.2f"),
                ],
            )
        )
    spec: dict[str, Any] = alt.layer(*layers).properties(width="container", height=240).to_dict()
    return spec
