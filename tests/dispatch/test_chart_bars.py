"""The task page's chart draws every bar, tick and circle whole (issue 12's leftover: "the
task page's chart clips its first bar"). Rendered by Vega itself (vl-convert, the engine of
the page's bundle) and read back from the SVG's marks.

The demo's task 189 (下隆镇, 2023-02-02) had its tallest bar, 55, on its first day: Vega
rounded the count axis to 55 itself while the axis labelled 50, so the bar ran into the top
of the frame as if cut off, hugging the axis on its left.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import vl_convert

from ruralwatch.dispatch.charts import signal_chart

WIDTH, HEIGHT = 900, 240
START = dt.date(2023, 1, 5)
#: The demo's task: 32 days of a township's new cases, the first the tallest.
DEMO = [55, 22, 19, 16, 20, 13, 8, 9, 6, 5, 5, 20, 2, 0, 3, 3, 2, 0, 1] + [0] * 13
DEMO[28] = 1


NUM = r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)"


def _marks(svg: str, role: str) -> list[tuple[float, float, float, float]]:
    """(left, top, right, bottom) of the rectangles Vega draws for ``role`` (bar, tick), in
    plot coordinates (origin: the plot's top left corner)."""
    out = []
    for x, y, w, h in re.findall(
        rf'aria-roledescription="{role}" d="M{NUM},{NUM}h{NUM}v{NUM}h', svg
    ):
        left, top = float(x), float(y)
        right, bottom = left + float(w), top + float(h)
        out.append((min(left, right), min(top, bottom), max(left, right), max(top, bottom)))
    return out


def _render(series: list[float], alarms: list[dict[str, Any]], day: dt.date) -> str:
    points = [(START + dt.timedelta(days=i), float(v)) for i, v in enumerate(series)]
    spec = signal_chart(points, alarms, day, weekly=False)
    assert spec is not None
    return str(vl_convert.vegalite_to_svg({**spec, "width": WIDTH, "height": HEIGHT}))


def _y_labels(svg: str) -> list[float]:
    axis = svg.split('aria-label="Y-axis')[1].split('aria-label="X-axis')[0]
    return [float(t.replace(",", "")) for t in re.findall(r">([\d.,]+)</text>", axis)]


@pytest.mark.parametrize("width", [WIDTH, 330])
def test_bars_ticks_and_circles_are_drawn_whole(width: int) -> None:
    signal_day = START + dt.timedelta(days=28)
    alarms = [
        # an alarm on the first day, its threshold at the top of the data
        {"date": START, "threshold": 55.0, "expected": 30.0},
        {"date": signal_day, "threshold": 0.0, "expected": 0.0},
    ]
    points = [(START + dt.timedelta(days=i), float(v)) for i, v in enumerate(DEMO)]
    spec = signal_chart(points, alarms, signal_day, weekly=False)
    assert spec is not None
    svg = str(vl_convert.vegalite_to_svg({**spec, "width": width, "height": HEIGHT}))
    bars = _marks(svg, "bar")
    assert len(bars) == len(DEMO)
    first = min(bars)
    step = (max(bars)[0] - first[0]) / (len(DEMO) - 1)
    # The first bar keeps clear of the axis (a band's outer padding), every bar is inside.
    assert first[0] >= 0.25 * step, (first, step)
    assert all(b[0] >= 0 and b[2] <= width for b in bars)
    # The tallest bar stands below the top of the frame, under a labelled tick above it.
    tallest = min(b[1] for b in bars)
    assert tallest > 0.04 * HEIGHT, tallest
    labels = _y_labels(svg)
    assert max(labels) > 55 and max(labels) == max(labels[-1], labels[0])
    # Threshold ticks lie within their band and inside the frame.
    ticks = _marks(svg, "tick")
    assert ticks
    for left, top, right, _bottom in ticks:
        assert left >= 0 and right <= width and top >= 0, (left, top, right)
    assert min(t[0] for t in ticks) >= first[0] - 0.5 and min(t[2] for t in ticks) <= first[2] + 0.5


def test_small_counts_get_whole_number_ticks() -> None:
    svg = _render([0] * 10 + [1] + [0] * 5, [], START + dt.timedelta(days=10))
    labels = _y_labels(svg)
    assert labels and all(v == int(v) for v in labels) and max(labels) >= 2
    tallest = min(b[1] for b in _marks(svg, "bar"))
    assert tallest > 0  # the single case is not drawn into the frame's top edge
