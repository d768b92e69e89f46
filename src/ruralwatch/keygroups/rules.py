"""Risk-tier rule sets and the default key groups, as data.

A rule set (``TierRuleSet.params``) is a JSON object::

    {
      "age_points": [[65, 1], [80, 2]],      # age ≥ 65 → 1 point, ≥ 80 → 2 (highest wins)
      "comorbidity_points": [0, 1, 2],       # none / stable / unstable
      "vaccination_points": [0, 1, 2],       # complete / incomplete / none
      "yellow_from": 2, "red_from": 4,       # total 0–1 green, 2–3 yellow, ≥ 4 red
      "interval_days": {"red": 1, "yellow": 3, "green": 7},
      "spo2_red_below": 93                   # SpO₂ below this moves a person to red
    }

The default is the published local scoring rule quoted in DOMAIN.md. Tiers are computed in SQL
(:func:`score_sql`) so that re-tiering a province is one ``UPDATE``; age cut-offs become birth-
month cut-offs computed in Python, so the SQL is the same on SQLite and PostgreSQL. Only the
month of birth is in clear (``Person.birth_month``), so ages in SQL count from the first of the
month of birth: a person enters a band up to 30 days early, never late.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

DEFAULT_RULESET_CODE = "published_local_2022"
DEFAULT_RULES: dict[str, Any] = {
    "age_points": [[65, 1], [80, 2]],
    "comorbidity_points": [0, 1, 2],
    "vaccination_points": [0, 1, 2],
    "yellow_from": 2,
    "red_from": 4,
    "interval_days": {"red": 1, "yellow": 3, "green": 7},
    "spo2_red_below": 93,
}

#: (code, Chinese name, English name, aliases, min age, max age, needs guardian)
DEFAULT_GROUPS: list[tuple[str, str, str, str, int | None, int | None, bool]] = [
    ("age65", "65岁及以上老年人", "aged 65 and over", "65岁以上,老年人,65+", 65, None, False),
    ("living_alone", "独居老人", "elderly living alone", "独居,空巢老人", 60, None, False),
    (
        "nursing_home",
        "敬老院老人",
        "nursing-home resident",
        "养老机构,敬老院,福利院",
        60,
        None,
        False,
    ),
    ("left_behind_child", "留守儿童", "left-behind child", "留守", 0, 17, True),
    (
        "orphan",
        "孤儿和事实无人抚养儿童",
        "orphan or unsupported child",
        "孤儿,事实无人抚养儿童",
        0,
        17,
        True,
    ),
    ("disabled", "残疾人", "disabled person", "残疾", None, None, False),
    ("pregnant", "孕产妇", "pregnant woman", "孕妇,孕产妇", 14, 55, False),
    ("chronic", "慢性基础疾病患者", "chronic disease", "基础疾病,慢病", None, None, False),
    (
        "unvaccinated",
        "未全程接种疫苗者",
        "not fully vaccinated",
        "未接种,未全程接种",
        None,
        None,
        False,
    ),
]

#: Indicators written into the report store (code, zh, en, unit zh, unit en, agg, is_count).
KG_INDICATORS: list[tuple[str, str, str, str, str, str, bool]] = [
    (
        "kg_registered",
        "重点人群登记人数",
        "key-group persons registered",
        "人",
        "persons",
        "sum",
        True,
    ),
    ("kg_red", "红色标识人数", "persons tagged red", "人", "persons", "sum", True),
    ("kg_due", "今日应联系人数", "contacts due today", "人", "persons", "sum", True),
    ("kg_overdue", "逾期未联系人数", "contacts overdue", "人", "persons", "sum", True),
    (
        "kg_no_doctor",
        "未落实责任医生人数",
        "persons without a responsible doctor",
        "人",
        "persons",
        "sum",
        True,
    ),
    ("kg_referrals_open", "转诊未结人数", "open referrals", "人", "persons", "sum", True),
]

TIERS = ("red", "yellow", "green")


class RuleError(ValueError):
    """A rule set's parameters are not usable."""


@dataclass(frozen=True)
class Rules:
    age_points: tuple[tuple[int, int], ...]
    comorbidity_points: tuple[int, int, int]
    vaccination_points: tuple[int, int, int]
    yellow_from: int
    red_from: int
    interval_days: dict[str, int] = field(default_factory=dict)
    spo2_red_below: int = 93

    def tier_of(self, score: int) -> str:
        if score >= self.red_from:
            return "red"
        if score >= self.yellow_from:
            return "yellow"
        return "green"

    def age_score(self, birth: dt.date, on: dt.date) -> int:
        age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
        points = 0
        for threshold, p in self.age_points:
            if age >= threshold:
                points = max(points, p)
        return points

    def score(self, birth: dt.date, comorbidity: int, vaccination: int, on: dt.date) -> int:
        return (
            self.age_score(birth, on)
            + self.comorbidity_points[comorbidity]
            + self.vaccination_points[vaccination]
        )

    def due_cutoffs(self, on: dt.date) -> dict[str, dt.date]:
        """Per tier, the last-contact date that makes a contact due exactly on ``on``.

        A person is due when ``last_contact <= cutoff`` and overdue when ``<``.
        """
        return {t: on - dt.timedelta(days=self.interval_days[t]) for t in TIERS}


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleError(_("%(name)s must be a whole number") % {"name": name})
    return value


def parse_rules(params: dict[str, Any]) -> Rules:
    """Validate a rule set's JSON and return it as :class:`Rules` (missing keys: defaults)."""
    merged = {**DEFAULT_RULES, **(params or {})}
    try:
        age_points = tuple(
            (_int(a, "age_points"), _int(p, "age_points")) for a, p in merged["age_points"]
        )
        comorb = tuple(_int(x, "comorbidity_points") for x in merged["comorbidity_points"])
        vacc = tuple(_int(x, "vaccination_points") for x in merged["vaccination_points"])
        intervals = {t: _int(merged["interval_days"][t], "interval_days") for t in TIERS}
    except (TypeError, ValueError, KeyError) as exc:
        if isinstance(exc, RuleError):
            raise
        raise RuleError(_("malformed rule set: %(e)s") % {"e": exc}) from exc
    if len(comorb) != 3 or len(vacc) != 3:
        raise RuleError(_("comorbidity and vaccination need three point values each"))
    if any(v < 1 for v in intervals.values()):
        raise RuleError(_("contact intervals must be at least one day"))
    yellow, red = _int(merged["yellow_from"], "yellow_from"), _int(merged["red_from"], "red_from")
    if not 0 < yellow <= red:
        raise RuleError(_("need 0 < yellow_from ≤ red_from"))
    return Rules(
        age_points=tuple(sorted(age_points)),
        comorbidity_points=(comorb[0], comorb[1], comorb[2]),
        vaccination_points=(vacc[0], vacc[1], vacc[2]),
        yellow_from=yellow,
        red_from=red,
        interval_days=intervals,
        spo2_red_below=_int(merged["spo2_red_below"], "spo2_red_below"),
    )


def _years_before(on: dt.date, years: int) -> dt.date:
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February
        return on.replace(year=on.year - years, day=28)


def score_sql(rules: Rules, on: dt.date, alias: str = "") -> tuple[str, list[Any]]:
    """An SQL expression for the score of each person on ``on``, and its parameters."""
    p = f"{alias}." if alias else ""
    params: list[Any] = []
    age_case = "0"
    if rules.age_points:
        whens = []
        # Highest threshold first: an older person gets the points of the oldest band.
        for age, points in sorted(rules.age_points, reverse=True):
            # Only the month of birth is stored in clear (its first day): a person enters an
            # age band on the first of the month of the birthday, never later than the day.
            whens.append(f"WHEN {p}birth_month <= %s THEN {int(points)}")
            params.append(_years_before(on, age).isoformat())
        age_case = "CASE " + " ".join(whens) + " ELSE 0 END"
    c = rules.comorbidity_points
    v = rules.vaccination_points
    comorb = f"CASE {p}comorbidity WHEN 2 THEN {c[2]} WHEN 1 THEN {c[1]} ELSE {c[0]} END"
    vacc = f"CASE {p}vaccination WHEN 2 THEN {v[2]} WHEN 1 THEN {v[1]} ELSE {v[0]} END"
    return f"({age_case} + {comorb} + {vacc})", params


def tier_sql(rules: Rules, score_expr: str) -> str:
    """An SQL expression mapping a score expression to a tier code."""
    return (
        f"CASE WHEN {score_expr} >= {int(rules.red_from)} THEN 'red' "
        f"WHEN {score_expr} >= {int(rules.yellow_from)} THEN 'yellow' ELSE 'green' END"
    )


def due_status_sql(rules: Rules, on: dt.date, alias: str = "p") -> tuple[str, list[Any]]:
    """SQL giving 'overdue', 'due' or 'ok' for each person on ``on`` (and its parameters).

    Due when the last contact was at least the tier's interval ago; overdue when more.
    Never contacted: due on the registration date, overdue after it.
    """
    p = f"{alias}." if alias else ""
    cut = rules.due_cutoffs(on)
    cutoff = f"(CASE {p}tier WHEN 'red' THEN %s WHEN 'yellow' THEN %s ELSE %s END)"
    # Date objects (not text): PostgreSQL types the CASE by its branches.
    cparams: list[Any] = [cut["red"], cut["yellow"], cut["green"]]
    sql = (
        f"(CASE WHEN {p}last_contact IS NULL THEN "
        f"(CASE WHEN {p}registered_on < %s THEN 'overdue' ELSE 'due' END) "
        f"WHEN {p}last_contact < {cutoff} THEN 'overdue' "
        f"WHEN {p}last_contact = {cutoff} THEN 'due' ELSE 'ok' END)"
    )
    return sql, [on, *cparams, *cparams]
