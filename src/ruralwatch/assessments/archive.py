"""Retention of village judgements (issue 15): archived with the village detail of their dates.

Nationally the cycle stores 666,655 village judgements a day (about 0.7 kB each, most of
them compact rows, ``evidence_texts``: most of the judgement table's 0.5 GB a day). Their
pages read recent days only; the judgements of townships and above stay (they are few, and
the pages and briefings read their history).
:class:`VillageJudgements` is the section that ``reporting.archive`` writes into the village
detail's Parquet file and deletes in the same transaction (``cycle.retention`` passes it).

The evidence and the sentences are kept as the stored text (``CAST(evidence AS TEXT)``),
tokens and all (a compact row's too), and put back as they were; the
:class:`~ruralwatch.assessments.models.EvidenceText` rows those tokens name (texts, shared
members, templates) are written to the file too (kind ``evidence_text``), since
``evidence_texts.prune`` deletes texts that no stored judgement refers to any more. A restore
puts back the texts that are missing and leaves those stored as they are (a text's key is its
hash).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from ruralwatch.areas.models import Area, Level
from ruralwatch.assessments import evidence_texts
from ruralwatch.assessments.models import EvidenceText, Judgement
from ruralwatch.core import archive as files
from ruralwatch.core import bulk

#: The columns of a judgement in the file, as text; the two flags as 0/1 (both databases
#: read and write those the same way).
JUDGEMENT_SCHEMA: dict[str, Any] = {
    "area_id": pl.String,
    "indicator_id": pl.String,
    "date": pl.String,
    "level": pl.String,
    "phase": pl.String,
    "rebound_detected": pl.Int8,
    "pooled": pl.Int8,
    "text_zh": pl.String,
    "text_en": pl.String,
    "evidence": pl.String,
}
TEXT_SCHEMA: dict[str, Any] = {"key": pl.String, "text": pl.String}
FLAGS = ("rebound_detected", "pooled")


def _where(start: dt.date, before: dt.date) -> tuple[str, list[Any]]:
    villages = f"SELECT code FROM {Area._meta.db_table} WHERE level = %s"
    return (
        f"date >= %s AND date < %s AND area_id IN ({villages})",
        [start.isoformat(), before.isoformat(), int(Level.VILLAGE)],
    )


class VillageJudgements:
    """The village judgements of the archived dates, and the evidence texts they name."""

    kinds: tuple[str, ...] = ("judgement", "evidence_text")

    def take(self, start: dt.date, before: dt.date) -> pl.DataFrame:
        where, params = _where(start, before)
        cols = ", ".join(
            f"CASE WHEN {c} THEN 1 ELSE 0 END"
            if c in FLAGS
            else f"CAST({c} AS TEXT)"
            if c in ("date", "evidence")
            else c
            for c in JUDGEMENT_SCHEMA
        )
        judgements = bulk.fetch_frame(
            f"SELECT {cols} FROM {Judgement._meta.db_table} WHERE {where}",
            params,
            schema=JUDGEMENT_SCHEMA,
        )
        judgements.columns = list(JUDGEMENT_SCHEMA)
        stored = (t for c in ("evidence", "text_zh", "text_en") for t in judgements[c])
        found = evidence_texts.stored_texts(evidence_texts.referred_keys(stored))
        texts = pl.DataFrame(
            {"key": list(found), "text": list(found.values())}, schema=TEXT_SCHEMA
        ).sort("key")
        return pl.concat(
            [
                judgements.with_columns(pl.lit("judgement").alias("kind")),
                texts.with_columns(pl.lit("evidence_text").alias("kind")),
            ],
            how="diagonal",
        )

    def delete(self, start: dt.date, before: dt.date) -> None:
        # The texts stay: other judgements may refer to them, and prune() is what drops
        # texts no stored judgement names (the file keeps a copy of those of its rows).
        where, params = _where(start, before)
        bulk.execute(f"DELETE FROM {Judgement._meta.db_table} WHERE {where}", params)

    def put_back(self, rows: pl.DataFrame) -> None:
        texts = rows.filter(pl.col("kind") == "evidence_text").select(list(TEXT_SCHEMA))
        files.insert_missing(EvidenceText._meta.db_table, texts, {}, "key")
        judgements = rows.filter(pl.col("kind") == "judgement").select(list(JUDGEMENT_SCHEMA))
        # The flags were written as 0/1; compared as text, the same on both databases.
        casts = {c: f"({c} = '1')" for c in FLAGS}
        if bulk.is_postgres():
            casts |= {"date": "CAST(date AS DATE)", "evidence": "CAST(evidence AS JSONB)"}
        files.insert_missing(
            Judgement._meta.db_table, judgements, casts, "area_id, indicator_id, date"
        )
