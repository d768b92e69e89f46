"""Evidence texts stored once (issue 15): what is read back equals what was judged."""

from __future__ import annotations

import json

import pytest

from ruralwatch.assessments import evidence_texts
from ruralwatch.assessments.evidence_texts import (
    JSON_TOKEN,
    MEMBERS,
    TOKEN,
    Packer,
    long_texts,
    unpack,
    unpack_json,
)
from ruralwatch.assessments.models import EvidenceText, Judgement

pytestmark = pytest.mark.django_db

LONG = 'Bayesian nowcast of reporting delays (Höhle & an der Heiden 2014), "quoted" and more'
AREA = "990101001001"  # judgements keep no database constraint on the area
RULE = "own series if >= min_cases_14d cases in 14 days, else nearest ancestor"


def _evidence(n: int) -> dict[str, object]:
    return {
        "nowcast": {"method": LONG, "days": ["2023-01-31"], "lower": [n, n + 1]},
        "basis": {"rule": RULE, "code": f"99010100{n:04d}", "name": "东一村"},
        "short": "incidence per 100,000",
        "list": [LONG, 1.5, None, {"deep": RULE}],
    }


def _write(*rows: tuple[str, str, str, str, str]) -> None:
    """Judgements ``(area, date, text_zh, text_en, stored evidence)`` written through SQL as
    the assessment writes them (low, plateau, pooled)."""
    from ruralwatch.assessments.services import COLUMNS
    from ruralwatch.core import bulk

    bulk.insert_rows(
        Judgement._meta.db_table,
        list(COLUMNS),
        [
            (a, "new_cases", d, "low", "plateau", False, True, zh, en, ev)
            for a, d, zh, en, ev in rows
        ],
    )


def test_long_texts_are_found_at_any_depth_and_short_ones_left() -> None:
    assert long_texts([_evidence(1), {"x": [LONG]}]) == {LONG, RULE}


def test_packed_rows_read_back_whole_through_the_orm() -> None:
    packer = Packer(long_texts([_evidence(0)]))
    text = packer.dumps(_evidence(7))
    assert LONG not in text and RULE not in text and TOKEN in text
    assert len(text) < len(json.dumps(_evidence(7), ensure_ascii=False)) - 100
    assert set(EvidenceText.objects.values_list("text", flat=True)) == {LONG, RULE}
    # A row written through SQL as the assessment writes it, and one written whole.
    _write((AREA, "2023-01-31", "", "", text))
    whole = Judgement.objects.create(
        area_id=AREA, indicator_id="new_cases", date="2023-02-01", level="low",
        phase="plateau", text_zh="", text_en="", evidence=_evidence(8),
    )  # fmt: skip
    assert Judgement.objects.get(date="2023-01-31").evidence == _evidence(7)
    assert Judgement.objects.get(pk=whole.pk).evidence == _evidence(8)
    assert (
        Judgement.objects.filter(date="2023-01-31")
        .values_list("evidence__nowcast__method", flat=True)
        .get()
        == LONG
    )


def test_a_process_that_never_saw_a_text_reads_it_from_the_table() -> None:
    packer = Packer({LONG})
    text = packer.dumps({"m": LONG})
    evidence_texts._known.clear()  # as in another worker process
    assert json.loads(unpack_json(text)) == {"m": LONG}
    # A token whose text is nowhere stays a token rather than failing the page.
    missing = f'{{"m": "{TOKEN}0123456789abcdef"}}'
    assert unpack_json(missing) == missing


def test_shared_members_read_back_whole_through_the_orm() -> None:
    """Rows that refer to shared members stored once read back as the whole evidence, in
    every way a reader gets them (the model, values(), a parsed value), in another process
    too."""
    basis = {"level": {"value": 3.0, "rule": RULE}, "growth": {"r": -0.25, "ci": [None, 1.0]}}
    rows = [
        {"as_of": "2023-01-31", **basis, "sum7": float(n), "nowcast": _evidence(n)["nowcast"]}
        for n in range(3)
    ]
    packer = Packer(long_texts(rows))
    texts = [packer.dumps(r, shared={"level", "growth"}) for r in rows]
    packer.save()
    assert all(len(t) < len(json.dumps(rows[0], ensure_ascii=False)) - 40 for t in texts)
    assert len({t.split(JSON_TOKEN)[1][:16] for t in texts}) == 1
    _write(*((f"99010100{n:04d}", "2023-01-31", "", "", t) for n, t in enumerate(texts)))
    evidence_texts._known.clear()  # as in another worker process
    got = {j.area_id: j.evidence for j in Judgement.objects.all()}
    assert got == {f"99010100{n:04d}": rows[n] for n in range(3)}
    assert list(Judgement.objects.order_by("area_id").values_list("evidence", flat=True)) == rows
    stored = json.loads(texts[1])
    assert unpack(stored) == rows[1]
    # members whose text is nowhere stay a member rather than failing the page
    lost = {"as_of": "x", MEMBERS: JSON_TOKEN + "0123456789abcdef"}
    assert unpack(lost) == lost and json.loads(unpack_json(json.dumps(lost))) == lost


def test_prune_keeps_what_judgements_refer_to_and_deletes_the_rest() -> None:
    """Texts referred to by a row, or only through the shared members a row refers to, stay;
    texts of judgements deleted (a rebuilt region) go."""
    only_in_members = "a rule named only inside the shared members, long enough for a token"
    basis = {"level": {"rule": only_in_members}, "growth": {"r": 0.1}}
    kept = {"as_of": "2023-01-31", **basis, "nowcast": {"method": LONG}}
    gone = {"as_of": "2023-01-30", "level": {"rule": "x" * 50}, "growth": {"r": 0.2}}
    packer = Packer(long_texts([kept, gone]))
    rows = [
        (AREA, day, "", "", text)
        for day, text in (
            ("2023-01-31", packer.dumps(kept, shared={"level", "growth"})),
            ("2023-01-30", packer.dumps(gone, shared={"level", "growth"})),
        )
    ]
    packer.save()
    _write(*rows)
    before = EvidenceText.objects.count()
    assert before == 5  # three texts, two members
    assert evidence_texts.prune() == 0  # everything is referred to
    Judgement.objects.filter(date="2023-01-30").delete()
    assert evidence_texts.prune() == 2  # the deleted row's members and its long rule
    evidence_texts._known.clear()
    assert Judgement.objects.get().evidence == kept
    assert EvidenceText.objects.count() == 3


def test_compact_rows_read_back_whole_and_keep_their_templates() -> None:
    """A compact row (its basis's template and its own values; its group's sentence and its
    fillers) reads back whole through the model and values(), in another process too;
    prune keeps the templates it names (and the members and texts they name) and drops them
    with it; a template that is nowhere leaves the stored text as it is."""
    basis = {"level": {"value": 3.0, "rule": RULE}, "growth": {"r": -0.25}}
    whole = {"as_of": "2023-01-31", **basis, "basis": {"pooled": True}, "sum7": 4.5, "x": "a,b"}
    packer = Packer(long_texts([whole]))
    text = packer.dumps(whole, shared={"level", "growth"})
    pieces = text.replace("true", "\x00").replace("4.5", "\x00").replace('"a,b"', "\x00")
    head = packer.template_head(pieces.split("\x00"))
    assert head is not None and packer.template_head(["a", "b\x1f"]) is None
    evidence = f'{head}, true, 4.5, "a,b"]'
    sentence = ["疫情处于低流行水平，总体平稳。（本地近14天仅", "例。）近7天新增", "例。"]
    zh = packer.sentence_head(sentence)
    assert zh is not None and packer.sentence_head(["短句", "", "。"]) is None  # not shorter
    packer.save()
    stored_zh = f"{zh}19{evidence_texts.SEP}3"
    _write((AREA, "2023-01-31", stored_zh, "en", evidence))
    assert len(evidence) < len(text) / 2
    evidence_texts._known.clear()  # as in another worker process
    j = Judgement.objects.get()
    said = "疫情处于低流行水平，总体平稳。（本地近14天仅19例。）近7天新增3例。"
    assert (j.evidence, j.text_zh, j.text_en, j.text("zh-hans")) == (whole, said, "en", said)
    assert list(Judgement.objects.values_list("evidence", "text_zh")) == [(whole, said)]
    assert unpack(json.loads(evidence)) == whole  # a backend that hands over parsed JSON
    assert evidence_texts.prune() == 0  # two texts, the members and two templates: all named
    assert EvidenceText.objects.count() == 4
    Judgement.objects.all().delete()
    assert evidence_texts.prune() == 4
    # unknown templates: the stored text as it is, not a failed page
    evidence_texts._known.clear()
    assert evidence_texts.filled(evidence) == evidence
    assert evidence_texts.sentence(stored_zh) == stored_zh
    assert evidence_texts.sentence("§s: not a token") == "§s: not a token"


def test_a_template_and_its_row_must_agree_on_the_slots() -> None:
    packer = Packer(set())
    head = packer.template_head(['{"a": ', ', "b": ', "}"])
    sentence = packer.sentence_head(["a long enough sentence piece, ", " and ", " then."])
    packer.save()
    assert json.loads(evidence_texts.filled(f"{head}, 1, null]")) == {"a": 1, "b": None}
    with pytest.raises(ValueError, match="2 slots, not 1"):
        evidence_texts.filled(f"{head}, 1]")
    with pytest.raises(ValueError, match="2 slots, not 3"):
        evidence_texts.sentence(f"{sentence}1\x1f2\x1f3")


def test_the_keys_have_one_index_on_postgresql() -> None:
    """The texts are looked up by key only (migration 0005 dropped Django's ``LIKE`` index):
    on PostgreSQL their table has its primary key's index and no other; SQLite never had one."""
    from django.db import connection

    table = EvidenceText._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
            found = [d for (d,) in cur.fetchall()]
        assert len(found) == 1 and "UNIQUE" in found[0] and "(key)" in found[0], found
    else:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s", [table]
            )
            names = [n for (n,) in cur.fetchall()]
        assert all(n.startswith("sqlite_autoindex") for n in names), names
