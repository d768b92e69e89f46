"""The judgement's evidence (研判依据) as a readable panel: one block per part of the judgement
(level, trend, Rt, phase, the watch after a holiday, the series judged), each with its method,
window, baseline and numbers rounded for reading, in the page's language.

The evidence is what :mod:`ruralwatch.epi.assess.judgement` recorded (``Judgement.evidence``);
this module only words it. Level, phase and event names come from the assessments app (the
same words as the judgement's sentence); dates are written as the sentence writes them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from ruralwatch.assessments.models import LEVEL_LABELS, PHASE_LABELS
from ruralwatch.assessments.phrases import day_and_month, event_name

MISSING = "—"


def grouped(value: Any, digits: int = 0) -> str:
    """A number with thousands separators (``317,502``, ``1,234.5``); a dash if missing."""
    if value is None:
        return MISSING
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number != number:  # NaN
        return MISSING
    return f"{number:,.{digits}f}"


def _pct(value: Any, digits: int = 0, sign: bool = False) -> str:
    if value is None:
        return MISSING
    return f"{float(value) * 100:{'+' if sign else ''},.{digits}f}%"


def _day(value: Any) -> str:
    if not value:
        return MISSING
    try:
        return day_and_month(dt.date.fromisoformat(str(value)[:10]))
    except ValueError:
        return str(value)


def _span(window: Any) -> str:
    if not isinstance(window, (list, tuple)) or len(window) != 2:
        return MISSING
    return _("%(start)s to %(end)s") % {"start": _day(window[0]), "end": _day(window[1])}


@dataclass
class Block:
    """One part of the evidence: a title, the method (with the citation as recorded) and
    (label, value) rows."""

    title: str
    method: str = ""
    source: str = ""
    rows: list[tuple[str, str]] = field(default_factory=list)


def _level(ev: dict[str, Any]) -> Block:
    rates = ev.get("rates_per_100k") or {}
    rows = [
        (_("Incidence per 100,000, 7 days"), grouped(ev.get("per_100k"), 1)),
        (_("Cases, 7 days"), grouped(ev.get("value"))),
        (_("Level"), str(LEVEL_LABELS.get(str(ev.get("level")), ev.get("level") or MISSING))),
    ]
    if rates:
        rows.append(
            (
                _("Thresholds per 100,000 (epidemic / medium / high / very high)"),
                " / ".join(
                    grouped(rates.get(k)) for k in ("epidemic", "medium", "high", "very_high")
                ),
            )
        )
    return Block(
        _("Epidemic level"),
        _("7-day incidence per 100,000 against fixed thresholds"),
        str(ev.get("method") or ""),
        rows,
    )


def _growth(ev: dict[str, Any]) -> Block:
    ci = ev.get("ci") or [None, None]
    rows = [
        (_("Window"), _span(ev.get("window"))),
        (
            _("Growth rate per day (95% CI)"),
            f"{_pct(ev.get('r'), 1, True)} ({_pct(ci[0], 1, True)} … {_pct(ci[1], 1, True)})",
        ),
    ]
    if ev.get("halving_time") is not None:
        rows.append((_("Halving time (days)"), grouped(ev["halving_time"], 1)))
    if ev.get("doubling_time") is not None:
        rows.append((_("Doubling time (days)"), grouped(ev["doubling_time"], 1)))
    if ev.get("delay") is not None:
        rows.append((_("Latest days left out (reporting delay)"), grouped(ev["delay"])))
    return Block(
        _("Trend"),
        _("Log-linear regression of daily counts with weekday effects"),
        str(ev.get("method") or ""),
        rows,
    )


def _rt(ev: dict[str, Any]) -> Block:
    cri = ev.get("cri95") or [None, None]
    si = ev.get("serial_interval") or {}
    rows = [
        (_("Window"), _span(ev.get("window"))),
        (
            _("Rt (95% CrI)"),
            f"{grouped(ev.get('mean'), 2)} ({grouped(cri[0], 2)} … {grouped(cri[1], 2)})",
        ),
    ]
    if si:
        rows.append(
            (
                _("Serial interval, days (mean, sd)"),
                f"{grouped(si.get('mean'), 1)}, {grouped(si.get('sd'), 1)}",
            )
        )
    return Block(
        _("Reproduction number"),
        _("Instantaneous reproduction number (Cori et al. 2013)"),
        str(ev.get("method") or ""),
        rows,
    )


def _phase(ev: dict[str, Any]) -> Block:
    phase = str(ev.get("phase") or "")
    rows = [
        (_("Phase"), str(PHASE_LABELS.get(phase, phase or MISSING))),
        (_("Cases, 7 days"), grouped(ev.get("sum7"))),
        (_("Highest 7-day count of the season"), grouped(ev.get("max7"))),
        (_("Below the highest by"), _pct(ev.get("drop_from_max"), 1)),
    ]
    if ev.get("declining_days") is not None:
        rows.append(
            (
                _("Days declining / days needed"),
                f"{grouped(ev['declining_days'])} / {grouped(ev.get('sustain_days'))}",
            )
        )
    return Block(
        _("Phase"), _("Trend sustained over the last days and the season's peak"), "", rows
    )


def _rebound(ev: dict[str, Any]) -> Block | None:
    if not ev or not ev.get("event"):
        return None
    event = event_name(ev)
    outcome = {
        "no_new_peak": _("no new peak"),
        "new_peak": _("a new peak"),
        "above_projection": _("above the earlier trend, no significant rise"),
    }.get(str(ev.get("outcome")), str(ev.get("outcome") or MISSING))
    rows = [
        (_("Event"), f"{event} ({_day(ev.get('event_start'))})"),
        (_("Outcome"), outcome),
        (
            _("Cases in the 7 days to %(day)s") % {"day": _day(ev.get("last_watched"))},
            grouped(ev.get("observed_last", ev.get("observed"))),
        ),
        (
            _("Projected from the earlier trend (upper bound)"),
            f"{grouped(ev.get('projected_last', ev.get('projected')))} "
            f"({grouped(ev.get('upper_last', ev.get('upper')))})",
        ),
    ]
    if ev.get("onset_date"):
        rows.append((_("Rise from"), _day(ev["onset_date"])))
    return Block(
        _("After the holiday"),
        _("Observed cases against the projection of the trend before the event"),
        "",
        rows,
    )


def _basis(ev: dict[str, Any]) -> Block | None:
    if not ev:
        return None
    rows = [
        (_("Series judged"), f"{ev.get('name') or MISSING} ({ev.get('code') or ''})"),
        (
            _("Cases in 14 days / needed for an own judgement"),
            f"{grouped(ev.get('cases_14d'))} / {grouped(ev.get('min_cases_14d'))}",
        ),
    ]
    method = (
        _("Too few cases here: judged on the pooled series of a higher level")
        if ev.get("pooled")
        else _("Judged on the area's own series")
    )
    return Block(_("Series judged"), method, "", rows)


def evidence_blocks(evidence: dict[str, Any] | None) -> list[Block]:
    """The readable blocks of a judgement's evidence (only the parts it recorded)."""
    ev = evidence or {}
    blocks: list[Block | None] = []
    numbers = [
        (_("Cases, last 7 days"), grouped(ev.get("sum7"))),
        (_("Cases, previous 7 days"), grouped(ev.get("prev7"))),
        (pgettext("relative change", "Change"), _pct(ev.get("change"), 0, True)),
    ]
    if ev.get("as_of"):
        numbers.insert(0, (_("As of"), _day(ev["as_of"])))
    if any(v != MISSING for _l, v in numbers):
        blocks.append(Block(_("The numbers"), "", "", numbers))
    if isinstance(ev.get("level"), dict):
        blocks.append(_level(ev["level"]))
    if isinstance(ev.get("growth"), dict):
        blocks.append(_growth(ev["growth"]))
    if isinstance(ev.get("rt"), dict):
        blocks.append(_rt(ev["rt"]))
    if isinstance(ev.get("phase"), dict):
        blocks.append(_phase(ev["phase"]))
    if isinstance(ev.get("rebound"), dict):
        blocks.append(_rebound(ev["rebound"]))
    if isinstance(ev.get("basis"), dict):
        blocks.append(_basis(ev["basis"]))
    return [b for b in blocks if b is not None]
