"""Files that old rows are moved to (retention, issue 15), for every app that archives rows.

A file is written under a partial name, read back and compared with what was written, and
gets its final name only as the last step of the transaction that deletes its rows: if the
deletion or the commit fails, the rows stay and neither name is left, so no file claims to
hold rows that are still stored. A restore refuses a file whose bytes no longer match the
checksum recorded when it was written.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import polars as pl
from django.db import transaction
from django.utils.translation import gettext as _

from ruralwatch.core import bulk


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def partial_of(path: Path) -> Path:
    return path.with_suffix(".partial")


def write_checked(frame: pl.DataFrame, path: Path) -> str:
    """Write ``frame`` (zstd Parquet) to ``path``'s partial name, read it back and compare it
    cell for cell; returns the file's sha256. The partial file is removed if it differs."""
    partial = partial_of(path)
    frame.write_parquet(partial, compression="zstd", statistics=True)
    try:
        again = pl.read_parquet(partial)
        same = again.schema == frame.schema and again.equals(frame, null_equal=True)
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    if not same:
        partial.unlink(missing_ok=True)
        raise RuntimeError(_("the archive %(file)s did not read back as written") % {"file": path})
    return sha256_of(partial)


@contextlib.contextmanager
def publishing(path: Path) -> Iterator[None]:
    """A transaction whose last step renames ``path``'s partial file (:func:`write_checked`)
    to ``path``. If the block, the rename or the commit fails, the transaction is rolled back
    and neither the partial file nor the final one is left."""
    partial = partial_of(path)
    renamed = False
    try:
        with transaction.atomic():
            yield
            partial.replace(path)
            renamed = True
    except BaseException:
        partial.unlink(missing_ok=True)
        if renamed:
            path.unlink(missing_ok=True)
        raise


def read_checked(path: Path, sha256: str) -> pl.DataFrame:
    """The rows of an archive file, refused (``ValueError`` naming it) if its bytes changed."""
    if sha256_of(path) != sha256:
        raise ValueError(_("%(file)s changed since it was written (checksum)") % {"file": path})
    return pl.read_parquet(path)


def insert_missing(table: str, frame: pl.DataFrame, casts: Mapping[str, str], key: str) -> int:
    """Insert the rows of ``frame`` (columns named as ``table``'s, as text) that ``table``
    lacks by ``key`` (a unique column list), inside the caller's transaction: staged, then
    one ``INSERT … SELECT … ON CONFLICT DO NOTHING``. ``casts`` maps a column to the SQL
    expression that reads it from the staged text (PostgreSQL needs its types; SQLite keeps
    dates as the text they were). Returns the rows inserted."""
    if frame.is_empty():
        return 0
    bulk.create_staging("stage_restore", [(c, "text") for c in frame.columns])
    bulk.load_staging("stage_restore", frame)
    select = ", ".join(casts.get(c, c) for c in frame.columns)
    # ``WHERE true``: SQLite's parser reads ``ON`` after a bare ``FROM t`` as a join's.
    inserted = bulk.execute(
        f"INSERT INTO {table} ({', '.join(frame.columns)}) SELECT {select} "
        f"FROM stage_restore WHERE true ON CONFLICT ({key}) DO NOTHING"
    )
    bulk.drop_staging("stage_restore")
    return inserted
