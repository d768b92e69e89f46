"""A tiny area tree with hand-computable reports, built through the real importers.

County (pop 10,000) › township A (pop 3,000: villages A1 pop 1,000 and A2 pop 2,000) and
township B (pop 2,000: village B1 pop 2,000). ``new_cases`` on 2023-01-01 … 01-07 (DAY1 … DAY7):

- A1 reports 1 every day (7 cases, 700 per 100,000); its day-7 report came late (58 h).
- A2 reports 2 on days 1–6 and nothing on day 7 (12 cases, 600 per 100,000).
- B1 reports 0 on days 1, 3 and 5 and 4 on day 7, nothing on days 2, 4, 6 (4 cases, 200).

So township A has 19 cases (633.3 per 100,000) and 1 of 2 reports on day 7; township B has
4 cases (200 per 100,000) and 1 of 1.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from ruralwatch.areas.services import import_areas
from ruralwatch.reporting.services import import_reports, roll_up

PROVINCE = "110000000000"
PREFECTURE = "110100000000"
COUNTY = "110101000000"
TOWN_A = "110101001000"
TOWN_B = "110101002000"
A1 = "110101001001"
A2 = "110101001002"
B1 = "110101002001"
MISSING = "110101009999"

DAY1 = dt.date(2023, 1, 1)
DAY7 = dt.date(2023, 1, 7)
DAY8 = dt.date(2023, 1, 8)
NOW = dt.datetime(2023, 2, 1, 12, 0, tzinfo=dt.UTC)

AREAS = [
    ("code", "name", "level", "parent_code", "population", "lon", "lat"),
    (PROVINCE, "测试省", 1, "", 100000, "", ""),
    (PREFECTURE, "测试市", 2, PROVINCE, 50000, "", ""),
    (COUNTY, "测试县", 3, PREFECTURE, 10000, 116.40, 39.90),
    (TOWN_A, "甲镇", 4, COUNTY, 3000, 116.30, 39.95),
    (TOWN_B, "乙乡", 4, COUNTY, 2000, 116.50, 39.85),
    (A1, "甲一村", 5, TOWN_A, 1000, 116.28, 39.96),
    (A2, "甲二村", 5, TOWN_A, 2000, 116.32, 39.94),
    (B1, "乙一村", 5, TOWN_B, 2000, 116.51, 39.84),
]


def _reports() -> list[tuple[str, str, str, str, str]]:
    rows = [("area_code", "date", "indicator", "value", "submitted_at")]
    for i in range(7):
        day = DAY1 + dt.timedelta(days=i)
        on_time = f"{day.isoformat()} 20:00"
        late = f"{(day + dt.timedelta(days=2)).isoformat()} 10:00"
        rows.append((A1, day.isoformat(), "new_cases", "1", late if i == 6 else on_time))
        if i < 6:
            rows.append((A2, day.isoformat(), "new_cases", "2", on_time))
        if i in (0, 2, 4):
            rows.append((B1, day.isoformat(), "new_cases", "0", on_time))
        if i == 6:
            rows.append((B1, day.isoformat(), "new_cases", "4", on_time))
    return rows


def _write(path: Path, rows: list[tuple[object, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def build_tree(tmp_path: Path) -> None:
    """Import the tree and the reports, and roll up DAY1 … DAY8."""
    import_areas(_write(tmp_path / "areas.csv", AREAS))
    import_reports(_write(tmp_path / "reports.csv", _reports()), now=NOW)
    roll_up(DAY1, DAY8)


def add_villages(tmp_path: Path, township: str, n: int, *, start: int = 100) -> list[str]:
    """Add ``n`` villages under ``township``, each reporting 1 new case on DAY7; roll up."""
    codes = [f"{township[:9]}{start + i:03d}" for i in range(n)]
    rows: list[tuple[object, ...]] = [("code", "name", "level", "parent_code", "population")]
    rows += [(c, f"新村{i}", 5, township, 500) for i, c in enumerate(codes)]
    import_areas(_write(tmp_path / f"villages-{n}.csv", rows))
    reports: list[tuple[object, ...]] = [("area_code", "date", "indicator", "value")]
    reports += [(c, DAY7.isoformat(), "new_cases", "1") for c in codes]
    import_reports(_write(tmp_path / f"reports-{n}.csv", reports), now=NOW)
    roll_up(DAY1, DAY8)
    return codes
