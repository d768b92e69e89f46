"""Memory allocator settings for the processes that do the cycle's bulk work (issue 15).

A cycle worker judges one province after another, each in arrays and frames of tens to
hundreds of megabytes that live a fraction of a second. By default both allocators in such a
process hand that memory back to the kernel as soon as it is freed and fault it in again,
zeroed page by page, at the next province:

- glibc's ``malloc`` (numpy's arrays, Python's objects) maps every block above its dynamic
  threshold (128 KiB to 32 MiB) with ``mmap`` and unmaps it on ``free``, and trims the top of
  its heap past 128 KiB free;
- jemalloc (polars' frames; its settings are read from ``_RJEM_MALLOC_CONF`` when the
  library first allocates) returns dirty pages to the kernel after ten seconds.

On 河南's assessment run in one process that was a seventh to a quarter of its time spent in
the kernel (0.6-1.4 s of system time for 3.7 s of user time, 120,000-190,000 page faults;
0.2-0.4 s and 24,000-38,000 faults with the settings below; docs/national-scale.md, session
24). The settings keep freed memory in the process for the next province instead: a worker's
resident memory stays at its largest province's peak (the cycle's two workers together: 1.7
→ 2.2-2.7 GiB on the nation) rather than falling back between provinces.

The settings are read when a process starts, so the coordinator puts them in the environment
its worker processes inherit (:func:`export_for_workers`); a value already set there (by the
operator, e.g. for a machine short of memory) is left as it is. Dask workers started by
``dask worker`` take them from their own environment (docs/deploy.md).
"""

from __future__ import annotations

import os

#: The environment of a cycle worker process: glibc keeps blocks below 1 GiB in its heap and
#: its heap's free top up to 4 GiB, and grows it by 256 MiB at a time; jemalloc never returns
#: dirty or lazily freed pages to the kernel.
WORKER_ENVIRONMENT = {
    "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
    "MALLOC_TRIM_THRESHOLD_": str(4 << 30),
    "MALLOC_TOP_PAD_": str(256 << 20),
    "_RJEM_MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1",
}


def export_for_workers() -> dict[str, str]:
    """Put :data:`WORKER_ENVIRONMENT` into this process's environment where a variable is not
    set yet, for the worker processes it starts from now on (this process's own allocators
    read theirs at its start and are not changed); returns the values the workers get."""
    for name, value in WORKER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in WORKER_ENVIRONMENT}
