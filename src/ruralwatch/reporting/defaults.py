"""Default indicators for the rural epidemic mission (loaded by a data migration)."""

from __future__ import annotations

# code, Chinese name, English name, Chinese unit, English unit, aggregation, is_count
DEFAULT_INDICATORS: list[tuple[str, str, str, str, str, str, bool]] = [
    (
        "fever_visits",
        "发热门诊（诊室）就诊人次",
        "Fever clinic visits",
        "人次",
        "visits",
        "sum",
        True,
    ),
    ("antigen_pos", "抗原检测阳性数", "Antigen test positives", "人", "persons", "sum", True),
    ("pcr_pos", "核酸检测阳性数", "PCR test positives", "人", "persons", "sum", True),
    ("new_cases", "新增病例数", "New cases", "人", "persons", "sum", True),
    ("severe_cases", "重症病例数", "Severe cases", "人", "persons", "sum", True),
    ("deaths", "死亡数", "Deaths", "人", "persons", "sum", True),
    ("referrals_up", "向上转诊数", "Referrals up", "人", "persons", "sum", True),
    (
        "kg_contacts",
        "重点人群健康监测联系人次",
        "Key-group contacts made",
        "人次",
        "contacts",
        "sum",
        True,
    ),
]
