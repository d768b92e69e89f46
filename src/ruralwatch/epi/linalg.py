"""Batched linear algebra shared by the detection and assessment fits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from threadpoolctl import ThreadpoolController

from ruralwatch.epi.panel import FloatArray

__all__ = ["one_blas_thread", "solve_each"]

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
    many times more for the sake of a few.
    """
    vector = b.ndim == a.ndim - 1
    rhs = b[..., None] if vector else b
    try:
        out = np.asarray(np.linalg.solve(a, rhs), dtype=np.float64)
    except np.linalg.LinAlgError:
        sign, _ = np.linalg.slogdet(a)
        singular = sign == 0
        out = np.empty(rhs.shape, dtype=np.float64)
        regular = np.flatnonzero(~singular)
        if regular.size:
            try:
                out[regular] = np.linalg.solve(a[regular], rhs[regular])
            except np.linalg.LinAlgError:  # pragma: no cover - slogdet and solve share getrf
                out[regular] = np.linalg.pinv(a[regular]) @ rhs[regular]
        if singular.any():
            out[singular] = np.linalg.pinv(a[singular]) @ rhs[singular]
    return out[..., 0] if vector else out
