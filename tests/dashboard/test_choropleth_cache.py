"""The map's specs are built once per language and measure and served with each page's own
data URL: the same spec as building it afresh, in the page's language."""

from __future__ import annotations

from django.utils import translation

from ruralwatch.dashboard import charts
from ruralwatch.dashboard.maps import MEASURES


def test_cached_spec_is_the_fresh_spec_with_the_page_url() -> None:
    url = "/area/110101000000/map.json?date=2023-02-05&indicator=deaths"
    for language in ("zh-hans", "en"):
        with translation.override(language):
            for measure in MEASURES:
                for labels in (True, False):
                    fresh = charts.choropleth_spec(url, measure, "T", with_labels=labels)
                    assert charts.choropleth(url, measure, "T", with_labels=labels) == fresh
    other = charts.choropleth("/area/1/map.json", "incidence", "T")
    assert other["data"]["url"] == "/area/1/map.json"
    with translation.override("en"):
        english = str(charts.choropleth(url, "incidence", "T"))
    with translation.override("zh-hans"):
        chinese = str(charts.choropleth(url, "incidence", "T"))
    assert "Reporting completeness" in english and "Reporting completeness" not in chinese
