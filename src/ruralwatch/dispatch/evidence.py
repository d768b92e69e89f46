"""A task's evidence in words: method names, their parameters with human labels, and one or
two sentences per kind of task, in the active language.

The evidence itself is a copy of the numbers that made the task (``Task.evidence``, written by
:mod:`ruralwatch.dispatch.services`); this module only phrases it, for the pages and the API.
"""

from __future__ import annotations

from typing import Any

from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ruralwatch.core.i18n import localized
from ruralwatch.dispatch.models import Source
from ruralwatch.keygroups.models import Destination, ReferralReason

#: Detection methods (``Signal.method``, the registry's names) by their human names.
METHOD_NAMES: dict[str, str | Promise] = {
    "ears-c1": "EARS C1",
    "ears-c2": "EARS C2",
    "ears-c3": "EARS C3",
    "farrington": gettext_lazy("Farrington (1996)"),
    "farrington-flexible": gettext_lazy("Farrington flexible (Noufaily 2013)"),
    "cusum": "CUSUM",
    "glr-nb": gettext_lazy("GLR, negative binomial"),
    "glr-poisson": gettext_lazy("GLR, Poisson"),
    "rki1": "RKI 1",
    "rki2": "RKI 2",
    "rki3": "RKI 3",
    "cidars-mpm": gettext_lazy("CIDARS moving percentile"),
    "cidars-single-case": gettext_lazy("CIDARS single case"),
}

#: Parameters worth showing, with their labels; others are listed under their own name.
PARAM_LABELS: dict[str, str | Promise] = {
    "alpha": gettext_lazy("significance level (alpha)"),
    "baseline": gettext_lazy("baseline (days)"),
    "min_sigma": gettext_lazy("smallest standard deviation"),
    "min_cases": gettext_lazy("cases that make a signal"),
    "k": gettext_lazy("reference value (k)"),
    "h": gettext_lazy("decision limit (h)"),
    "b": gettext_lazy("years back (b)"),
    "w": gettext_lazy("half-window (w, weeks)"),
    "reweight": gettext_lazy("reweight outbreaks"),
    "weights_threshold": gettext_lazy("reweighting threshold"),
    "trend": gettext_lazy("fit a trend"),
    "power_trans": gettext_lazy("power transformation"),
    "no_periods": gettext_lazy("number of periods"),
    "past_weeks_not_included": gettext_lazy("recent weeks left out"),
    "threshold_method": gettext_lazy("threshold method"),
    "c_arl": gettext_lazy("decision limit (c.ARL)"),
    "percentile": gettext_lazy("percentile"),
    "years": gettext_lazy("years of history"),
}

#: Parameters that say nothing to a reader (the days the detector looked at, its own name).
_HIDDEN_PARAMS = {"monitor", "method"}


def method_name(method: str) -> str:
    """The human name of a detection method (the id itself if unknown)."""
    return str(METHOD_NAMES.get(method, method))


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, float):
        return number_format(round(value, 4), use_l10n=True)
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value)
    return str(value)


def param_rows(params: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The parameters a detector ran with, as (label, value), without the empty ones."""
    rows = []
    for name, value in (params or {}).items():
        if name in _HIDDEN_PARAMS or value is None or value == "":
            continue
        rows.append((str(PARAM_LABELS.get(name, name)), _value(value)))
    return rows


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    number = float(value)
    if number.is_integer():
        return number_format(int(number), use_l10n=True)
    return number_format(round(number, digits), digits, use_l10n=True)


def _label(choices: Any, value: str) -> str:
    """The label of a choice (the code itself if unknown)."""
    return str(choices(value).label) if value in choices.values else value


def _pct(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.0f}%"


def sentences(
    source: str, evidence: dict[str, Any], area_name: str, indicator: str = ""
) -> list[str]:
    """What made the task, in one to three sentences of the active language (``indicator``:
    the indicator's name, for signals)."""
    ev = evidence or {}
    args = {"area": area_name, "date": ev.get("date", "")}
    if source == Source.SINGLE_CASE:
        return [
            _(
                "%(observed)s case(s) reported in %(area)s on %(date)s. The single-case rule "
                "makes every such case a signal to verify, whatever the baseline."
            )
            % {**args, "observed": _num(ev.get("observed"), 0)},
        ]
    if source == Source.SIGNAL:
        values = {
            **args,
            "indicator": indicator,
            "observed": _num(ev.get("observed"), 0),
            "expected": _num(ev.get("expected")),
        }
        first = (
            _(
                "%(indicator)s in %(area)s on %(date)s: %(observed)s, where about %(expected)s "
                "was expected."
            )
            if indicator
            else _("%(observed)s in %(area)s on %(date)s, where about %(expected)s was expected.")
        )
        out = [first % values]
        if ev.get("threshold") is not None:
            out.append(
                _("%(method)s puts the alarm threshold at %(threshold)s; the value exceeds it.")
                % {"method": method_name(ev.get("method", "")), "threshold": _num(ev["threshold"])}
            )
        if ev.get("score") is not None:
            out.append(_("Score: %(score)s.") % {"score": _num(ev["score"], 2)})
        return out
    if source == Source.REBOUND:
        text = localized(ev, "text")
        out = [
            _("Judgement of %(date)s for %(area)s: the rebound watch after the holiday fires.")
            % {"date": ev.get("judgement_date", ""), "area": area_name}
        ]
        if ev.get("sum7") is not None:
            change = ev.get("change")
            out.append(
                _(
                    "Last 7 days: %(sum7)s cases (the 7 days before: %(prev7)s, change "
                    "%(change)s); %(per_100k)s per 100,000."
                )
                % {
                    "sum7": _num(ev.get("sum7"), 0),
                    "prev7": _num(ev.get("prev7"), 0),
                    "change": "—" if change is None else f"{float(change) * 100:+.0f}%",
                    "per_100k": _num(ev.get("per_100k")),
                }
            )
        if text:
            out.append(str(text))
        return out
    if source == Source.MISSING_REPORT:
        last = ev.get("last_report")
        return [
            _(
                "%(area)s has sent no report for %(date)s; it was due %(hours)s h after "
                "the start of that day."
            )
            % {
                "area": area_name,
                "date": ev.get("report_date", ""),
                "hours": _num(ev.get("deadline_hours"), 0),
            },
            _("Last report received: %(last)s.") % {"last": last}
            if last
            else _("No report has ever been received from this village."),
        ]
    if source == Source.OVERDUE_CONTACTS:
        return [
            _(
                "On %(date)s, %(overdue)s of the %(registered)s key-group persons registered in "
                "%(area)s are overdue for a contact (the limits: more than %(threshold)s and "
                "more than %(share)s of those registered)."
            )
            % {
                **args,
                "overdue": _num(ev.get("overdue"), 0),
                "registered": _num(ev.get("registered"), 0),
                "threshold": _num(ev.get("threshold"), 0),
                "share": _pct(ev.get("share")),
            }
        ]
    if source in (Source.STOCK_OUT, Source.CAPACITY_GAP):
        from ruralwatch.resources.selectors import task_sentences as stock_sentences

        return stock_sentences(source, ev, area_name)  # worded in resources' catalog
    if source in (Source.SUPPORT_REQUEST, Source.KEY_AREA_RISE):
        from ruralwatch.keyareas.selectors import task_sentences  # worded in keyareas' catalog

        return task_sentences(source, ev, area_name)
    if source == Source.OPEN_REFERRAL:
        return [
            _(
                "Person %(person)s was referred on %(date)s (%(reason)s, to %(destination)s) and "
                "has had no outcome for %(days)s days (the limit is %(limit)s)."
            )
            % {
                "person": ev.get("person", ""),
                "date": ev.get("referred_on", ""),
                "reason": _label(ReferralReason, ev.get("reason", "")),
                "destination": _label(Destination, ev.get("destination", "")),
                "days": _num(ev.get("days_without_outcome"), 0),
                "limit": _num(ev.get("threshold_days"), 0),
            }
        ]
    return []
