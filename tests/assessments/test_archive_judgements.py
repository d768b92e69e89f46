"""Village judgements archived with the village detail (issue 15): moved to the same file in
the same transaction, townships and above kept, restored row for row with their evidence
whole even after the texts were pruned, nothing deleted when any step fails."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from django.utils.translation import override

from ruralwatch.areas.services import import_areas
from ruralwatch.assessments import evidence_texts
from ruralwatch.assessments.evidence_texts import Packer, long_texts
from ruralwatch.assessments.models import EvidenceText, Judgement
from ruralwatch.assessments.services import COLUMNS
from ruralwatch.core import bulk
from ruralwatch.cycle.retention import archive, restore
from ruralwatch.reporting import archive as detail
from ruralwatch.reporting.models import ArchivedPeriod, ReportValue, Submission
from ruralwatch.reporting.services import import_reports
from tests.commands import cli_runner
from tests.trees import ONE_TOWNSHIP as TREE

pytestmark = pytest.mark.django_db

VILLAGES = ("990101001001", "990101001002")
TOWNSHIP = "990101001000"
NOW = dt.datetime(2023, 2, 1, tzinfo=dt.UTC)
METHOD = 'Bayesian nowcast of reporting delays (Höhle & an der Heiden 2014), "quoted"\n\\'
RULE = "own series if >= min_cases_14d cases in 14 days, else nearest ancestor"
#: a text named only inside the shared members (prune must find it through them)
INNER = "a rule named only inside the shared members, long enough for a token"
JUDGEMENT_COLS = (
    "area_id", "indicator_id", "date", "level", "phase", "rebound_detected", "pooled",
    "text_zh", "text_en", "evidence",
)  # fmt: skip


def _evidence(day: int, n: int, basis: dict[str, Any]) -> dict[str, Any]:
    return {
        "as_of": f"2023-01-{day:02d}",
        **basis,
        "sum7": float(n) + 0.5,
        "nowcast": {"method": METHOD, "lower": [n, None]},
        "basis": {"rule": RULE, "name": "东一村"},
        "empty": "",
    }


def _store(tmp_path: Path) -> dict[tuple[str, dt.date], dict[str, Any]]:
    """Ten days of reports, and a judgement a day for each village (pooled on a shared basis,
    as the assessment writes them) and for the township; returns the evidence judged."""
    (tmp_path / "tree.csv").write_text(TREE, encoding="utf-8")
    import_areas(tmp_path / "tree.csv")
    lines = ["area_code,date,new_cases,submitted_at"]
    for i in range(10):
        day = dt.date(2023, 1, 1) + dt.timedelta(days=i)
        lines += [f"{v},{day},{i},{day} 20:15:00" for v in VILLAGES]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_reports(tmp_path / "r.csv", now=NOW)
    judged: dict[tuple[str, dt.date], dict[str, Any]] = {}
    rows = []
    for i in range(10):
        day = dt.date(2023, 1, 1) + dt.timedelta(days=i)
        # The villages are judged on a basis whose members name INNER in the first five
        # days (the ones archived) only; the township on its own series.
        inner = INNER if i < 5 else INNER + " (revised)"
        basis = {"level": {"rule": inner, "value": float(i)}, "growth": {"r": -0.25 + i}}
        own = {"level": {"value": 10.0 + i}, "growth": {"r": 0.5}}
        for n, area in enumerate((*VILLAGES, TOWNSHIP)):
            judged[area, day] = _evidence(day.day, n, own if area == TOWNSHIP else basis)
        packer = Packer(long_texts(judged.values()))
        for n, area in enumerate((*VILLAGES, TOWNSHIP)):
            text = packer.dumps(judged[area, day], shared={"level", "growth"})
            zh = f"{area} 平稳"
            if area == VILLAGES[1]:  # a compact row, as the assessment writes a plain village's
                text, zh = _compact(packer, text, judged[area, day]["sum7"], day, i)
            rows.append(
                (area, "new_cases", day.isoformat(), "low", "plateau", n == 1, area != TOWNSHIP,
                 zh, "", text)
            )  # fmt: skip
        packer.save()
    bulk.insert_rows(Judgement._meta.db_table, list(COLUMNS), rows)
    return judged


def _compact(packer: Packer, text: str, sum7: float, day: dt.date, i: int) -> tuple[str, str]:
    """``text`` as a compact row's evidence (its 7-day sum the own value), and a compact
    sentence that reads as :func:`_sentence` (templates of the day, stored by ``packer``)."""
    value = evidence_texts.to_json(sum7)
    pieces = text.split(value)
    assert len(pieces) == 2
    head = packer.sentence_head([f"{day} 疫情处于低流行水平，总体平稳。", "近7天新增", "例。"])
    assert head is not None
    return f"{packer.template_head(pieces)}, {value}]", f"{head}{i}{evidence_texts.SEP}{i + 1}"


def _sentence(day: dt.date, i: int) -> str:
    return f"{day} 疫情处于低流行水平，总体平稳。{i}近7天新增{i + 1}例。"


def _rows() -> set[tuple[Any, ...]]:
    return set(Judgement.objects.values_list(*JUDGEMENT_COLS[:-1]))


def _stored_evidence(column: str = "CAST(evidence AS TEXT)") -> dict[tuple[str, dt.date], str]:
    """The evidence (or another column) as stored (tokens and all)."""
    return {
        (a, d): t
        for a, d, t in bulk.rows(f"SELECT area_id, date, {column} FROM {Judgement._meta.db_table}")
    }


def _evidence_read() -> dict[tuple[str, dt.date], Any]:
    evidence_texts._known.clear()  # read from the table, as another process would
    return {(j.area_id, j.date): j.evidence for j in Judgement.objects.all()}


def test_village_judgements_leave_with_the_detail_and_come_back_whole(tmp_path: Path) -> None:
    judged = _store(tmp_path)
    rows, stored, texts = _rows(), _stored_evidence(), set(EvidenceText.objects.values_list())
    assert _evidence_read() == judged  # the read through the model unpacks the tokens
    compact = {k: v for k, v in stored.items() if k[0] == VILLAGES[1]}
    assert all(v.startswith('["' + evidence_texts.TEMPLATE) for v in compact.values())
    sentences = {(j.area_id, j.date): j.text_zh for j in Judgement.objects.all()}
    assert all(
        sentences[k] == _sentence(k[1], k[1].day - 1)
        and _stored_evidence("text_zh")[k].startswith(evidence_texts.SENTENCE)
        for k in compact
    )

    s = archive(dt.date(2023, 1, 6), tmp_path / "archive")
    assert (s.start, s.end, s.values, s.submissions) == ("2023-01-01", "2023-01-05", 10, 10)
    assert s.other["judgement"] == 10 and s.other["evidence_text"] >= 3
    cut = dt.date(2023, 1, 6)
    old = {r for r in rows if r[2] < cut and r[0] != TOWNSHIP}
    assert old and _rows() == rows - old  # the township's judgements of those days stay
    assert Judgement.objects.filter(area_id=TOWNSHIP, date__lt=cut).count() == 5
    # The file holds them, the evidence as it was stored.
    file = pl.read_parquet(s.file).filter(pl.col("kind") == "judgement")
    in_file = file.select("area_id", "date", "evidence").rows()
    assert {(a, dt.date.fromisoformat(d)): e for a, d, e in in_file} == {
        k: v for k, v in stored.items() if k[1] < cut and k[0] != TOWNSHIP
    }

    # Texts only the archived rows named are pruned; the file still has them.
    only_old = {k for k in EvidenceText.objects.values_list("key", flat=True)} - (
        evidence_texts.referred_keys(
            [*_stored_evidence().values(), *_stored_evidence("text_zh").values()]
        )
    )
    # the first five days' village members, INNER, and the compact row's two templates a day
    assert len(only_old) == 5 + 1 + 5 * 2
    assert evidence_texts.prune() == len(only_old)

    back = restore(Path(s.file))
    assert back.other == s.other and (back.values, back.submissions) == (10, 10)
    assert _rows() == rows
    assert _stored_evidence() == stored  # the stored text, exactly
    assert (
        _evidence_read() == judged
        and {(j.area_id, j.date): j.text_zh for j in Judgement.objects.all()} == sentences
    )
    assert set(EvidenceText.objects.values_list()) == texts
    assert _evidence_read() == judged
    assert not ArchivedPeriod.objects.exists()
    assert restore_again_refused(Path(s.file))


def restore_again_refused(path: Path) -> bool:
    with override("en"), pytest.raises(ValueError, match="not a recorded archive"):
        restore(path)
    return True


def test_a_restore_leaves_texts_already_stored_and_judgements_made_since(tmp_path: Path) -> None:
    judged = _store(tmp_path)
    s = archive(dt.date(2023, 1, 3), tmp_path / "archive")
    # A judgement of an archived day made again since (a re-run): the restore keeps it.
    Judgement.objects.create(
        area_id=VILLAGES[0], indicator_id="new_cases", date=dt.date(2023, 1, 1), level="high",
        phase="growth", text_zh="", text_en="", evidence={"again": True},
    )  # fmt: skip
    restore(Path(s.file))
    assert Judgement.objects.get(area_id=VILLAGES[0], date=dt.date(2023, 1, 1)).level == "high"
    got = _evidence_read()
    assert got[VILLAGES[1], dt.date(2023, 1, 2)] == judged[VILLAGES[1], dt.date(2023, 1, 2)]
    assert got[VILLAGES[0], dt.date(2023, 1, 1)] == {"again": True}


@pytest.mark.parametrize("where", ["check", "judgement delete", "record", "publish"])
def test_a_failure_half_way_deletes_nothing_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    _store(tmp_path)
    rows, values = _rows(), ReportValue.objects.count()
    directory = tmp_path / "archive"

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected")

    if where == "check":  # the file does not read back as written
        real = pl.read_parquet
        monkeypatch.setattr(
            "ruralwatch.core.archive.pl.read_parquet",
            lambda p: real(p).with_columns(pl.lit("x").alias("evidence")),
        )
    elif where == "judgement delete":  # after the values' DELETE, in the same transaction
        monkeypatch.setattr("ruralwatch.assessments.archive.VillageJudgements.delete", boom)
    elif where == "record":
        monkeypatch.setattr(ArchivedPeriod.objects, "create", boom)
    else:  # the file's rename, the transaction's last step
        monkeypatch.setattr("ruralwatch.core.archive.Path.replace", boom)
    expected = "did not read back" if where == "check" else "injected"
    with override("en"), pytest.raises(RuntimeError, match=expected):
        archive(dt.date(2023, 1, 6), directory)
    assert _rows() == rows and ReportValue.objects.count() == values
    assert Submission.objects.count() == 20 and not ArchivedPeriod.objects.exists()
    assert list(directory.iterdir()) == []


def test_a_restore_that_fails_half_way_puts_nothing_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(tmp_path)
    s = archive(dt.date(2023, 1, 3), tmp_path / "archive")
    rows, values = _rows(), ReportValue.objects.count()

    def boom(self: object, frame: pl.DataFrame) -> None:  # after the values went back
        raise RuntimeError("injected")

    monkeypatch.setattr("ruralwatch.assessments.archive.VillageJudgements.put_back", boom)
    with pytest.raises(RuntimeError, match="injected"):
        restore(Path(s.file))
    assert _rows() == rows and ReportValue.objects.count() == values
    assert ArchivedPeriod.objects.get().file == s.file and Path(s.file).exists()
    monkeypatch.undo()
    restore(Path(s.file))
    assert len(_rows()) == len(rows) + 4


def test_a_changed_file_is_refused_naming_it(tmp_path: Path) -> None:
    _store(tmp_path)
    s = archive(dt.date(2023, 1, 3), tmp_path / "archive")
    path = Path(s.file)
    frame = pl.read_parquet(path)
    frame.with_columns(
        pl.when(pl.col("kind") == "judgement").then(pl.lit("high")).alias("level")
    ).write_parquet(path, compression="zstd")
    with override("en"), pytest.raises(ValueError, match="checksum") as err:
        restore(path)
    assert str(path) in str(err.value)
    assert not Judgement.objects.filter(date__lt=dt.date(2023, 1, 3), area_id__in=VILLAGES)
    assert ArchivedPeriod.objects.exists()


def test_the_values_restore_alone_refuses_a_file_with_judgements(tmp_path: Path) -> None:
    """Without the judgements' section the period would be forgotten with its judgements
    only in the file."""
    _store(tmp_path)
    s = archive(dt.date(2023, 1, 3), tmp_path / "archive")
    with override("en"), pytest.raises(ValueError, match="evidence_text, judgement"):
        detail.restore(Path(s.file))
    with override("zh-hans"), pytest.raises(ValueError, match="无法放回"):
        detail.restore(Path(s.file))
    assert ArchivedPeriod.objects.exists() and not ReportValue.objects.filter(
        date__lt=dt.date(2023, 1, 3)
    )


def test_a_file_of_values_only_restores_through_the_retention(tmp_path: Path) -> None:
    """A file written before judgements were archived has no judgement columns."""
    _store(tmp_path)
    rows = _rows()
    s = detail.archive(dt.date(2023, 1, 3), tmp_path / "archive")
    assert "evidence" not in pl.read_parquet(s.file).columns and _rows() == rows
    back = restore(Path(s.file))
    assert (back.values, back.other) == (4, {}) and ReportValue.objects.count() == 20


def test_the_commands_say_how_many_judgements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(tmp_path)
    invoke = cli_runner(monkeypatch)
    target = tmp_path / "arch"
    result = invoke(["reports", "archive", "--before", "2023-01-04", "--dir", str(target)])
    assert result.exit_code == 0, result.output
    assert "6 values, 6 submissions and 6 village judgements moved to" in result.output
    [path] = target.glob("*.parquet")
    back = invoke(["reports", "restore", str(path)])
    assert back.exit_code == 0, back.output
    assert "6 values, 6 submissions and 6 village judgements restored" in back.output
