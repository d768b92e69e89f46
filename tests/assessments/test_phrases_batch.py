"""Phrasing many units at once (the assessment's batch, which reuses the clauses of equal
numbers) writes what phrasing each unit on its own writes; and evidence packed with its shared
parts stored once reads back as the whole (issue 15)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from ruralwatch.assessments import evidence_texts, phrases
from ruralwatch.assessments.evidence_texts import JSON_TOKEN, Packer, unpack_json
from ruralwatch.assessments.models import EvidenceText
from tests.assessments.sentence_cases import cases, unit_key

RECORDED = json.loads((Path(__file__).parent / "data" / "sentences.json").read_text("utf-8"))


def _alone(said: dict[str, Any]) -> list[str]:
    out = []
    for language in phrases.STORED_LANGUAGES:
        with translation.override(language):
            out.append(phrases.sentence(said))
    return out


def _variants(said: dict[str, Any]) -> list[dict[str, Any]]:
    """The statement with numbers that compare equal but are written differently (a negative
    zero, an int) or never equal (NaN), so that a clause phrased for one is not reused for
    the other."""
    out = []
    for field, value in (
        ("sum7", -0.0),
        ("sum7", 0.0),
        ("prev7", -0.0),
        ("change", -0.0),
        ("change", 0.0),
        ("sum7", 3),
        ("sum7", 3.0),
        ("sum7", float("nan")),
    ):
        v = copy.deepcopy(said)
        v["numbers"][field] = value
        out.append(v)
    if said["numbers"].get("growth_r") is not None:
        for value in (-0.0, 0.0, -0.0):
            v = copy.deepcopy(said)
            v["numbers"]["growth_r"] = value
            v["numbers"]["growth_low"] = value
            out.append(v)
            w = copy.deepcopy(said)
            w["numbers"]["rt_low"] = value
            out.append(w)
    if said.get("pooled"):
        for value in (-0.0, 0.0, 12, 12.0):
            v = copy.deepcopy(said)
            v["pooled"]["cases_14d"] = value
            out.append(v)
    return out


def test_a_batch_writes_what_each_unit_alone_writes() -> None:
    keys, statements = [], []
    for case, js in cases():
        for u in js.units:
            keys.append(unit_key(case, u.code))
            statements.append(u.statement)
    extra = [v for said in statements[::7] for v in _variants(said)]
    batch = phrases.in_stored_languages(statements + extra + statements)
    n = len(statements)
    for i, key in enumerate(keys):
        got = [batch["zh-hans"][i], batch["en"][i]]
        assert got == RECORDED[key], key
        assert [batch["zh-hans"][n + len(extra) + i], batch["en"][n + len(extra) + i]] == got
    for k, said in enumerate(extra):
        assert [batch["zh-hans"][n + k], batch["en"][n + k]] == _alone(said), said["numbers"]
    # the variants are written differently (the memo must not have merged them)
    texts = {batch["en"][n + k] for k in range(len(extra))}
    assert any("-0 new cases" in t for t in texts) and any(" 0 new cases" in t for t in texts)


LONG = "pre-event quasi-Poisson log-linear trend projected with a Farrington bound"


def _rows() -> list[dict[str, Any]]:
    shared_a = {"method": LONG, "r": -0.0, "ci": [None, 1e-17], "status": "ok"}
    shared_b = {"method": LONG, "r": 0.5, "window": ["2023-01-01", "2023-01-14"]}
    shared_list = [LONG, 1.5, {"deep": "东一村"}]
    rows = []
    for n in range(30):
        row: dict[str, Any] = {
            "as_of": "2023-02-05",
            "basis": {"code": f"41{n:010d}", "name": "东一村", "rule": LONG + " rule"},
            "level": shared_a if n % 2 else shared_b,
            "growth": shared_b,
            "phase": {"phase": "growth", "rules": LONG},  # not shared: its own object
            "rt": shared_list,
            "rebound": {"detected": n == 3, "method": LONG, "areas": []},
        }
        if n % 5 == 0:
            row["nowcast"] = {"method": LONG, "days": ["2023-02-04"], "x": float(n)}
        rows.append(row | {"sum7": float(n), "prev7": None, "change": -0.0, "per_100k": 1e-5})
    rows.append({"level": shared_a})  # nothing but a shared part
    rows.append({})
    rows.append({"rt": "a text, not shared", "level": 3})
    return rows


@pytest.mark.django_db
def test_shared_parts_read_back_as_the_whole() -> None:
    rows = _rows()
    packer = Packer({LONG, LONG + " rule"})
    shared = frozenset({"level", "growth", "phase", "rt"})
    packed = [packer.dumps(r, shared=shared) for r in rows]
    packer.save()
    evidence_texts._known.clear()  # read back as another process would, from the table
    for row, text in zip(rows, packed, strict=True):
        assert json.loads(unpack_json(text)) == row
        assert json.loads(unpack_json(text)) == json.loads(unpack_json(packer.dumps(row)))
    assert LONG not in packed[0]
    # every row with a shared part refers to stored members, one text per distinct content
    # (each row's "phase" is its own object here, but equal: two texts, by the "level" the
    # row has, and one for the row of one shared part)
    members = {t.split(JSON_TOKEN)[1][:16] for t in packed if JSON_TOKEN in t}
    assert sum(JSON_TOKEN in t for t in packed) == 31 and len(members) == 3
    assert EvidenceText.objects.filter(key__in=members).count() == 3
    assert packed[-2] == "{}" and packed[-1] == json.dumps(rows[-1])
    # rows that share the same objects refer to the same stored members
    again = [packer.dumps(r, shared=shared) for r in rows]
    assert again == packed
