"""The judgement sentence in words, from the codes and numbers ``epi`` returns.

:func:`ruralwatch.epi.assess.judgement.judge` gives each unit a ``statement`` (level and phase
codes, the rebound state with its event and numbers, the pooling, the 7-day numbers, growth rate
and R_t). :func:`sentence` phrases it in the active language with gettext (msgids in English,
zh-Hans in this app's catalog); :func:`sentences` gives both stored languages at once. Numbers
are written the same way in every language (``137``, ``-17.4%``, ``0.60``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from functools import lru_cache
from typing import Any

import polars as pl
from django.utils.translation import get_language, override, pgettext
from django.utils.translation import gettext as _

from ruralwatch.assessments import evidence_texts
from ruralwatch.core.i18n import is_english

#: The languages a judgement is stored in (``Judgement.text_zh``, ``Judgement.text_en``).
STORED_LANGUAGES = ("zh-hans", "en")


@lru_cache(maxsize=8)
def _words(language: str) -> dict[str, Any]:
    """Every word and template of the sentence in ``language``, looked up once per language
    (phrasing 22,000 areas then costs string formatting, not 50 catalog lookups each)."""
    with override(language):
        return {
            # The first clause: the epidemic and its level.
            "level": {
                "below_threshold": _("The epidemic is below the epidemic threshold"),
                "low": _("The epidemic is at a low level"),
                "medium": _("The epidemic is at a medium level"),
                "high": _("The epidemic is at a high level"),
                "very_high": _("The epidemic is at a very high level"),
            },
            "unknown_level": _("The epidemic is of unknown level"),
            # What the epidemic does, to follow the level clause.
            "trend": {
                "growth": pgettext("epidemic trend", "rising"),
                "plateau": pgettext("epidemic trend", "on a plateau"),
                "peak_passed": pgettext("epidemic trend", "past its peak and falling"),
                "steady_decline": pgettext("epidemic trend", "declining steadily"),
                "low_level": pgettext("epidemic trend", "stable"),
                "undetermined": pgettext("epidemic trend", "without a measurable trend yet"),
            },
            "situation": pgettext("level and trend", "%(level)s and %(trend)s"),
            # The festival or holiday watched, by its code in the built-in calendar.
            "event": {
                "spring_festival": pgettext("event", "the Spring Festival"),
                "spring_travel": pgettext("event", "the Spring Festival travel rush"),
                "lantern": pgettext("event", "the Lantern Festival"),
                "qingming": pgettext("event", "Qingming"),
                "may_day": pgettext("event", "the May Day holiday"),
                "dragon_boat": pgettext("event", "the Dragon Boat Festival"),
                "mid_autumn": pgettext("event", "the Mid-Autumn Festival"),
                "national_day": pgettext("event", "the National Day holiday"),
            },
            "months": (
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
            ),
            "no_new_peak": _("no new peak after %(event)s"),
            "new_peak": _(
                "a new peak after %(event)s from %(onset)s (%(observed)s cases in the 7 days to "
                "%(last)s against %(projected)s projected from the earlier trend)"
            ),
            "above_projection": _(
                "cases after %(event)s are above the earlier trend (%(observed)s in the 7 days "
                "to %(last)s, upper bound %(upper)s) without a significant rise: no new peak"
            ),
            "then": pgettext("clauses", "%(first)s; %(then)s"),
            "end": pgettext("sentence", "%(clauses)s."),
            "aside": pgettext("aside", "%(sentence)s (%(aside)s)"),
            "pooled": _(
                "Only %(cases)s cases here in 14 days, fewer than %(minimum)s: level and trend "
                "are judged on the pooled series of %(area)s."
            ),
            "cases": _("%(sum7)s new cases in the last 7 days (previous 7 days %(prev7)s)"),
            "cases_change": _(
                "%(sum7)s new cases in the last 7 days (previous 7 days %(prev7)s, %(change)s)"
            ),
            "growth": _("growth rate %(r)s%%/day (95%% CI %(low)s%% to %(high)s%%)"),
            "rt": _("Rt %(rt)s (95%% CrI %(low)s to %(high)s)"),
            "sentences": pgettext("sentences", "%(first)s %(second)s"),
            "renewed_rise": pgettext(
                "renewed rise", "A renewed rise after the holiday in %(areas)s, from %(day)s."
            ),
            "list_separator": pgettext("list separator", ", "),
            "nowcast": _(
                "The last %(days)s days include %(pending)s cases estimated still to come in "
                "late reports (nowcast, %(level)s%% prediction interval %(low)s to %(high)s)."
            ),
            "nowcast_point": _(
                "The last %(days)s days include %(pending)s cases estimated still to come in "
                "late reports (nowcast)."
            ),
            "english": is_english(language),
        }


def _active() -> dict[str, Any]:
    return _words(get_language() or "zh-hans")


def _event(said: dict[str, Any], w: dict[str, Any]) -> str:
    """The event's name; an event of the caller's own (not in the built-in calendar) keeps
    the names it was given."""
    code = str(said.get("event") or "")
    if code in w["event"]:
        return str(w["event"][code])
    given = said.get("event_names") or {}
    return str(given.get("en" if w["english"] else "zh") or code)


def event_name(rebound: dict[str, Any]) -> str:
    """The name of the event a rebound watch's evidence names, in the active language: the
    built-in calendar's events by their code (the evidence holds the code as their names),
    an event of the caller's own by the names it was given."""
    names = {"zh": rebound.get("event_zh"), "en": rebound.get("event_en")}
    return _event({"event": rebound.get("event"), "event_names": names}, _active())


def day_and_month(day: dt.date | str, w: dict[str, Any] | None = None) -> str:
    """``24 January`` / ``1月24日``."""
    w = w or _active()
    d = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return str(w["months"][d.month - 1] % {"day": d.day})


def _count(x: float) -> str:
    return f"{x:.0f}"


def _rebound(said: dict[str, Any], w: dict[str, Any] | None = None) -> str:
    """The rebound clause, or ``""`` when no event is watched."""
    w = w or _active()
    state = said.get("state", "none")
    if state == "none":
        return ""
    event = _event(said, w)
    if state == "no_new_peak":
        return str(w["no_new_peak"] % {"event": event})
    values = {
        "event": event,
        "last": day_and_month(said["last_watched"], w),
        "observed": _count(said["observed_last"]),
        "projected": _count(said["projected_last"]),
        "upper": _count(said["upper_last"]),
    }
    if state == "new_peak":
        values["onset"] = day_and_month(said["onset_date"], w)
        return str(w["new_peak"] % values)
    return str(w["above_projection"] % values)


def _numbers(n: dict[str, Any], w: dict[str, Any], memo: dict[Any, str] | None = None) -> str:
    """The 7-day numbers, then the growth rate and R_t where they were estimated."""
    cases = _cases(n["sum7"], n["prev7"], n.get("change"), w, memo)
    return _numbers_with(cases, _estimates(n, w, memo), w)


def _cases(
    sum7: float, prev7: float, change: float | None, w: dict[str, Any], memo: dict[Any, str] | None
) -> str:
    """The clause of the 7-day numbers."""
    key = ("cases", sum7, prev7, change)
    text = _recall(memo, key)
    if text is None:
        values = {"sum7": _count(sum7), "prev7": _count(prev7)}
        if change is None:
            text = w["cases"] % values
        else:
            values["change"] = f"{change * 100:+.0f}%"
            text = w["cases_change"] % values
        _keep(memo, key, text)
    return str(text)


def _estimates(n: dict[str, Any], w: dict[str, Any], memo: dict[Any, str] | None) -> list[str]:
    """The growth rate's and R_t's clauses, where they were estimated."""
    out = []
    if n.get("growth_r") is not None:
        estimate = (n["growth_r"], n["growth_low"], n["growth_high"])
        out.append(_estimate(memo, w["growth"], "r", estimate, lambda v: f"{v * 100:.1f}"))
    if n.get("rt") is not None:
        out.append(
            _estimate(memo, w["rt"], "rt", (n["rt"], n["rt_low"], n["rt_high"]), "{:.2f}".format)
        )
    return out


def _numbers_with(cases: str, estimates: list[str], w: dict[str, Any]) -> str:
    """The numbers' sentence from its clauses."""
    text = cases
    for clause in estimates:
        text = w["then"] % {"first": text, "then": clause}
    return str(w["end"] % {"clauses": text})


def _estimate(
    memo: dict[Any, str] | None,
    template: str,
    name: str,
    values: tuple[float, float, float],
    fmt: Callable[[float], str],
) -> str:
    """The clause of an estimate and its interval (``name``, ``low``, ``high`` in
    ``template``), phrased once for equal numbers."""
    key = (template, name, *values)
    said = _recall(memo, key)
    if said is None:
        point, low, high = (fmt(v) for v in values)
        said = template % {name: point, "low": low, "high": high}
        _keep(memo, key, said)
    return str(said)


def _recall(memo: dict[Any, str] | None, key: tuple[Any, ...]) -> str | None:
    """A clause phrased before from numbers equal to ``key``'s. Numbers that compare equal
    are written the same by these formats (``7`` and ``7.0`` alike) except a zero's sign
    (``-0`` and ``0``): a key with a zero is never kept (and a NaN never equals, so it is
    phrased anew)."""
    if memo is None or 0.0 in key:
        return None
    return memo.get(key)


def _keep(memo: dict[Any, str] | None, key: tuple[Any, ...], text: str) -> None:
    if memo is not None and 0.0 not in key:
        memo[key] = text


def sentence(said: dict[str, Any]) -> str:
    """The judgement sentence of one unit in the active language, from its ``statement``."""
    return _sentence(said, _active())


def _sentence(said: dict[str, Any], w: dict[str, Any], memo: dict[Any, str] | None = None) -> str:
    """``memo`` (one per language) keeps the parts that many units share: the first sentence
    when no rebound numbers are in it, and the growth rate and R_t clauses (those of the
    series judging the unit, the same for every village pooled on it)."""
    text = _first_sentence(said, w, memo)
    if said.get("pooled"):
        text = w["aside"] % {"sentence": text, "aside": _pooled(said["pooled"], w, memo)}
    text = str(w["sentences"] % {"first": text, "second": _numbers(said["numbers"], w, memo)})
    if said.get("nowcast"):
        text = str(w["sentences"] % {"first": text, "second": _nowcast(said["nowcast"], w)})
    return text


def _first_sentence(said: dict[str, Any], w: dict[str, Any], memo: dict[Any, str] | None) -> str:
    """The level, trend and rebound sentence."""
    rebound_said = said.get("rebound") or {}
    state = rebound_said.get("state", "none")
    key: Any = None
    if memo is not None and state in ("none", "no_new_peak"):
        names = rebound_said.get("event_names") or {}
        key = (
            said["level"],
            said["phase"],
            state,
            rebound_said.get("event"),
            *((k, v) for k, v in names.items()),
        )
        text = memo.get(key)
    else:
        text = None
    if text is None:
        situation = w["situation"] % {
            "level": w["level"].get(said["level"]) or w["unknown_level"],
            "trend": w["trend"].get(said["phase"]) or w["trend"]["undetermined"],
        }
        rebound = _rebound(rebound_said, w)
        clauses = w["then"] % {"first": situation, "then": rebound} if rebound else situation
        text = w["end"] % {"clauses": clauses}
        if key is not None and memo is not None:
            memo[key] = text
    return str(text)


def _pooled(pooled: dict[str, Any], w: dict[str, Any], memo: dict[Any, str] | None) -> str:
    """The aside of a unit judged on another's series."""
    key = ("pooled", pooled["cases_14d"], pooled["min_cases_14d"], pooled["basis_name"])
    aside = _recall(memo, key)
    if aside is None:
        aside = _pooled_with(_count(pooled["cases_14d"]), pooled, w)
        _keep(memo, key, aside)
    return str(aside)


def _pooled_with(cases: str, pooled: dict[str, Any], w: dict[str, Any]) -> str:
    """The aside with the unit's cases in 14 days already written (``cases``)."""
    return str(
        w["pooled"]
        % {
            "cases": cases,
            "minimum": _count(pooled["min_cases_14d"]),
            "area": pooled["basis_name"],
        }
    )


def _nowcast(n: dict[str, Any], w: dict[str, Any]) -> str:
    """The sentence saying that the last days include the cases still to come."""
    values = {"days": n["days"], "pending": _count(n["pending"])}
    if n.get("low") is None or n.get("high") is None:
        return str(w["nowcast_point"] % values)
    values |= {
        "low": _count(n["low"]),
        "high": _count(n["high"]),
        "level": f"{n['level'] * 100:.0f}",
    }
    return str(w["nowcast"] % values)


def rise_below(names: Sequence[str], first: str) -> str:
    """The sentence added to an area where townships under it rebounded after the holiday."""
    w = _active()
    areas = w["list_separator"].join(names)
    return str(w["renewed_rise"] % {"areas": areas, "day": first})


def appended(text: str, more: str) -> str:
    """A further sentence after ``text``: ``a. b.`` / ``a。b。``."""
    return str(_active()["sentences"] % {"first": text, "second": more})


def sentences(said: dict[str, Any]) -> dict[str, str]:
    """The sentence in every stored language: ``{"zh-hans": …, "en": …}``."""
    return {language: texts[0] for language, texts in in_stored_languages([said]).items()}


def in_stored_languages(statements: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """The sentences of many units in every stored language.

    The words of each language are looked up once, and the parts that many units share
    (see :func:`_sentence`) are phrased once per language."""
    out: dict[str, list[str]] = {}
    for language in STORED_LANGUAGES:
        w = _words(language)
        memo: dict[Any, str] = {}
        out[language] = [_sentence(said, w, memo) for said in statements]
    return out


def in_stored_languages_grouped(
    groups: Sequence[dict[str, Any]],
    units: Sequence[tuple[int, float, float, float | None, float | None, dict[str, Any] | None]],
) -> dict[str, list[str]]:
    """:func:`grouped_columns` as lists."""
    return {language: texts.to_list() for language, texts in grouped_columns(groups, units).items()}


def grouped_columns(
    groups: Sequence[dict[str, Any]],
    units: Sequence[tuple[int, float, float, float | None, float | None, dict[str, Any] | None]],
    compact: Callable[[Sequence[str]], str | None] | None = None,
    whole: Collection[int] = (),
) -> dict[str, pl.Series]:
    """The sentences of many units that say what a group's statement says but for their own
    7-day numbers, pooled cases and nowcast: ``units`` holds ``(group, sum7, prev7, change,
    cases_14d, nowcast)`` (``cases_14d`` None when the group's statement is not pooled,
    ``nowcast`` the statement's nowcast part or None), ``groups`` a statement of
    each group (one of its units'). Each unit's sentence is the one :func:`in_stored_languages`
    writes for its own statement.

    For the assessment's villages, most of them judged on a few thousand parents' series: a
    group is a basis, its rebound state and whether the unit is pooled (a rebound state with
    numbers is the unit's own: a group of one). A unit's sentence is its group's sentence with
    two numbers of its own written in: its cases in 14 days (in the pooled aside) and the
    clause of its 7-day numbers. So each group's sentence is phrased once per language with a
    slot for each (:func:`_group_pieces`), each distinct number and 7-day clause once, and the
    pieces are joined column-wise by polars: on 河南's 50,000 villages the phrasing unit by
    unit, in two languages, was 0.7 s of the assessment's 5.3 s of CPU. Numbers are told apart
    as the clauses' memo tells them (:func:`_recall`): a zero by its text (-0.0 is written
    "-0", 0.0 "0", and they compare equal), a NaN never equal to another.

    With ``compact`` (``Packer.sentence_head``: a group's pieces → the head of a compact
    sentence, or None), a unit without a nowcast and not in ``whole`` (indices into
    ``units``) gets its sentence as that head and its two fillers (``evidence_texts``:
    compact rows), read back whole by ``SentenceField``."""
    # The distinct numbers (cases in 14 days; the 7-day clause's three) and, per unit, which
    # of them it has: the same in every language.
    cases_of: dict[Any, int] = {}
    clause_of: dict[Any, int] = {}
    cases_values: list[float] = []
    clause_values: list[tuple[float, float, float | None]] = []
    at_group: list[int] = []
    at_cases: list[int | None] = []
    at_clause: list[int] = []
    said_nowcast: list[tuple[int, dict[str, Any]]] = []
    for i, (g, sum7, prev7, change, cases, nowcast) in enumerate(units):
        if nowcast:
            said_nowcast.append((i, nowcast))
        at_group.append(g)
        if cases is None:
            at_cases.append(None)
        else:
            c = cases_of.setdefault(cases or str(cases), len(cases_of))
            if c == len(cases_values):
                cases_values.append(cases)
            at_cases.append(c)
        key = (sum7 or str(sum7), prev7 or str(prev7), change or str(change))
        k = clause_of.setdefault(key, len(clause_of))
        if k == len(clause_values):
            clause_values.append((sum7, prev7, change))
        at_clause.append(k)
    index = pl.DataFrame(
        {
            "group": pl.Series(at_group, dtype=pl.Int64),
            "cases": pl.Series(at_cases, dtype=pl.Int64),
            "clause": pl.Series(at_clause, dtype=pl.Int64),
        }
    )
    cases_texts = [_count(x) for x in cases_values]
    out: dict[str, pl.Series] = {}
    for language in STORED_LANGUAGES:
        w = _words(language)
        memo: dict[Any, str] = {}
        pieces = [_group_pieces(said, w, memo) for said in groups]
        clauses = [_cases(s7, p7, ch, w, None) for s7, p7, ch in clause_values]
        group = index["group"]
        frame = pl.DataFrame(
            [
                _gathered([p[0] for p in pieces], group).alias("a"),
                _gathered(cases_texts, index["cases"]).fill_null("").alias("b"),
                _gathered([p[1] for p in pieces], group).alias("c"),
                _gathered(clauses, index["clause"]).alias("d"),
                _gathered([p[2] for p in pieces], group).alias("e"),
            ]
        )
        texts = frame.select(pl.concat_str(pl.all()).alias(language))[language]
        if compact is not None:
            texts = _compacted(texts, frame, pieces, index["group"], compact, said_nowcast, whole)
        if said_nowcast:
            at = [i for i, _ in said_nowcast]
            sentences = w["sentences"]
            with_nowcast = [
                str(sentences % {"first": text, "second": _nowcast(nowcast, w)})
                for text, (_i, nowcast) in zip(
                    texts.gather(at).to_list(), said_nowcast, strict=True
                )
            ]
            texts = texts.scatter(at, with_nowcast)
        out[language] = texts
    return out


def _compacted(
    texts: pl.Series,
    frame: pl.DataFrame,
    pieces: list[tuple[str, str, str]],
    group: pl.Series,
    compact: Callable[[Sequence[str]], str | None],
    said_nowcast: list[tuple[int, dict[str, Any]]],
    whole: Collection[int],
) -> pl.Series:
    """``texts`` (a language's whole sentences) with those of the compact units replaced by
    their group's head and their fillers (the columns ``b`` and ``d`` of ``frame``). Only the
    groups of two compact units or more get a head: a template no row names would be written
    for nothing (a township's own group, its one unit nowcast), and one a single row names
    is as long as the sentence it stands for, an evidence text more to store for nothing
    (on the nation's day 26,757 of the 63,444 groups' heads in each language)."""
    keep = pl.Series([False] * len(texts), dtype=pl.Boolean)
    at = sorted({i for i, _ in said_nowcast} | set(whole))
    if at:
        keep = keep.scatter(at, True)
    used = evidence_texts.named_twice(group, ~keep)
    heads = _gathered([compact(p) if g in used else None for g, p in enumerate(pieces)], group)
    short = frame.select(
        pl.concat_str([heads, pl.col("b"), pl.lit(evidence_texts.SEP), pl.col("d")]).alias("s")
    )["s"]
    out: pl.Series = pl.DataFrame({"whole": texts, "short": short, "keep": keep}).select(
        pl.when(pl.col("keep") | pl.col("short").is_null())
        .then(pl.col("whole"))
        .otherwise(pl.col("short"))
        .alias("text")
    )["text"]
    return out


def _gathered(texts: Sequence[str | None], at: pl.Series) -> pl.Series:
    """``texts[i]`` for each ``i`` of ``at`` (null where ``at`` is)."""
    return pl.Series(texts, dtype=pl.String).gather(at)


#: Placeholders for a unit's own numbers in its group's sentence (:func:`_group_pieces`).
_CASES_SLOT, _CLAUSE_SLOT = "\x00cases\x00", "\x00clause\x00"


def _group_pieces(
    said: dict[str, Any], w: dict[str, Any], memo: dict[Any, str]
) -> tuple[str, str, str]:
    """A group's sentence without its unit's numbers: the text before the unit's cases in 14
    days, between them and its 7-day clause, and after it (:func:`_sentence`, phrased with
    placeholders and cut at them; a group that is not pooled has no cases: its first piece is
    empty)."""
    text = _first_sentence(said, w, memo)
    if said.get("pooled"):
        aside = _pooled_with(_CASES_SLOT, said["pooled"], w)
        text = w["aside"] % {"sentence": text, "aside": aside}
    numbers = _numbers_with(_CLAUSE_SLOT, _estimates(said["numbers"], w, memo), w)
    text = str(w["sentences"] % {"first": text, "second": numbers})
    before, slot, after = text.partition(_CLAUSE_SLOT)
    if not slot or _CLAUSE_SLOT in after or _CASES_SLOT in after:
        raise ValueError("a sentence's 7-day clause is not once after its pooled cases")
    if not said.get("pooled"):
        return "", before, after
    first, slot, between = before.partition(_CASES_SLOT)
    if not slot or _CASES_SLOT in between:
        raise ValueError("a sentence's pooled cases are not once before its 7-day clause")
    return first, between, after
