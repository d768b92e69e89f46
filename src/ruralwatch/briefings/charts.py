"""The briefing's charts: Vega-Lite specs built with Altair, rendered to SVG by vl-convert.

Printed charts have a fixed size in CSS pixels (no ``container`` width), a CJK font for the
place names, and no interaction. The SVG is embedded in the HTML, so WeasyPrint draws it as
vectors in the PDF.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Final

import altair as alt
from django.utils.translation import gettext as _

from ruralwatch.core.pdf import CJK_FONT

FONT = CJK_FONT
CASES_COLOUR = "#9ecae1"
MEAN_COLOUR = "#c0392b"
NO_DATA_COLOUR = "#c8c8c8"
SCHEME: Final = "orangered"
#: Colours of the judged epidemic level (same order as the levels).
LEVEL_COLOURS = {
    "below_threshold": "#74c476",
    "low": "#c7e9c0",
    "medium": "#fdae6b",
    "high": "#e6550d",
    "very_high": "#a50f15",
}

CONFIG: dict[str, Any] = {
    "font": FONT,
    "view": {"stroke": None},
    "axis": {"labelFontSize": 9, "titleFontSize": 9, "labelFont": FONT, "titleFont": FONT},
    "legend": {"labelFontSize": 9, "titleFontSize": 9, "labelFont": FONT, "titleFont": FONT},
    "text": {"font": FONT},
}


def _inline(values: Sequence[dict[str, Any]]) -> alt.Data:
    return alt.Data(values=list(values))  # type: ignore[no-untyped-call]


def _finish(chart: Any) -> dict[str, Any]:
    # The specs are built here from known fields: schema validation would only cost time.
    spec: dict[str, Any] = chart.to_dict(validate=False)
    spec["config"] = {**CONFIG, **spec.get("config", {})}
    spec["background"] = "white"
    return spec


def trailing_mean(values: Sequence[float | None], window: int = 7) -> list[float | None]:
    """Mean of the reported values in each trailing window (``None`` if none reported)."""
    out: list[float | None] = []
    for i in range(len(values)):
        seen = [v for v in values[max(0, i - window + 1) : i + 1] if v is not None]
        out.append(sum(seen) / len(seen) if seen else None)
    return out


def epicurve(
    series: Sequence[tuple[dt.date, float | None]], marks: Sequence[tuple[dt.date, str]] = ()
) -> dict[str, Any] | None:
    """Daily new cases as bars, the 7-day mean as a line, dashed rules at ``marks`` (events
    such as the Spring Festival); ``None`` if nothing was reported."""
    if not series or all(v is None for _d, v in series):
        return None
    means = trailing_mean([v for _d, v in series])
    rows = [
        {"date": d.isoformat(), "value": v, "mean": None if m is None else round(m, 2)}
        for (d, v), m in zip(series, means, strict=True)
    ]
    x = alt.X(
        "utcyearmonthdate(date):T",
        title=None,
        axis=alt.Axis(format="%m-%d", labelAngle=0, tickCount=8, grid=False),
    )
    bars = (
        alt.Chart(_inline(rows))
        .mark_bar(color=CASES_COLOUR)
        .encode(x=x, y=alt.Y("value:Q", title=_("New cases")))
    )
    line = (
        alt.Chart(_inline(rows)).mark_line(color=MEAN_COLOUR, strokeWidth=2).encode(x=x, y="mean:Q")
    )
    layers: list[Any] = [bars, line]
    first, last = series[0][0], series[-1][0]
    shown = [(d, label) for d, label in marks if first <= d <= last]
    if shown:
        events = _inline([{"date": d.isoformat(), "label": label} for d, label in shown])
        layers.append(
            alt.Chart(events)
            .mark_rule(color="#555", strokeDash=[4, 3])
            .encode(x="utcyearmonthdate(date):T")
        )
        layers.append(
            alt.Chart(events)
            .mark_text(align="left", dx=3, dy=-4, fontSize=9, color="#333", baseline="top")
            .encode(x="utcyearmonthdate(date):T", y=alt.value(0), text="label:N")
        )
    return _finish(alt.layer(*layers).properties(width=640, height=150))


def _extent(points: Sequence[dict[str, Any]], share: float = 0.08) -> list[dict[str, float]]:
    lons = [p["lon"] for p in points]
    lats = [p["lat"] for p in points]
    pad_lon = max((max(lons) - min(lons)) * share, 0.01)
    pad_lat = max((max(lats) - min(lats)) * share, 0.01)
    return [
        {"lon": min(lons) - pad_lon, "lat": min(lats) - pad_lat},
        {"lon": max(lons) + pad_lon, "lat": max(lats) + pad_lat},
    ]


def area_map(
    points: Sequence[dict[str, Any]],
    labels: Sequence[dict[str, Any]] = (),
    *,
    width: int = 300,
    height: int = 250,
) -> dict[str, Any] | None:
    """Circles at the points' coordinates (villages of a county, or sub-areas), sized by
    population and coloured by 7-day incidence (grey: no report); ``labels`` (name, lon, lat)
    are written on top, e.g. the townships at the centre of their villages. ``None`` if a
    point has no coordinates."""
    if not points or any(p.get("lon") is None or p.get("lat") is None for p in points):
        return None
    rows = [
        {
            "name": p["name"],
            "lon": p["lon"],
            "lat": p["lat"],
            "size": p.get("population") or 0,
            "incidence": None if p.get("incidence") is None else round(p["incidence"], 1),
        }
        for p in points
    ]
    position = {"longitude": "lon:Q", "latitude": "lat:Q"}
    circles = (
        alt.Chart(_inline(rows))
        .mark_circle(opacity=0.9, stroke="#555", strokeWidth=0.3)
        .encode(
            **position,
            size=alt.Size("size:Q", scale=alt.Scale(range=[8, 160]), legend=None),
            color=alt.condition(
                "datum.incidence == null",
                alt.value(NO_DATA_COLOUR),
                alt.Color(
                    "incidence:Q",
                    title=_("per 100,000, 7 days"),
                    scale=alt.Scale(scheme=SCHEME, zero=True),
                    legend=alt.Legend(orient="bottom", gradientLength=160, gradientThickness=8),
                ),
            ),
        )
    )
    layers: list[Any] = [
        alt.Chart(_inline(_extent(rows))).mark_point(opacity=0).encode(**position),
        circles,
    ]
    if labels:
        text = [{"name": lb["name"], "lon": lb["lon"], "lat": lb["lat"]} for lb in labels]
        layers.append(
            alt.Chart(_inline(text))
            .mark_text(fontSize=8, color="#111", fontWeight="bold")
            .encode(**position, text="name:N")
        )
    chart = alt.layer(*layers).project(type="mercator").properties(width=width, height=height)
    return _finish(chart)


def shapes_map(
    shapes: Sequence[tuple[str, bool, str]],
    children: Sequence[dict[str, Any]],
    *,
    width: int = 300,
    height: int = 250,
) -> dict[str, Any] | None:
    """The sub-areas' shapes (code, derived, GeoJSON text: ``areas.selectors.child_shapes``)
    coloured by 7-day incidence (grey: no report), names at their points; shapes derived
    from points have a dashed outline. ``None`` without shapes."""
    import json

    if not shapes:
        return None
    rows = {c["code"]: c for c in children}
    features = []
    for code, derived, text in shapes:
        c = rows.get(code, {})
        inc = c.get("incidence")
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(text),
                "properties": {
                    "name": c.get("name", code),
                    "incidence": None if inc is None else round(inc, 1),
                    "derived": derived,
                    "lon": c.get("lon"),
                    "lat": c.get("lat"),
                },
            }
        )
    colour = alt.Color(
        "properties.incidence:Q",
        title=_("per 100,000, 7 days"),
        scale=alt.Scale(scheme=SCHEME, zero=True),
        legend=alt.Legend(orient="bottom", gradientLength=160, gradientThickness=8),
    )
    fill = alt.condition("datum.properties.incidence == null", alt.value(NO_DATA_COLOUR), colour)
    outline = alt.condition("datum.properties.derived", alt.value([3, 2]), alt.value([1, 0]))
    layers: list[Any] = [
        alt.Chart(_inline(features))
        .mark_geoshape(stroke="#555", strokeWidth=0.4, invalid=None)
        .encode(color=fill, strokeDash=outline)
    ]
    if len(features) <= 20:
        layers.append(
            alt.Chart(_inline(features))
            .transform_filter("datum.properties.lon != null")
            .mark_text(fontSize=7, color="#111")
            .encode(
                longitude="properties.lon:Q", latitude="properties.lat:Q", text="properties.name:N"
            )
        )
    chart = alt.layer(*layers).project(type="mercator").properties(width=width, height=height)
    return _finish(chart)


def to_svg(spec: dict[str, Any] | None) -> str:
    """The spec drawn as SVG (text as text, in the CJK font), or ``""`` without a spec."""
    if spec is None:
        return ""
    import vl_convert

    svg: str = vl_convert.vegalite_to_svg(spec, allowed_base_urls=[])
    return svg


def data_uri(svg: str) -> str:
    """The SVG as a ``data:`` URI for an ``<img>``: WeasyPrint reads it with its SVG parser
    (still vectors in the PDF), much faster than the HTML parser would read inline SVG."""
    import base64

    if not svg:
        return ""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
