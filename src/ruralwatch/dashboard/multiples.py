"""Small multiples of the children's curves (Vega-Lite via Altair): one small panel per child
area, the same time axis, each its own y scale (a big prefecture does not flatten the others),
in the order of the ranking. Drawn by the page's local vega-embed bundle like the other charts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
from django.utils.translation import gettext as _

BAR_COLOUR = "#c0392b"
#: Panels per row on a wide screen (the chart wraps on a narrow one through its width).
COLUMNS = 4


def small_multiples(rows: Sequence[dict[str, Any]], indicator_name: str) -> dict[str, Any] | None:
    """The spec for ``rows`` (code, name, date, value: one per child and day), ``None`` if
    there is nothing to draw."""
    if not rows:
        return None
    order = list(dict.fromkeys(r["name"] for r in rows))
    # The values go in after to_dict: Altair would validate and walk them value by value.
    data = alt.Data(values=[])  # type: ignore[no-untyped-call]
    chart = (
        alt.Chart(data)
        .mark_area(color=BAR_COLOUR, opacity=0.75, line={"color": BAR_COLOUR, "strokeWidth": 1})
        .encode(
            x=alt.X(
                "utcyearmonthdate(date):T",
                title=None,
                axis=alt.Axis(format="%m-%d", labelAngle=0, tickCount=3, labelFontSize=9),
            ),
            y=alt.Y("value:Q", title=None, axis=alt.Axis(tickCount=3, labelFontSize=9)),
            tooltip=[
                alt.Tooltip("name:N", title=_("Name")),
                alt.Tooltip("utcyearmonthdate(date):T", title=_("Date"), format="%Y-%m-%d"),
                alt.Tooltip("value:Q", title=indicator_name or _("Value"), format=",.0f"),
            ],
        )
        .properties(width=150, height=70)
        .facet(
            facet=alt.Facet("name:N", title=None, sort=order, header=alt.Header(labelFontSize=11)),
            columns=COLUMNS,
        )
        .resolve_scale(y="independent")
    )
    spec: dict[str, Any] = chart.to_dict(validate=False)  # the tests validate it
    spec["data"] = {
        "values": [{"name": r["name"], "date": r["date"], "value": r["value"]} for r in rows]
    }
    return spec
