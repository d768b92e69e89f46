"""The backup methods of docs/deploy.md, each restored and compared: SQLite's online backup
(Python's API and the ``sqlite3 .backup`` command) and ``pg_dump``/``pg_restore``.

Each backup is taken while a writer keeps committing, as on a live server: the restored copy
must be a consistent snapshot (every transaction whole or absent) that passes the integrity
check, and what it holds must equal the source's rows up to that snapshot."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.shared import REPO

PG = ["-h", "127.0.0.1", "-U", "postgres"]
DOC = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")


def _sqlite_source(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(
        """
        PRAGMA journal_mode=WAL;
        CREATE TABLE area (code TEXT PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE value (id INTEGER PRIMARY KEY, area TEXT REFERENCES area(code),
                            day TEXT, n REAL, txn INTEGER);
        CREATE INDEX value_day ON value(day);
        """
    )
    db.executemany(
        "INSERT INTO area VALUES (?, ?)", [(f"1101010010{i:02d}", f"村{i}") for i in range(50)]
    )
    db.commit()
    db.close()


def _sqlite_writer(path: Path, stop: threading.Event) -> None:
    """Commits transactions of exactly two rows each until told to stop."""
    db = sqlite3.connect(path, timeout=30)
    txn = 0
    while not stop.is_set():
        txn += 1
        with db:
            for k in range(2):
                db.execute(
                    "INSERT INTO value (area, day, n, txn) VALUES (?, ?, ?, ?)",
                    (f"1101010010{txn % 50:02d}", f"2023-01-{1 + txn % 28:02d}", txn + k, txn),
                )
    db.close()


def _check_sqlite_copy(source: Path, copy: Path) -> int:
    restored = sqlite3.connect(copy)
    assert restored.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert restored.execute("SELECT count(*) FROM area").fetchone() == (50,)
    txns = restored.execute("SELECT txn, count(*) FROM value GROUP BY txn").fetchall()
    assert txns and all(n == 2 for _t, n in txns), "a transaction was torn"
    last = max(t for t, _n in txns)
    assert [t for t, _n in txns] == list(range(1, last + 1)), "a transaction is missing"
    rows = restored.execute("SELECT * FROM value ORDER BY id").fetchall()
    restored.close()
    src = sqlite3.connect(source)
    expected = src.execute("SELECT * FROM value WHERE txn <= ? ORDER BY id", (last,)).fetchall()
    src.close()
    assert rows == expected
    return last


def _restore_sqlite(backup: Path, live: Path) -> None:
    """The documented restore: the backup becomes the database file, stale WAL files removed."""
    for suffix in ("-wal", "-shm"):
        Path(f"{live}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, live)


@pytest.mark.parametrize("method", ["python-api", "sqlite3-command"])
def test_sqlite_online_backup_restores_a_consistent_copy(tmp_path: Path, method: str) -> None:
    assert "s.backup(d)" in DOC and ".backup '" in DOC  # the methods this test runs
    source = tmp_path / "ruralwatch.sqlite3"
    _sqlite_source(source)
    stop = threading.Event()
    writer = threading.Thread(target=_sqlite_writer, args=(source, stop))
    writer.start()
    try:
        while sqlite3.connect(source).execute("SELECT count(*) FROM value").fetchone()[0] < 200:
            pass
        backup = tmp_path / "backup.sqlite3"
        if method == "python-api":
            s, d = sqlite3.connect(source), sqlite3.connect(backup)
            s.backup(d)
            d.close()
            s.close()
        else:
            subprocess.run(["sqlite3", str(source), f".backup '{backup}'"], check=True, timeout=120)
    finally:
        stop.set()
        writer.join()
    live = tmp_path / "restored" / "ruralwatch.sqlite3"
    live.parent.mkdir()
    Path(f"{live}-wal").write_bytes(b"stale")  # left over from the broken database
    _restore_sqlite(backup, live)
    assert _check_sqlite_copy(source, live) >= 100


@pytest.fixture
def scratch_databases() -> Iterator[tuple[str, str]]:
    names = (f"rw_backup_src_{os.getpid()}", f"rw_backup_dst_{os.getpid()}")
    for name in names:
        subprocess.run(["dropdb", *PG, "--if-exists", "--force", name], check=True)
    subprocess.run(["createdb", *PG, names[0]], check=True)
    yield names
    for name in names:
        subprocess.run(["dropdb", *PG, "--if-exists", "--force", name], check=True)


def _psql(db: str, sql: str) -> str:
    return subprocess.run(
        ["psql", *PG, "-d", db, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_pg_dump_and_pg_restore_into_a_scratch_database(
    scratch_databases: tuple[str, str], tmp_path: Path
) -> None:
    assert "pg_dump --format=custom" in DOC and "pg_restore --no-owner" in DOC
    src, dst = scratch_databases
    _psql(
        src,
        """
        CREATE TABLE area (code varchar(12) PRIMARY KEY, name text NOT NULL,
                           path text, population bigint);
        CREATE TABLE value (id bigserial PRIMARY KEY,
                            area varchar(12) REFERENCES area(code), day date,
                            n double precision, at timestamptz DEFAULT now(),
                            secret bytea, txn integer);
        CREATE INDEX value_day ON value(day);
        INSERT INTO area SELECT lpad(i::text, 12, '0'), '测试村' || i, '/1/' || i || '/', i * 100
        FROM generate_series(1, 50) i;
        """,
    )
    stop = threading.Event()

    def writer() -> None:
        txn = 0
        while not stop.is_set():
            txn += 1
            _psql(
                src,
                "BEGIN; INSERT INTO value (area, day, n, secret, txn) "
                f"SELECT lpad(({txn} % 50 + 1)::text, 12, '0'), DATE '2023-01-01' + {txn % 28}, "
                f"{txn} + k, decode(md5(k::text), 'hex'), {txn} FROM generate_series(0, 1) k; "
                "COMMIT;",
            )

    thread = threading.Thread(target=writer)
    thread.start()
    dump = tmp_path / "rw.dump"
    try:
        while int(_psql(src, "SELECT count(*) FROM value")) < 20:
            pass
        subprocess.run(
            ["pg_dump", "--format=custom", f"--file={dump}", *PG, f"--dbname={src}"],
            check=True,
            timeout=300,
        )
    finally:
        stop.set()
        thread.join()
    subprocess.run(["createdb", *PG, dst], check=True)
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", *PG, f"--dbname={dst}", str(dump)],
        check=True,
        timeout=300,
    )
    torn = "SELECT count(*) FROM (SELECT txn FROM value GROUP BY txn HAVING count(*) <> 2) t"
    assert _psql(dst, torn) == "0", "a transaction was torn"
    last = int(_psql(dst, "SELECT max(txn) FROM value"))
    assert int(_psql(dst, "SELECT count(DISTINCT txn) FROM value")) == last
    digest = (
        "SELECT md5(string_agg(concat_ws('|', id, area, day, n, at, encode(secret, 'hex'), txn),"
        " ',' ORDER BY id)) FROM value WHERE txn <= {last}"
    )
    assert _psql(dst, digest.format(last=last)) == _psql(src, digest.format(last=last))
    areas = (
        "SELECT md5(string_agg(concat_ws('|', code, name, path, population), ',' ORDER BY code))"
        " FROM area"
    )
    assert _psql(dst, areas) == _psql(src, areas)
    # The restored database keeps its constraints, indexes and sequence.
    assert _psql(dst, "SELECT count(*) FROM pg_indexes WHERE tablename = 'value'") == "2"
    _psql(dst, "INSERT INTO value (area, day, n, txn) VALUES ('000000000001', '2023-02-01', 0, 0)")
    with pytest.raises(subprocess.CalledProcessError):
        _psql(dst, "INSERT INTO value (area, day, n, txn) VALUES ('nope', '2023-02-01', 0, 0)")
