"""The judgement sentence in words, from the codes and numbers ``epi`` returns.

:func:`ruralwatch.epi.assess.judgement.judge` gives each unit a ``statement`` (level and phase
codes, the rebound state with its event and numbers, the pooling, the 7-day numbers, growth rate
and R_t). :func:`sentence` phrases it in the active language with gettext (msgids in English,
zh-Hans in this app's catalog); :func:`sentences` gives both stored languages at once. Numbers
are written the same way in every language (``137``, ``-17.4%``, ``0.60``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.utils.translation import get_language, override, pgettext
from django.utils.translation import gettext as _

#: The languages a judgement is stored in (``Judgement.text_zh``, ``Judgement.text_en``).
STORED_LANGUAGES = ("zh-hans", "en")


def _level(code: str) -> str:
    """The first clause: the epidemic and its level."""
    clauses = {
        "below_threshold": _("The epidemic is below the epidemic threshold"),
        "low": _("The epidemic is at a low level"),
        "medium": _("The epidemic is at a medium level"),
        "high": _("The epidemic is at a high level"),
        "very_high": _("The epidemic is at a very high level"),
    }
    return clauses.get(code) or _("The epidemic is of unknown level")


def _trend(code: str) -> str:
    """What the epidemic does, to follow the level clause."""
    trends = {
        "growth": pgettext("epidemic trend", "rising"),
        "plateau": pgettext("epidemic trend", "on a plateau"),
        "peak_passed": pgettext("epidemic trend", "past its peak and falling"),
        "steady_decline": pgettext("epidemic trend", "declining steadily"),
        "low_level": pgettext("epidemic trend", "stable"),
        "undetermined": pgettext("epidemic trend", "without a measurable trend yet"),
    }
    return trends.get(code) or trends["undetermined"]


def _event(said: dict[str, Any]) -> str:
    """The festival or holiday watched, by its code; an event of the caller's own (not in the
    built-in calendar) keeps the names it was given."""
    names = {
        "spring_festival": pgettext("event", "the Spring Festival"),
        "spring_travel": pgettext("event", "the Spring Festival travel rush"),
        "lantern": pgettext("event", "the Lantern Festival"),
        "qingming": pgettext("event", "Qingming"),
        "may_day": pgettext("event", "the May Day holiday"),
        "dragon_boat": pgettext("event", "the Dragon Boat Festival"),
        "mid_autumn": pgettext("event", "the Mid-Autumn Festival"),
        "national_day": pgettext("event", "the National Day holiday"),
    }
    code = str(said.get("event") or "")
    if code in names:
        return names[code]
    given = said.get("event_names") or {}
    english = (get_language() or "").lower().startswith("en")
    return str(given.get("en" if english else "zh") or code)


def day_and_month(day: dt.date | str) -> str:
    """``24 January`` / ``1月24日``."""
    d = dt.date.fromisoformat(day) if isinstance(day, str) else day
    months = (
        pgettext("day of month", "%(day)d January"),
        pgettext("day of month", "%(day)d February"),
        pgettext("day of month", "%(day)d March"),
        pgettext("day of month", "%(day)d April"),
        pgettext("day of month", "%(day)d May"),
        pgettext("day of month", "%(day)d June"),
        pgettext("day of month", "%(day)d July"),
        pgettext("day of month", "%(day)d August"),
        pgettext("day of month", "%(day)d September"),
        pgettext("day of month", "%(day)d October"),
        pgettext("day of month", "%(day)d November"),
        pgettext("day of month", "%(day)d December"),
    )
    return months[d.month - 1] % {"day": d.day}


def _count(x: float) -> str:
    return f"{x:.0f}"


def _rebound(said: dict[str, Any]) -> str:
    """The rebound clause, or ``""`` when no event is watched."""
    state = said.get("state", "none")
    if state == "none":
        return ""
    event = _event(said)
    if state == "no_new_peak":
        return _("no new peak after %(event)s") % {"event": event}
    values = {
        "event": event,
        "last": day_and_month(said["last_watched"]),
        "observed": _count(said["observed_last"]),
        "projected": _count(said["projected_last"]),
        "upper": _count(said["upper_last"]),
    }
    if state == "new_peak":
        values["onset"] = day_and_month(said["onset_date"])
        return (
            _(
                "a new peak after %(event)s from %(onset)s (%(observed)s cases in the 7 days to "
                "%(last)s against %(projected)s projected from the earlier trend)"
            )
            % values
        )
    return (
        _(
            "cases after %(event)s are above the earlier trend (%(observed)s in the 7 days to "
            "%(last)s, upper bound %(upper)s) without a significant rise: no new peak"
        )
        % values
    )


def _then(first: str, then: str) -> str:
    """Two clauses of one sentence: ``a; b`` / ``a；b``."""
    return pgettext("clauses", "%(first)s; %(then)s") % {"first": first, "then": then}


def _pooled(pooled: dict[str, Any]) -> str:
    return _(
        "Only %(cases)s cases here in 14 days, fewer than %(minimum)s: level and trend are "
        "judged on the pooled series of %(area)s."
    ) % {
        "cases": _count(pooled["cases_14d"]),
        "minimum": _count(pooled["min_cases_14d"]),
        "area": pooled["basis_name"],
    }


def _numbers(n: dict[str, Any]) -> str:
    """The 7-day numbers, then the growth rate and R_t where they were estimated."""
    values = {"sum7": _count(n["sum7"]), "prev7": _count(n["prev7"])}
    if n.get("change") is None:
        text = _("%(sum7)s new cases in the last 7 days (previous 7 days %(prev7)s)") % values
    else:
        values["change"] = f"{n['change'] * 100:+.0f}%"
        text = (
            _("%(sum7)s new cases in the last 7 days (previous 7 days %(prev7)s, %(change)s)")
            % values
        )
    if n.get("growth_r") is not None:
        growth = _("growth rate %(r)s%%/day (95%% CI %(low)s%% to %(high)s%%)") % {
            "r": f"{n['growth_r'] * 100:.1f}",
            "low": f"{n['growth_low'] * 100:.1f}",
            "high": f"{n['growth_high'] * 100:.1f}",
        }
        text = _then(text, growth)
    if n.get("rt") is not None:
        rt = _("Rt %(rt)s (95%% CrI %(low)s to %(high)s)") % {
            "rt": f"{n['rt']:.2f}",
            "low": f"{n['rt_low']:.2f}",
            "high": f"{n['rt_high']:.2f}",
        }
        text = _then(text, rt)
    return _end(text)


def _end(clauses: str) -> str:
    """A sentence's full stop: ``a.`` / ``a。``."""
    return pgettext("sentence", "%(clauses)s.") % {"clauses": clauses}


def sentence(said: dict[str, Any]) -> str:
    """The judgement sentence of one unit in the active language, from its ``statement``."""
    situation = pgettext("level and trend", "%(level)s and %(trend)s") % {
        "level": _level(said["level"]),
        "trend": _trend(said["phase"]),
    }
    rebound = _rebound(said.get("rebound") or {})
    text = _end(_then(situation, rebound) if rebound else situation)
    if said.get("pooled"):
        text = pgettext("aside", "%(sentence)s (%(aside)s)") % {
            "sentence": text,
            "aside": _pooled(said["pooled"]),
        }
    return pgettext("sentences", "%(first)s %(second)s") % {
        "first": text,
        "second": _numbers(said["numbers"]),
    }


def rise_below(names: Sequence[str], first: str) -> str:
    """The sentence added to an area where townships under it rebounded after the holiday."""
    template = pgettext(
        "renewed rise", "A renewed rise after the holiday in %(areas)s, from %(day)s."
    )
    areas = pgettext("list separator", ", ").join(names)
    return template % {"areas": areas, "day": first}


def appended(text: str, more: str) -> str:
    """A further sentence after ``text``: ``a. b.`` / ``a。b。``."""
    return pgettext("sentences", "%(first)s %(second)s") % {"first": text, "second": more}


def sentences(said: dict[str, Any]) -> dict[str, str]:
    """The sentence in every stored language: ``{"zh-hans": …, "en": …}``."""
    return {language: texts[0] for language, texts in in_stored_languages([said]).items()}


def in_stored_languages(statements: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """The sentences of many units in every stored language (one language switch each)."""
    out: dict[str, list[str]] = {}
    for language in STORED_LANGUAGES:
        with override(language):
            out[language] = [sentence(said) for said in statements]
    return out
