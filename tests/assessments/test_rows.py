"""The assessment's stored rows (issue 15): most units' sentences and evidence are written
from their group's first sentence and their basis's evidence template (``services._rows``);
every row must be the one the whole judgement gives, phrased and packed unit by unit as the
assessment did before (the reference below), text for text."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import Counter
from typing import Any

import numpy as np
import polars as pl
import pytest
from django.utils.translation import override

from ruralwatch.assessments import evidence_texts, nowcasting, phrases, services
from ruralwatch.assessments.evidence_texts import unpack_json
from ruralwatch.assessments.models import EvidenceText
from ruralwatch.core import bulk
from ruralwatch.epi.assess.judgement import JudgementSet
from tests.assessments.sentence_cases import cases

pytestmark = pytest.mark.django_db

CYCLE = dt.date(2023, 2, 5)


def _levels_and_parents(js: JudgementSet) -> tuple[list[int], np.ndarray]:
    """Levels for the panel's units: the root a county, the others townships and villages
    in turn (so that a township's rebound reaches the root's row)."""
    U = len(js.columns.codes)
    basis = np.asarray(js.basis)
    root = int(basis[np.argmax([basis.tolist().count(b) for b in basis.tolist()])])
    parent = np.full(U, root)
    parent[root] = -1
    levels = [3 if u == root else (4 if u % 2 else 5) for u in range(U)]
    return levels, parent


def _late(U: int) -> nowcasting.Nowcast:
    """Nowcast evidence for a few units: one adds cases, one adds less than one."""
    late = nowcasting.Nowcast()
    for j, pending in ((0, 12.5), (min(2, U - 1), 0.4)):
        late.evidence[j] = {
            "method": nowcasting.METHOD_TEXT,
            "params": {**nowcasting.DEFAULT.as_dict(), "method": nowcasting.METHOD},
            "days": ["2023-02-04", "2023-02-05"],
            "reported": [3.0, 1.0],
            "nowcast": [5.5, 11.0],
            "pending": pending,
            "pending_interval": [2.0, 30.5],
        }
    return late


def _reference(
    js: JudgementSet, late: nowcasting.Nowcast, levels: list[int], parent: np.ndarray
) -> list[tuple[Any, ...]]:
    """The rows as the assessment wrote them before (whole judgements, unit by unit)."""
    units = [js.columns.unit(u) for u in range(len(js.columns.codes))]
    codes, names = js.columns.codes, js.columns.names
    for j, ev in late.evidence.items():
        units[j].evidence["nowcast"] = ev
        said = nowcasting.statement(ev)
        if said is not None:
            units[j].statement["nowcast"] = said
    rebounds = [u.rebound for u in units]
    below = services._rebounds_below([bool(r.get("detected")) for r in rebounds], parent, levels)
    firsts: dict[int, list[Any]] = {}
    for u, lv in zip(units, levels, strict=True):
        if len(firsts.setdefault(lv, [])) < 20:
            firsts[lv].append(u.evidence)
    packer = evidence_texts.Packer(
        evidence_texts.long_texts(e for group in firsts.values() for e in group)
    )
    texts = phrases.in_stored_languages([u.statement for u in units])
    text_zh, text_en = texts["zh-hans"], texts["en"]
    rows = []
    for i, u in enumerate(units):
        rebound = dict(u.rebound or {})
        if below[i]:
            first = min(
                str(rebounds[j].get("onset_date") or rebounds[j].get("first_date"))
                for j in below[i]
            )
            rebound["areas"] = [
                {"code": codes[j], "name": names[j], "from": rebounds[j].get("onset_date")}
                for j in below[i]
            ]
            rebound["detected"] = True
            risen = [names[j] for j in below[i]]
            with override("zh-hans"):
                text_zh[i] = phrases.appended(text_zh[i], phrases.rise_below(risen, first))
            with override("en"):
                text_en[i] = phrases.appended(text_en[i], phrases.rise_below(risen, first))
        rows.append(
            (
                u.code,
                "new_cases",
                CYCLE.isoformat(),
                u.level,
                u.phase,
                bool(rebound.get("detected")),
                bool(u.pooled),
                text_zh[i],
                text_en[i],
                packer.dumps(
                    u.evidence
                    | {
                        "rebound": rebound,
                        "sum7": u.sum7,
                        "prev7": u.prev7,
                        "change": u.change,
                        "per_100k": u.per_100k,
                    },
                    shared=services.SHARED_EVIDENCE,
                ),
            )
        )
    packer.save()
    return rows


def _alone(
    js: JudgementSet, late: nowcasting.Nowcast, levels: list[int], parent: np.ndarray
) -> set[int]:
    """The units that a compact row would suit (plain, no nowcast, no rebound detected) but
    that are the only such unit of their basis."""
    cols = js.columns
    detected = cols.rebound_columns.get("detected") or [False] * len(cols.codes)
    below = services._rebounds_below(detected, parent, levels)
    suited = [
        u
        for u in range(len(cols.codes))
        if not below[u] and u not in late.evidence and not detected[u]
    ]
    per_basis = Counter(cols.basis[u] for u in suited)
    return {u for u in suited if per_basis[cols.basis[u]] == 1}


def test_rows_are_those_of_the_whole_judgements() -> None:
    seen_plain = seen_whole = seen_pooled = seen_nowcast = seen_compact = seen_short = 0
    seen_alone = 0
    states: set[str] = set()
    for name, js in cases():
        U = len(js.columns.codes)
        levels, parent = _levels_and_parents(js)
        late = _late(U)
        summary = services.AssessmentSummary(CYCLE.isoformat())
        got = services._rows(
            js.columns, late, js.columns.codes, levels, parent, "new_cases", CYCLE, summary
        ).rows()
        expected = _reference(js, late, levels, parent)
        assert len(got) == len(expected) == U
        alone = _alone(js, late, levels, parent)
        for u, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert g[:7] == e[:7], (name, g[0])
            # the same sentences and evidence text once a compact row's templates are filled
            # (the whole rows as they are), and the same evidence when read back
            compact = g[9].startswith('["' + evidence_texts.TEMPLATE)
            short = [t.startswith(evidence_texts.SENTENCE) for t in g[7:9]]
            if u in alone:  # its basis names no other compact row: written whole
                assert not compact, (name, g[0])
                seen_alone += 1
            if compact:
                seen_compact += 1
                assert len(g[9]) < len(e[9]) / 2
                assert u not in late.evidence and not e[5]  # no nowcast, no rebound found
            for is_short, stored, text in zip(short, g[7:9], e[7:9], strict=True):
                # a sentence is compact only in a compact row, and only when that is shorter
                assert not is_short or (compact and len(stored) < len(text)), (name, g[0])
                seen_short += is_short
            assert tuple(evidence_texts.sentence(t) for t in g[7:9]) == e[7:9], (name, g[0])
            assert (evidence_texts.filled(g[9]) if compact else g[9]) == e[9], (name, g[0])
            assert json.loads(unpack_json(g[9])) == json.loads(unpack_json(e[9]))
        # every template written is named by a row (none for groups or bases whose rows all
        # stay whole)
        named = evidence_texts.referred_keys(t for r in got for t in r[7:10])
        templates = EvidenceText.objects.filter(text__contains=evidence_texts.SEP)
        assert set(templates.values_list("key", flat=True)) <= named, name
        # ... by two rows at least (a row that would be alone to name one is written whole)
        rows_naming = Counter(
            k for r in got for t in r[7:10] for k in evidence_texts.referred_keys([t])
        )
        assert all(rows_naming[k] > 1 for k in templates.values_list("key", flat=True)), name
        EvidenceText.objects.all().delete()
        assert sum(summary.by_phase.values()) == U
        detected = [bool(u.rebound.get("detected")) for u in js.units]
        below = services._rebounds_below(detected, parent, levels)
        whole = {u for u in range(U) if below[u]}
        unit_states = services._rebound_states(js.columns.rebound_columns, U)
        states |= {unit_states[u] for u in range(U) if u not in whole}
        seen_whole += len(whole)
        seen_plain += U - len(whole)
        seen_nowcast += len(set(late.evidence) - whole)
        seen_pooled += sum(g[6] for g in got)
    # the cases reach both paths (a township's rebound below the root), nowcasts, pooled
    # units and every rebound state on the plain path
    assert seen_plain > 50 and seen_whole > 3 and seen_nowcast > 20 and seen_pooled > 10
    assert seen_compact > 30 and seen_short > 30 and seen_alone > 3
    assert states == {"none", "new_peak", "above_projection", "no_new_peak"}


def test_a_column_is_written_as_json_writes_each_value() -> None:
    values = [0.1 + 0.2, -0.0, 1e-17, 2.0**70, None, True, 3, "2023-02-05", "a, b", float("nan")]
    assert services._json_column(values) == [json.dumps(v) for v in values]
    assert services._json_column(values[:4]) == [json.dumps(v) for v in values[:4]]
    assert services._json_column([]) == []


def test_a_template_needs_each_slot_once_and_in_order() -> None:
    text = json.dumps({"a": services._slot("a"), "p": "100%", "b": services._slot("b")})
    assert services._pieces(text, ["a", "b"]) == ['{"a": ', ', "p": "100%", "b": ', "}"]
    with pytest.raises(ValueError, match="slot a"):  # b comes after a
        services._pieces(text, ["b", "a"])
    with pytest.raises(ValueError, match="slot c"):
        services._pieces(text, ["a", "c"])
    twice = json.dumps([services._slot("a"), services._slot("a")])
    with pytest.raises(ValueError, match="slot a"):
        services._pieces(twice, ["a"])


NOWCAST = (
    None,
    {"days": 7, "pending": 12.5, "low": 3.0, "high": 30.5, "level": 0.95},
    {"days": 7, "pending": 2.0, "low": None, "high": None, "level": 0.95},
)


def test_grouped_sentences_are_each_units_own() -> None:
    """Units of a group that differ only by numbers written differently although equal (a
    negative zero, an int) or never equal (NaN) each get their own words, and their own
    nowcast's."""
    groups = []
    for _name, js in cases():
        for u in js.units:
            if u.statement["rebound"]["state"] in ("none", "no_new_peak"):
                groups.append(u.statement)
    groups = groups[::7][:24]
    zeros = (-0.0, 0.0, 3, 3.0, float("nan"))
    units, statements = [], []
    for g, said in enumerate(groups):
        for sum7, prev7, change, cases_14d in itertools.product(
            zeros, (0.0, 2.0), (None, -0.0, 0.0, 0.25), zeros if said["pooled"] else (None,)
        ):
            nowcast = NOWCAST[len(units) % 3]
            units.append((g, sum7, prev7, change, cases_14d, nowcast))
            own = {**said, "numbers": {**said["numbers"], "sum7": sum7, "prev7": prev7}}
            own["numbers"]["change"] = change
            if said["pooled"]:
                own["pooled"] = {**said["pooled"], "cases_14d": cases_14d}
            if nowcast is not None:
                own["nowcast"] = nowcast
            statements.append(own)
    assert any(s["pooled"] for s in groups) and any(not s["pooled"] for s in groups)
    got = phrases.in_stored_languages_grouped(groups, units)
    expected = phrases.in_stored_languages(statements)
    assert got == expected
    assert any("-0 " in t for t in got["en"]) and any(" 0 new" in t for t in got["en"])


def test_rows_are_stored_as_they_are_written() -> None:
    """The rows' COPY (text format on PostgreSQL) keeps backslashes, tabs, newlines and
    carriage returns in the texts and the evidence, and writes plain rows as they are."""
    from ruralwatch.assessments.models import Judgement

    odd = "a\\b\tc\nd\re \\N"
    rows = [
        ("X1", "new_cases", "2023-02-05", "low", "growth", False, True, "plain", "plain en", "{}"),
        ("X2", "new_cases", "2023-02-05", "high", "plateau", True, False, odd, "en", '{"k": 1}'),
    ]
    bulk.append_text(
        Judgement._meta.db_table, pl.DataFrame(rows[:1], schema=services.SCHEMA, orient="row")
    )
    odd_evidence = json.dumps({"k": odd, "n": None})
    frame = pl.DataFrame([(*rows[1][:9], odd_evidence)], schema=services.SCHEMA, orient="row")
    bulk.append_text(Judgement._meta.db_table, frame)
    plain, special = Judgement.objects.order_by("area_id")
    assert (plain.area_id, plain.level, plain.phase, plain.pooled, plain.rebound_detected) == (
        "X1",
        "low",
        "growth",
        True,
        False,
    )
    assert (plain.text_zh, plain.text_en, plain.evidence) == ("plain", "plain en", {})
    assert (special.text_zh, special.text_en) == (odd, "en") and special.rebound_detected
    assert special.evidence == {"k": odd, "n": None}
    assert special.date == CYCLE
