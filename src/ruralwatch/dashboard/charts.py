"""Vega-Lite specs (built with Altair) for the dashboard: a map or ranking of the children
and the epidemic curve. Pure functions of selector output; labels in the active language.

The specs are embedded in the page as JSON and drawn by vega-embed from the local bundle
(see :mod:`ruralwatch.dashboard.views`), and the same specs can be rendered to SVG/PNG by
vl-convert for printed briefings.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Final

import altair as alt
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from ruralwatch.assessments.selectors import BAND_TITLES

NO_DATA_COLOUR = "#c8c8c8"
CASES_COLOUR = "#9ecae1"
MEAN_COLOUR = "#c0392b"
NOWCAST_COLOUR = "#6a51a3"
SCHEME: Final = "orangered"


def _inline(values: Sequence[dict[str, Any]]) -> alt.Data:
    """Data inline in the spec (not moved to top-level ``datasets``). The values are set after
    construction: Altair validates a new ``Data`` against the schema value by value, which
    cost tens of milliseconds a chart on every page (the dashboard's tests validate specs)."""
    data = alt.Data(values=[])  # type: ignore[no-untyped-call]
    data.values = list(values)
    return data


def _chart_data(
    children: Sequence[dict[str, Any]], url_for: Callable[[str], str]
) -> list[dict[str, Any]]:
    return [
        {
            "code": c["code"],
            "name": c["name"],
            "lon": c["lon"],
            "lat": c["lat"],
            "population": c["population"],
            "size": c["population"] or 0,
            "cases": c["cases"],
            "incidence": None if c["incidence"] is None else round(c["incidence"], 2),
            "url": url_for(c["code"]),
        }
        for c in children
    ]


def _extent(values: Sequence[dict[str, Any]], share: float = 0.12) -> list[dict[str, float]]:
    """Two corners around the points, ``share`` of their span (at least 0.01°) outside."""
    lons = [v["lon"] for v in values]
    lats = [v["lat"] for v in values]
    pad_lon = max((max(lons) - min(lons)) * share, 0.01)
    pad_lat = max((max(lats) - min(lats)) * share, 0.01)
    return [
        {"lon": min(lons) - pad_lon, "lat": min(lats) - pad_lat},
        {"lon": max(lons) + pad_lon * 2, "lat": max(lats) + pad_lat},  # room for labels
    ]


def _tooltip() -> list[alt.Tooltip]:
    return [
        alt.Tooltip("name:N", title=_("Name")),
        alt.Tooltip("code:N", title=_("Code")),
        alt.Tooltip("cases:Q", title=_("Cases, last 7 days"), format=",.0f"),
        alt.Tooltip("incidence:Q", title=_("Incidence per 100,000, 7 days"), format=",.1f"),
        alt.Tooltip("population:Q", title=_("Population"), format=","),
    ]


def _incidence_colour() -> alt.Color:
    return alt.Color(
        "incidence:Q",
        title=_("per 100,000"),
        scale=alt.Scale(scheme=SCHEME, zero=True),
        legend=alt.Legend(orient="bottom", gradientLength=180),
    )


def children_map(
    children: Sequence[dict[str, Any]], url_for: Callable[[str], str]
) -> dict[str, Any]:
    """Circles at the children's coordinates, sized by population, coloured by incidence.

    Every child must have ``lon`` and ``lat``; children without data are grey.
    """
    values = _chart_data(children, url_for)
    position = {"longitude": "lon:Q", "latitude": "lat:Q"}
    circles = (
        alt.Chart()
        .mark_circle(opacity=0.85, stroke="#444", strokeWidth=0.6, cursor="pointer")
        .encode(
            **position,
            size=alt.Size("size:Q", scale=alt.Scale(range=[40, 900]), legend=None),
            color=alt.condition(
                "datum.incidence == null", alt.value(NO_DATA_COLOUR), _incidence_colour()
            ),
            tooltip=_tooltip(),
        )
    )
    labels = (
        alt.Chart()
        .mark_text(align="left", baseline="middle", dx=18, fontSize=11, color="#333")
        .encode(**position, text="name:N")
    )
    # Invisible corners a little outside the points, so that the projection's fit leaves a
    # margin and no circle or label is cut at the edge.
    margin = alt.Chart(_inline(_extent(values))).mark_text(text="", opacity=0).encode(**position)
    chart = (
        alt.layer(margin, circles, labels, data=_inline(values))
        .project(type="mercator")
        .properties(width="container", height=380)
    )
    return chart.to_dict()


def children_ranking(
    children: Sequence[dict[str, Any]], url_for: Callable[[str], str]
) -> dict[str, Any]:
    """Children ranked by incidence (bars); for children without coordinates. A fixed height
    from the number of bars (a step height makes Vega-Lite drop the container's fit and warn)."""
    chart = (
        alt.Chart(_inline(_chart_data(children, url_for)))
        .mark_bar(cursor="pointer")
        .encode(
            x=alt.X("incidence:Q", title=_("Incidence per 100,000, 7 days")),
            y=alt.Y("name:N", title=None, sort="-x"),
            color=alt.condition(
                "datum.incidence == null", alt.value(NO_DATA_COLOUR), _incidence_colour()
            ),
            tooltip=_tooltip(),
        )
        .properties(
            width="container",
            height=22 * len(children),
            autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
        )
    )
    spec: dict[str, Any] = chart.to_dict(validate=False)
    return spec


def children_chart(
    children: Sequence[dict[str, Any]], url_for: Callable[[str], str], has_coordinates: bool
) -> dict[str, Any] | None:
    """The map if every child has coordinates, else the ranking; ``None`` without children."""
    if not children:
        return None
    if has_coordinates:
        return children_map(children, url_for)
    return children_ranking(children, url_for)


def trailing_mean(values: Sequence[float | None], window: int = 7) -> list[float | None]:
    """Mean of the reported values in each trailing window (``None`` if none reported)."""
    out: list[float | None] = []
    for i in range(len(values)):
        seen = [v for v in values[max(0, i - window + 1) : i + 1] if v is not None]
        out.append(sum(seen) / len(seen) if seen else None)
    return out


def epicurve(
    series: Sequence[tuple[dt.date, float | None]],
    title: str | None = None,
    band: Sequence[dict[str, Any]] = (),
) -> dict[str, Any] | None:
    """Daily counts as bars (gaps where nothing was reported) and the 7-day mean as a line;
    ``title``: the indicator's name (default: new cases); ``band``: the nowcast of the last
    days (``ruralwatch.assessments.selectors.nowcast_band``), drawn as its interval and mean."""
    title = title or _("New cases")
    if not series or all(v is None for _d, v in series):
        return None
    means = trailing_mean([v for _d, v in series])
    values = [
        {
            "date": day.isoformat(),
            "value": value,
            "mean": None if mean is None else round(mean, 2),
        }
        for (day, value), mean in zip(series, means, strict=True)
    ]
    data = _inline([])  # the values go in after to_dict (Altair walks them value by value)
    x = alt.X(
        "utcyearmonthdate(date):T",
        title=None,
        axis=alt.Axis(format="%m-%d", labelAngle=0, tickCount=8),
    )
    date_tip = alt.Tooltip("utcyearmonthdate(date):T", title=_("Date"), format="%Y-%m-%d")
    bars = (
        alt.Chart(data)
        .mark_bar(color=CASES_COLOUR)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=title),
            tooltip=[date_tip, alt.Tooltip("value:Q", title=title, format=",.0f")],
        )
    )
    line = (
        alt.Chart(data)
        .mark_line(color=MEAN_COLOUR, strokeWidth=2.5)
        .encode(
            x=x,
            y="mean:Q",
            tooltip=[date_tip, alt.Tooltip("mean:Q", title=_("7-day mean"), format=",.1f")],
        )
    )
    layers = [bars, line]
    if band:
        late = _inline(list(band))
        tips = [date_tip] + [
            alt.Tooltip(f"{key}:Q", title=str(label), format=",.0f")
            for key, label in BAND_TITLES.items()
        ]
        layers += [
            alt.Chart(late)
            .mark_area(color=NOWCAST_COLOUR, opacity=0.3)
            .encode(x=x, y="lower:Q", y2="upper:Q", tooltip=tips),
            alt.Chart(late)
            .mark_line(color=NOWCAST_COLOUR, strokeDash=[4, 3], point=True)
            .encode(x=x, y="nowcast:Q", tooltip=tips),
        ]
    # Not validated against the schema on every page (a third of the page's time); the
    # dashboard's tests validate the specs.
    chart = alt.layer(*layers).properties(width="container", height=260)
    spec: dict[str, Any] = chart.to_dict(validate=False)
    # The shared data is the layer's own, or each layer's if the band's layers have theirs.
    for holder in [spec, *spec.get("layer", [])]:
        if holder.get("data") == {"values": []}:
            holder["data"] = {"values": values}
    return spec


#: Stands for the map's data URL in a cached choropleth spec.
_URL_MARK: Final = "__ruralwatch_map_data_url__"


def choropleth(
    data_url: str, measure: str, title: str, *, with_labels: bool = True
) -> dict[str, Any]:
    """The spec of :func:`choropleth_spec`, built once per language, measure and labelling
    and kept as JSON text with a mark where the data URL goes: building five such specs with
    Altair cost about half a second a county page, on every page (the specs differ only by
    the URL, which carries the area, day and indicator)."""
    text = _choropleth_text(get_language() or "", measure, title, with_labels)
    return dict(json.loads(text.replace(_URL_MARK, json.dumps(data_url)[1:-1])))


@lru_cache(maxsize=64)
def _choropleth_text(language: str, measure: str, title: str, with_labels: bool) -> str:
    """``language`` is part of the key: the tooltips' titles are translated inside."""
    return json.dumps(choropleth_spec(_URL_MARK, measure, title, with_labels=with_labels))


def choropleth_spec(
    data_url: str, measure: str, title: str, *, with_labels: bool = True
) -> dict[str, Any]:
    """The children's shapes (GeoJSON features at ``data_url``, see
    :func:`ruralwatch.dashboard.maps.map_features`) coloured by ``measure``: incidence,
    change, level, completeness or coverage. Grey: no data; dashed outline: a shape derived
    from points. Clicking a shape opens the area (the feature's ``url``)."""
    from ruralwatch.assessments.models import LEVEL_LABELS
    from ruralwatch.briefings.charts import LEVEL_COLOURS

    features = alt.DataFormat(type="json", property="features")  # type: ignore[no-untyped-call]
    data = alt.Data(url=data_url, format=features)  # type: ignore[no-untyped-call]
    field = f"properties.{measure}"
    legend = alt.Legend(orient="bottom", gradientLength=200, title=title, titleLimit=400)
    if measure == "level":
        field = "properties.level_label"
        colour = alt.Color(
            f"{field}:N",
            scale=alt.Scale(
                domain=[str(v) for v in LEVEL_LABELS.values()],
                range=[LEVEL_COLOURS[k] for k in LEVEL_LABELS],
            ),
            legend=alt.Legend(orient="bottom", title=title, columns=3, titleLimit=400),
        )
    elif measure == "change":
        colour = alt.Color(
            f"{field}:Q",
            # A fall is at most -100 %; rises beyond +200 % take the darkest red.
            scale=alt.Scale(
                scheme="redblue", reverse=True, domain=[-100, 200], domainMid=0, clamp=True
            ),
            legend=legend,
        )
    elif measure in ("completeness", "coverage"):
        colour = alt.Color(
            f"{field}:Q", scale=alt.Scale(scheme="redyellowgreen", domain=[0, 100]), legend=legend
        )
    else:
        colour = alt.Color(f"{field}:Q", scale=alt.Scale(scheme=SCHEME, zero=True), legend=legend)
    tooltip = [
        alt.Tooltip("properties.name:N", title=_("Name")),
        alt.Tooltip("properties.code:N", title=_("Code")),
        alt.Tooltip(
            "properties.incidence:Q", title=_("Incidence per 100,000, 7 days"), format=",.1f"
        ),
        alt.Tooltip("properties.cases:Q", title=_("Cases, last 7 days"), format=",.0f"),
        alt.Tooltip(
            "properties.change:Q", title=_("Change against the previous 7 days, %"), format="+,.1f"
        ),
        alt.Tooltip("properties.level_label:N", title=_("Judged epidemic level")),
        alt.Tooltip(
            "properties.completeness:Q", title=_("Reporting completeness, %"), format=".1f"
        ),
        alt.Tooltip(
            "properties.coverage:Q", title=_("Key-group contact coverage, %"), format=".1f"
        ),
        alt.Tooltip("boundary:N", title=_("Boundary")),
    ]
    shapes = (
        alt.Chart(data)
        .transform_calculate(
            boundary=alt.expr.if_(
                "datum.properties.derived",
                _("derived from points (Voronoi cell inside the parent's boundary)"),
                _("imported"),
            )
        )
        # invalid=None: shapes without a value stay (grey), not filtered out of the map.
        .mark_geoshape(strokeWidth=0.8, cursor="pointer", invalid=None)
        .encode(
            stroke=alt.condition(
                "datum.properties.derived", alt.value("#555555"), alt.value("#ffffff")
            ),
            color=alt.condition(f"datum.{field} == null", alt.value(NO_DATA_COLOUR), colour),
            strokeDash=alt.condition(
                "datum.properties.derived", alt.value([4, 2]), alt.value([1, 0])
            ),
            tooltip=tooltip,
        )
    )
    layers: list[Any] = [shapes]
    if with_labels:
        layers.append(
            alt.Chart(data)
            .transform_filter("datum.properties.lon != null")
            .mark_text(fontSize=10, color="#222", cursor="pointer")
            .encode(
                longitude="properties.lon:Q",
                latitude="properties.lat:Q",
                text="properties.name:N",
            )
        )
    chart = alt.layer(*layers).project(type="mercator").properties(width="container", height=420)
    spec: dict[str, Any] = chart.to_dict(validate=False)
    return spec
