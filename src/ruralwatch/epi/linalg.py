"""Batched linear algebra shared by the detection and assessment fits."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import TypeVar

import numpy as np
from threadpoolctl import ThreadpoolController

from ruralwatch.epi.panel import FloatArray

__all__ = ["each_block", "one_blas_thread", "pinv_each", "solve_each", "worker_threads"]

_Prepared = TypeVar("_Prepared")

_threadpools: list[ThreadpoolController] = []  # made at first use, once numpy and scipy
# have loaded their BLAS libraries (a controller only sees the libraries loaded before it)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with BLAS/LAPACK on one thread.

    The fits here are many small batched products and solves between numpy element-wise
    steps. A multithreaded BLAS gains nothing on them, and its worker threads keep spinning
    after each call, taking the cores from the element-wise work that follows (on the 2-core
    benchmark machine the NB fit inside GLR-NB ran several times slower). Detection (through
    the registry) and assessment (``judge``) run inside this.
    """
    if not _threadpools:
        _threadpools.append(ThreadpoolController())
    with _threadpools[0].limit(limits=1, user_api="blas"):
        yield


def solve_each(a: FloatArray, b: FloatArray) -> FloatArray:
    """Solve a[u] x[u] = b[u] for every u: a (n, p, p), b (n, p) or (n, p, k) -> x like b.

    One LU-based batched solve; only when some system is singular (a zero pivot, which makes
    numpy reject the whole batch) are those systems found (``slogdet`` sign 0, the same
    factorisation) and given the minimum-norm least-squares solution, while the others are
    still solved directly. A batch-wide pseudo-inverse (an SVD of every system) would cost
    many times more for the sake of a few. A system with a non-finite entry (in ``a`` or ``b``)
    has no solution: its ``x`` is NaN, and it never makes the batch fail (one unit's diverging
    fit must not stop the others).
    """
    vector = b.ndim == a.ndim - 1
    rhs = b[..., None] if vector else b
    try:
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            out = np.asarray(np.linalg.solve(a, rhs), dtype=np.float64)
    except np.linalg.LinAlgError:
        out = np.full(rhs.shape, np.nan, dtype=np.float64)
        finite = np.all(np.isfinite(a), axis=(-2, -1)) & np.all(np.isfinite(rhs), axis=(-2, -1))
        sign = np.zeros(finite.shape)
        if finite.any():
            sign[finite] = np.linalg.slogdet(a[finite])[0]
        regular = np.flatnonzero(finite & (sign != 0))
        singular = np.flatnonzero(finite & (sign == 0))
        if regular.size:
            try:
                out[regular] = np.linalg.solve(a[regular], rhs[regular])
            except np.linalg.LinAlgError:  # pragma: no cover - slogdet and solve share getrf
                out[regular] = pinv_each(a[regular]) @ rhs[regular]
        if singular.size:
            out[singular] = pinv_each(a[singular]) @ rhs[singular]
    return out[..., 0] if vector else out


def pinv_each(a: FloatArray) -> FloatArray:
    """Moore-Penrose pseudo-inverse of every matrix of a (n, p, p) batch; NaN for a matrix
    with a non-finite entry or whose SVD does not converge (instead of failing the batch)."""
    out = np.full(a.shape, np.nan, dtype=np.float64)
    finite = np.flatnonzero(np.all(np.isfinite(a), axis=(-2, -1)))
    if finite.size:
        try:
            out[finite] = np.linalg.pinv(a[finite])
        except np.linalg.LinAlgError:  # pragma: no cover - LAPACK gesdd failing on finite input
            for i in finite:
                with suppress(np.linalg.LinAlgError):
                    out[i] = np.linalg.pinv(a[i])
    return out


def worker_threads() -> int:
    """Threads for block-parallel fits: ``RURALWATCH_THREADS`` if set, else 1.

    One by default: on the 2-core benchmark machine, quiet (load 1), Farrington flexible on
    1,000 series took 3.9 ms per series on one thread and 4.1 ms on two, with the CPU time equal
    to the wall time (the blocks' numpy work did not run in parallel). The setting stays for
    machines where it pays; the results do not depend on it (``test_fit_shortcuts.py``)."""
    env = os.environ.get("RURALWATCH_THREADS", "").strip()
    if not env:
        return 1
    try:
        n = int(env)
    except ValueError:
        raise ValueError(f"RURALWATCH_THREADS must be a whole number, got {env!r}") from None
    if n < 1:
        raise ValueError(f"RURALWATCH_THREADS must be at least 1, got {n}")
    return n


def each_block(
    outer: Sequence[object],
    inner: Sequence[object],
    prepare: Callable[[int], _Prepared],
    work: Callable[[int, int, _Prepared], None],
) -> None:
    """Run ``work(i, j, prepare(i))`` for every block (i, j) of ``outer`` x ``inner``, on
    :func:`worker_threads` threads.

    Each ``work`` call must write only its own part of the outputs. The results are the same
    bits as a serial loop:
    every block is computed the same way whichever thread runs it. ``prepare(i)`` is called
    once per outer block, before its inner blocks are queued.
    """
    n_threads = min(worker_threads(), len(outer) * len(inner))
    if n_threads <= 1:
        for i in range(len(outer)):
            ready = prepare(i)
            for j in range(len(inner)):
                work(i, j, ready)
        return
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        futures = []
        for i in range(len(outer)):
            ready = prepare(i)
            futures += [pool.submit(work, i, j, ready) for j in range(len(inner))]
        for f in futures:
            f.result()  # re-raises a block's exception
