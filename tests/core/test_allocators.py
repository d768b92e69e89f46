"""The allocator settings of the cycle's worker processes (ruralwatch.core.allocators)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ruralwatch.core import allocators
from ruralwatch.cycle import distributed

#: A child that makes and drops a 64 MiB array 30 times and prints its page faults (with
#: transparent huge pages off for it, so that a fault is one page).
CHURN = """
import ctypes, resource
import numpy as np
ctypes.CDLL(None, use_errno=True).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):
    a = np.ones(8 << 20)
    del a
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the settings in this process's environment (put back as they were after)."""
    for name in allocators.WORKER_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def _faults(env: dict[str, str]) -> int:
    out = subprocess.run(
        [sys.executable, "-c", CHURN], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout)


def test_the_settings_keep_freed_memory_for_the_next_use(unset: None) -> None:
    """With the settings a process reuses the memory it freed: 30 arrays of 64 MiB fault in
    about one array's pages, not thirty (glibc maps each one anew and unmaps it on free)."""
    bare = _faults(dict(os.environ))
    tuned = _faults(dict(os.environ) | allocators.WORKER_ENVIRONMENT)
    pages = (64 << 20) // os.sysconf("SC_PAGE_SIZE")
    assert bare > 20 * pages
    assert tuned < 3 * pages


def test_an_operators_setting_is_kept(unset: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    given = allocators.export_for_workers()
    assert given["MALLOC_TRIM_THRESHOLD_"] == "131072"
    assert given["_RJEM_MALLOC_CONF"] == allocators.WORKER_ENVIRONMENT["_RJEM_MALLOC_CONF"]
    assert {k: os.environ[k] for k in given} == given


def test_the_pools_workers_start_with_the_settings(unset: None) -> None:
    """A worker of the cycle's local pool has them in its environment from its start (the
    task itself is refused: another database)."""
    pool = distributed.LocalPool(1)
    part = distributed.Part("910000000000", "/910000000000/", "test")
    day = dt.date(2023, 2, 5)
    task = distributed.Task("detect", part, day, day, ("postgresql", "not-this-one"))
    try:
        outcome = pool.submit(task).result(timeout=120)
        assert outcome.error is not None and "not-this-one" in outcome.error
        assert pool._executor is not None
        pids = list(pool._executor._processes)  # type: ignore[attr-defined]
        assert pids
        for pid in pids:
            raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
            for name, value in allocators.WORKER_ENVIRONMENT.items():
                assert env.get(name) == value
    finally:
        pool.close()
