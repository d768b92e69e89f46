"""Batched linear algebra shared by the detection and assessment fits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import numpy as np
from threadpoolctl import ThreadpoolController

from ruralwatch.epi.panel import FloatArray

__all__ = ["one_blas_thread", "pinv_each", "solve_each"]

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
