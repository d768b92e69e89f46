"""Batched quasi-Poisson GLM fits (log link) by iteratively reweighted least squares.

Every fitting problem of a Farrington run (one per unit and monitored time point) is stacked into
one batch. Problems with fewer observations are padded and masked with a prior weight of 0.
Columns that are all zero over the used observations of a problem (an absent factor level, a
dropped trend) are treated as aliased: their coefficient is 0 and they do not count as parameters.

* :func:`fit_poisson` takes one design per problem, ``X`` of shape (problems, observations,
  covariates).
* :func:`fit_poisson_grouped` takes one design per *group* of problems that share it (in
  Farrington: every unit at one time point), ``X`` of shape (groups, observations, covariates)
  and ``y`` of shape (groups, units, observations). The cross products ``X'WX`` of all units of a
  group are then one matrix product ``W @ (x_i x_i')``, which is where the time goes. When few
  problems are left unconverged they are moved to the per-problem path.

The iteration is the one IRLS of the core (:func:`ruralwatch.epi.irls.irls`), Poisson family:
start from ``mu = y + 0.1``, stop when the relative change of the deviance falls below ``tol``
(as R's ``glm.control(epsilon = 1e-8)``) or after ``max_iter`` iterations (25, R's ``maxit``).
This module gives it its strategies: ``OwnDesign`` for :func:`fit_poisson` and
``_GroupedSolver`` (grouped Gram columns, arrow solves, looked-up means, handover to
``OwnDesign``) for :func:`fit_poisson_grouped`. Problems that have converged are frozen while
the others go on, so every problem stops where R's ``glm.fit`` would. A problem whose iterate
turns non-finite (a diverging fit, e.g. a time trend over an all-zero baseline) is frozen as
failed (``GlmFit.failed``; its coefficients are NaN); the other problems of the batch are not
affected. The intercept + factor designs take a closed form instead (``_fit_saturated``: the
same iterates on the sums of each factor level).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.irls import Control, Hints, IrlsFit, OwnDesign, Weighed, irls
from ruralwatch.epi.linalg import pinv_each, solve_each

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

__all__ = [
    "CountTables",
    "GlmFit",
    "GroupDesign",
    "by_value",
    "count_index",
    "fit_poisson",
    "fit_poisson_grouped",
    "group_design",
    "release_buffers",
]

# The grouped path hands over to the per-problem path below this share of unconverged problems.
_HANDOVER = 0.05


@dataclass(frozen=True)
class GlmFit:
    """The result of a batch of fits.

    Attributes:
        coef: (P, K) coefficients (0 for aliased columns).
        cov_unscaled: (P, K, K) inverse of X'WX (zero rows/columns for aliased columns).
        mu: (P, N) fitted means (on the masked points, whatever the linear predictor gives).
        hat: (P, N) leverages (0 on masked points).
        dispersion: (P,) Pearson statistic / residual degrees of freedom (NaN when df <= 0).
        dispersion_working: (P,) the same from the working weights and residuals of the last
            iteration, as R's ``summary.glm`` computes it.
        df_residual: (P,) number of observations with positive weight minus the rank.
        dispersion_prior_working: (P,) sum(w (y - mu)^2 / mu^2) / df: the squared working
            residuals weighted by the prior weights alone (not the working weights).
        converged: (P,) whether the deviance criterion was met.
        failed: (P,) no usable fit: the iterations or the covariance became non-finite.
    """

    coef: FloatArray
    cov_unscaled: FloatArray
    mu: FloatArray
    hat: FloatArray
    dispersion: FloatArray
    dispersion_working: FloatArray
    dispersion_prior_working: FloatArray
    df_residual: FloatArray
    converged: BoolArray
    failed: BoolArray


# R's glm.control(maxit = 25).
MAX_ITER = 25


# Scratch arrays kept per thread from one fit to the next (see ``_buffer``).
_SCRATCH = threading.local()


def _buffer(name: str, shape: tuple[int, ...]) -> FloatArray:
    """An uninitialised float64 array of ``shape``, the same memory at every call for ``name``
    in this thread (grown when too small). A Farrington run makes the same (problems x
    observations) arrays block after block; fresh ones of a few MB each cost page faults (the
    allocator hands large freed blocks back to the kernel). The caller must be done with the
    previous call's array: only a fit's own scratch goes here, never a result."""
    size = 1
    for n in shape:
        size *= n
    bufs: dict[str, FloatArray] | None = getattr(_SCRATCH, "bufs", None)
    if bufs is None:
        bufs = _SCRATCH.bufs = {}
    buf = bufs.get(name)
    if buf is None or buf.size < size:
        buf = bufs[name] = np.empty(size)
    return buf[:size].reshape(shape)


def release_buffers() -> None:
    """Free this thread's scratch arrays (at the end of a run)."""
    _SCRATCH.bufs = {}


# Counts up to this value are mapped through tables (see ``by_value``).
_TABLE_MAX = 100_000


def count_index(y: FloatArray) -> IntArray | None:
    """``y`` as table indices when every value is a whole number in [0, _TABLE_MAX) and there
    are many more values than that (else None)."""
    if y.size == 0:
        return None
    lo, hi = float(y.min()), float(y.max())
    if not (lo >= 0.0 and hi < _TABLE_MAX and 4 * hi < y.size):
        return None
    idx = y.astype(np.intp)
    if not np.array_equal(idx, y):
        return None
    return idx


def by_value(
    fn: Callable[[FloatArray], FloatArray], y: FloatArray, idx: IntArray | None
) -> FloatArray:
    """``fn(y)`` for an element-wise ``fn``. With ``idx`` (from :func:`count_index`) ``fn`` is
    evaluated on the few distinct whole numbers only and looked up: the same bits as
    ``fn(y)``, without a logarithm or a root per observation (the counts of a batch take few
    values but appear in many problems)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if idx is None:
            return np.asarray(fn(y), dtype=np.float64)
        table = np.asarray(fn(np.arange(int(idx.max()) + 1, dtype=np.float64)), dtype=np.float64)
    return np.asarray(table[idx], dtype=np.float64)


class CountTables:
    """Element-wise functions of one batch of counts ``y`` (P, N), each evaluated once by
    value (:func:`by_value`) and kept: Farrington's reweighted refit fits the same counts
    again with other weights and needs the same y log y and the same terms of R's start.

    The fits use a looked-up value only multiplied by the observation's prior weight, so
    ``y`` may hold any finite value where a fit's weight is 0 (the caller's counts, where the
    fit itself would read 0)."""

    def __init__(self, y: FloatArray) -> None:
        self.y = y
        self.idx = count_index(y)
        self._values: dict[Callable[[FloatArray], FloatArray], FloatArray] = {}

    def of(self, fn: Callable[[FloatArray], FloatArray]) -> FloatArray:
        """``fn(y)`` (the same bits), computed at the first call for ``fn``."""
        out = self._values.get(fn)
        if out is None:
            out = self._values[fn] = by_value(fn, self.y, self.idx)
        return out


def _start_deviance_term(y: FloatArray) -> FloatArray:
    mu = y + 0.1
    return np.asarray(np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu), dtype=np.float64)


def _ylogy(y: FloatArray) -> FloatArray:
    return np.asarray(np.where(y > 0, y * np.log(y), 0.0), dtype=np.float64)


def _log_start(y: FloatArray) -> FloatArray:
    return np.asarray(np.log(y + 0.1), dtype=np.float64)


def _start_wz(y: FloatArray) -> FloatArray:
    """The start's w z per unit prior weight (offset 0): mu (eta - 1) + y at mu = y + 0.1."""
    mu = y + 0.1
    return np.asarray(mu * (np.log(mu) - 1.0) + y, dtype=np.float64)


def _start_hints(yv: FloatArray, w: FloatArray, idx: IntArray | None) -> Hints:
    """log(mu0) and the start's deviance at R's start mu0 = y + 0.1, by table for whole
    counts (as the driver computes them otherwise)."""
    term = by_value(_start_deviance_term, yv, idx)
    return Hints(
        eta=by_value(lambda v: np.log(v + 0.1), yv, idx),
        dev=np.asarray(2.0 * np.sum(w * term, axis=-1), dtype=np.float64),
    )


def _finish(
    st: IrlsFit,
    cov: FloatArray,
    quad: FloatArray | None,
    used: BoolArray,
    w: FloatArray,
    yv: FloatArray,
    active: BoolArray,
) -> GlmFit:
    """Leverages and dispersions, given the covariance and x_i' C x_i for every observation
    (None: leverages not wanted, reported as 0)."""
    if quad is None:
        hat = np.zeros(used.shape)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            hat = np.multiply(quad, st.ww_last, out=quad)  # quad is the caller's scratch
        if not used.all():
            hat[~used] = 0.0
    mu = st.mu
    n_used = used.sum(axis=1)
    rank = active.sum(axis=1)
    df = (n_used - rank).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Unused observations have w = 0 (and finite mu), so they add nothing. One scratch
        # array holds (y - mu)^2 / mu, then (y - mu)^2 / mu^2 (the same bits as fresh arrays).
        r2 = np.subtract(yv, mu)
        np.square(r2, out=r2)
        np.divide(r2, mu, out=r2)
        pearson = np.einsum("pn,pn->p", w, r2)
        dispersion = np.where(df > 0, pearson / df, np.nan)
        r2_mu = np.divide(r2, mu, out=r2)
        working = np.einsum("pn,pn->p", st.ww_last, r2_mu)
        dispersion_working = np.where(df > 0, working / df, np.nan)
        prior_working = np.einsum("pn,pn->p", w, r2_mu)
        dispersion_prior_working = np.where(df > 0, prior_working / df, np.nan)
    failed = st.failed | ~np.isfinite(cov).reshape(cov.shape[0], -1).all(axis=1)
    failed |= ~np.isfinite(st.coef).all(axis=1)
    coef = st.coef
    if failed.any():
        coef = np.where(failed[:, None], np.nan, coef)
        cov = np.where(failed[:, None, None], np.nan, cov)
    return GlmFit(
        coef=coef,
        cov_unscaled=cov,
        mu=mu,
        hat=hat,
        dispersion=dispersion,
        dispersion_working=dispersion_working,
        dispersion_prior_working=dispersion_prior_working,
        df_residual=df,
        converged=st.converged & ~failed,
        failed=failed,
    )


def _inverse(xtwx: FloatArray, active: BoolArray) -> FloatArray:
    """(X'WX)^-1 with zero rows and columns for aliased columns (NaN for a problem whose
    X'WX is not finite; the pseudo-inverse for one that is singular)."""
    mask = active[:, :, None] & active[:, None, :]
    eye = np.broadcast_to(np.eye(xtwx.shape[1]), xtwx.shape)
    return np.asarray(solve_each(xtwx, eye) * mask, dtype=np.float64)


def fit_poisson(
    X: FloatArray,
    y: FloatArray,
    weights: FloatArray,
    offset: FloatArray | None = None,
    *,
    tol: float = 1e-8,
    max_iter: int = MAX_ITER,
) -> GlmFit:
    """Fit ``log E[y] = offset + X @ beta`` with prior weights for every problem in the batch.

    Args:
        X: (P, N, K) design matrices.
        y: (P, N) counts; anything where ``weights == 0`` is ignored (may be NaN).
        weights: (P, N) prior weights; 0 masks an observation out.
        offset: (P, N) offset on the log scale, or None.
    """
    P, N, K = X.shape
    w = np.asarray(weights, dtype=np.float64)
    used = w > 0
    yv = np.where(used, y, 0.0)
    off = np.zeros((P, N)) if offset is None else np.where(used, offset, 0.0)
    Xm = np.where(used[:, :, None], X, 0.0)
    active = np.any(Xm != 0.0, axis=1)  # (P, K)
    eye_fix = np.where(active, 0.0, 1.0)[:, :, None] * np.eye(K)[None]
    st = irls(
        yv,
        w,
        OwnDesign(Xm, np.where(active, 0.0, 1.0)),
        control=Control(tol=tol, max_iter=max_iter),
        mu0=yv + 0.1,
        offset=None if offset is None else off,
        hints=_start_hints(yv, w, None),
    )
    # As R does, the covariance and the leverages come from the working weights of the last
    # iteration (computed from the previous means); the means are those of the final estimate.
    xtwx = (np.swapaxes(Xm, 1, 2) * st.ww_last[:, None, :]) @ Xm + eye_fix
    cov = _inverse(xtwx, active)
    quad = np.sum((Xm @ cov) * Xm, axis=2)
    return _finish(st, cov, quad, used, w, yv, active)


@dataclass(frozen=True)
class _Gram:
    """The distinct columns whose weighted sums make X'WX, X'W1 and sum(W) of a group.

    The candidates are the products x_a * x_b (a <= b), the columns x_a and a column of ones
    (rows used by any problem). ``cols`` (G, N, C) holds the distinct non-zero ones; for each
    candidate, ``pair[i]``, ``single[a]`` and ``ones`` give its position in ``cols`` (-1 when
    it is zero everywhere). With the indicator columns of a factor most products are zero or
    repeats of another, so one product ``W @ cols`` with a few columns gives everything.
    """

    cols: FloatArray
    ia: IntArray
    ib: IntArray
    pair: IntArray
    single: IntArray
    ones: int


def _gram_columns(X: FloatArray, row_used: BoolArray) -> _Gram:
    G, N, K = X.shape
    ia, ib = np.triu_indices(K)
    cand = np.concatenate(
        [
            (X[:, :, ia] * X[:, :, ib]).reshape(G * N, ia.size),
            X.reshape(G * N, K),
            row_used.reshape(G * N, 1).astype(np.float64),
        ],
        axis=1,
    )
    nonzero = np.flatnonzero(np.any(cand != 0.0, axis=0))
    where = np.full(cand.shape[1], -1, dtype=np.int64)
    if nonzero.size:
        # Equal columns have equal random projections (and unequal ones almost surely not; a
        # collision is checked for and then every column is kept).
        sub = cand[:, nonzero]
        sig = np.random.default_rng(0).standard_normal(sub.shape[0]) @ sub
        _, first, inverse = np.unique(sig, return_index=True, return_inverse=True)
        inverse = np.asarray(inverse, dtype=np.int64).ravel()
        uniq = sub[:, first]
        if not np.array_equal(uniq[:, inverse], sub):
            uniq, inverse = sub, np.arange(nonzero.size, dtype=np.int64)
        where[nonzero] = inverse
    else:
        uniq = np.zeros((G * N, 0))
    n_pair = ia.size
    return _Gram(
        cols=np.ascontiguousarray(uniq).reshape(G, N, -1),
        ia=ia.astype(np.int64),
        ib=ib.astype(np.int64),
        pair=where[:n_pair],
        single=where[n_pair : n_pair + K],
        ones=int(where[-1]),
    )


def _sums(ww: FloatArray, gram: _Gram) -> FloatArray:
    """Weighted sums of the distinct columns: ww (G, U, N) -> (G*U, C)."""
    G, U, _ = ww.shape
    return np.asarray((ww @ gram.cols).reshape(G * U, -1), dtype=np.float64)


def _pick(sums: FloatArray, where: IntArray) -> FloatArray:
    """Columns of ``sums`` by position, 0 where the position is -1."""
    out = np.zeros((sums.shape[0], where.size))
    ok = where >= 0
    out[:, ok] = sums[:, where[ok]]
    return out


def _cross(sums: FloatArray, gram: _Gram, K: int) -> FloatArray:
    """X'WX for every problem from the weighted sums."""
    out = np.zeros((sums.shape[0], K, K))
    ok = gram.pair >= 0
    vals = sums[:, gram.pair[ok]]
    out[:, gram.ia[ok], gram.ib[ok]] = vals
    out[:, gram.ib[ok], gram.ia[ok]] = vals
    return out


@dataclass(frozen=True)
class _Blocks:
    """Columns split as (r: a few general ones, j: columns with disjoint supports).

    With the indicator columns of a factor (Noufaily's seasonal levels) X'WX is an arrow
    matrix: a diagonal block for the indicators bordered by the intercept and time rows.
    Systems are then solved through the Schur complement of the diagonal block, with a closed
    form for the (at most 2 x 2) remaining block, instead of one LAPACK call per problem.
    """

    r: IntArray
    j: IntArray


def _blocks(gram: _Gram, K: int) -> _Blocks | None:
    """Find the split from the non-zero pattern of the pair products, or None."""
    zero = np.ones((K, K), dtype=bool)
    zero[gram.ia, gram.ib] = gram.pair < 0
    zero[gram.ib, gram.ia] = gram.pair < 0
    j: list[int] = []
    for c in range(K - 1, -1, -1):
        if not zero[c, c] and all(zero[c, k] for k in j):
            j.append(c)
    r = [c for c in range(K) if c not in j]
    if len(r) > 2 or not r:
        return None
    return _Blocks(r=np.array(r, dtype=np.int64), j=np.array(sorted(j), dtype=np.int64))


def _small_inverse(a: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Inverse of a batch of 1 x 1 or 2 x 2 matrices, and where it is well conditioned."""
    if a.shape[1] == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / a
        return inv, np.isfinite(inv[:, 0, 0]) & (a[:, 0, 0] > 0)
    p, q, r = a[:, 0, 0], a[:, 0, 1], a[:, 1, 1]
    det = p * r - q * q
    ok = det > 1e-12 * np.abs(p * r)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.stack([np.stack([r, -q], axis=1), np.stack([-q, p], axis=1)], axis=1)
        inv /= det[:, None, None]
    return inv, ok & np.isfinite(det)


def _schur(
    a_rr: FloatArray, a_rj: FloatArray, d: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    """For the arrow matrices of blocks A_RR, A_RJ and diagonal D (of A_JJ): S^-1 (S = A_RR -
    A_RJ D^-1 A_JR, the Schur complement of D), A_RJ D^-1, D^-1, and the problems whose S is
    singular (the caller solves those otherwise)."""
    dinv = 1.0 / d
    m = a_rj * dinv[:, None, :]  # A_RJ D^-1
    schur = a_rr - m @ np.swapaxes(a_rj, 1, 2)
    sinv, ok = _small_inverse(schur)
    return sinv, m, dinv, np.flatnonzero(~ok).astype(np.int64)


def _arrow_solve(
    a_rr: FloatArray, a_rj: FloatArray, d: FloatArray, rhs: FloatArray, bl: _Blocks
) -> tuple[FloatArray, IntArray]:
    """x with A x = rhs for the arrow matrices of blocks A_RR, A_RJ and diagonal D (of A_JJ),
    through the Schur complement of D; and the problems whose Schur complement is singular
    (their x is not usable: the caller solves them otherwise)."""
    r, j = bl.r, bl.j
    if r.size == 2:
        return _arrow_solve_2(a_rr, a_rj, d, rhs, bl)
    sinv, m, dinv, bad = _schur(a_rr, a_rj, d)
    b_r, b_j = rhs[:, r], rhs[:, j]
    x_r = np.einsum("pab,pb->pa", sinv, b_r - np.einsum("pal,pl->pa", m, b_j))
    x_j = dinv * b_j - np.einsum("pal,pa->pl", m, x_r)
    x = np.empty_like(rhs)
    x[:, r] = x_r
    x[:, j] = x_j
    return x, bad


def _arrow_solve_2(
    a_rr: FloatArray, a_rj: FloatArray, d: FloatArray, rhs: FloatArray, bl: _Blocks
) -> tuple[FloatArray, IntArray]:
    """``_arrow_solve`` with two general columns (Farrington's intercept and time), written
    out element by element: the Schur complement [[p, q], [q, s]] from three dot products of
    rows and its 2 x 2 solve by Cramer's rule, without batched (2 x J) @ (J x 2) products,
    whose per-matrix overhead made the small solve cost twice as much. The same arithmetic up
    to the order of the sums; the same test of a singular reduced block as ``_small_inverse``."""
    dinv = 1.0 / d
    a0, a1 = a_rj[:, 0], a_rj[:, 1]
    m0 = a0 * dinv
    m1 = a1 * dinv
    p = a_rr[:, 0, 0] - np.einsum("pj,pj->p", m0, a0)
    q = a_rr[:, 0, 1] - np.einsum("pj,pj->p", m0, a1)
    s = a_rr[:, 1, 1] - np.einsum("pj,pj->p", m1, a1)
    det = p * s - q * q
    ok = (det > 1e-12 * np.abs(p * s)) & np.isfinite(det)
    b_j = rhs[:, bl.j]
    c0 = rhs[:, bl.r[0]] - np.einsum("pj,pj->p", m0, b_j)
    c1 = rhs[:, bl.r[1]] - np.einsum("pj,pj->p", m1, b_j)
    with np.errstate(divide="ignore", invalid="ignore"):
        x0 = (s * c0 - q * c1) / det
        x1 = (p * c1 - q * c0) / det
    x = np.empty_like(rhs)
    x[:, bl.r[0]] = x0
    x[:, bl.r[1]] = x1
    b_j *= dinv
    b_j -= m0 * x0[:, None]
    b_j -= m1 * x1[:, None]
    x[:, bl.j] = b_j
    return x, np.flatnonzero(~ok).astype(np.int64)


class _ArrowSystem:
    """The IRLS systems X'WX beta = rhs of arrow designs (see ``_Blocks``), kept as their
    blocks (A_RR, A_RJ and the diagonal D of A_JJ), gathered straight from the weighted sums
    of the distinct columns: an iteration neither forms the (K x K) matrices nor gathers the
    blocks out of them. ``fix`` (P, K) is 1 on the diagonal of aliased columns (``eye_fix``)."""

    def __init__(self, gram: _Gram, blocks: _Blocks, K: int, fix: FloatArray) -> None:
        pos = np.full((K, K), -1, dtype=np.int64)
        pos[gram.ia, gram.ib] = gram.pair
        pos[gram.ib, gram.ia] = gram.pair
        r, j = blocks.r, blocks.j
        self.blocks, self.r, self.j, self.K = blocks, r, j, K
        # -1 (a product that is zero everywhere) reads the zero column appended to the sums
        self.rr, self.rj, self.jj = pos[np.ix_(r, r)], pos[np.ix_(r, j)], pos[j, j]
        self.fix_rr = fix[:, r][:, :, None] * np.eye(r.size)[None]
        self.fix_j = fix[:, j]

    def parts(self, sums: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        ext = np.concatenate([sums, np.zeros((sums.shape[0], 1))], axis=1)
        return ext[:, self.rr] + self.fix_rr, ext[:, self.rj], ext[:, self.jj] + self.fix_j

    def full(self, parts: tuple[FloatArray, FloatArray, FloatArray]) -> FloatArray:
        a_rr, a_rj, d = parts
        r, j = self.r, self.j
        a = np.zeros((a_rr.shape[0], self.K, self.K))
        a[:, r[:, None], r[None, :]] = a_rr
        a[:, r[:, None], j[None, :]] = a_rj
        a[:, j[:, None], r[None, :]] = np.swapaxes(a_rj, 1, 2)
        a[:, j, j] = d
        return a

    def matvec(
        self, parts: tuple[FloatArray, FloatArray, FloatArray], beta: FloatArray
    ) -> FloatArray:
        a_rr, a_rj, d = parts
        b_r, b_j = beta[:, self.r], beta[:, self.j]
        out = np.empty_like(beta)
        out[:, self.r] = np.einsum("pab,pb->pa", a_rr, b_r) + np.einsum("paj,pj->pa", a_rj, b_j)
        out[:, self.j] = np.einsum("paj,pa->pj", a_rj, b_r) + d * b_j
        return out

    def solve(
        self, parts: tuple[FloatArray, FloatArray, FloatArray], rhs: FloatArray
    ) -> FloatArray:
        """x with A x = rhs (LAPACK where the reduced block is singular)."""
        a_rr, a_rj, d = parts
        x, bad = _arrow_solve(a_rr, a_rj, d, rhs, self.blocks)
        if bad.size:
            x[bad] = solve_each(self.full((a_rr[bad], a_rj[bad], d[bad])), rhs[bad])
        return x

    def inverse(self, parts: tuple[FloatArray, FloatArray, FloatArray]) -> FloatArray:
        """A^-1 as (P, K, K) matrices, by blocks (the pseudo-inverse where the reduced block
        is singular)."""
        a_rr, a_rj, d = parts
        r, j = self.r, self.j
        sinv, m, dinv, bad = _schur(a_rr, a_rj, d)
        inv = np.empty((a_rr.shape[0], self.K, self.K))
        c_rj = -(sinv @ m)
        inv[:, r[:, None], r[None, :]] = sinv
        inv[:, r[:, None], j[None, :]] = c_rj
        inv[:, j[:, None], r[None, :]] = np.swapaxes(c_rj, 1, 2)
        c_jj = -np.swapaxes(m, 1, 2) @ c_rj
        c_jj[:, np.arange(j.size), np.arange(j.size)] += dinv
        inv[:, j[:, None], j[None, :]] = c_jj
        if bad.size:
            inv[bad] = pinv_each(self.full((a_rr[bad], a_rj[bad], d[bad])))
        return inv

    @staticmethod
    def finite(parts: tuple[FloatArray, FloatArray, FloatArray]) -> BoolArray:
        a_rr, a_rj, d = parts
        return np.asarray(
            np.all(np.isfinite(a_rr), axis=(1, 2))
            & np.all(np.isfinite(a_rj), axis=(1, 2))
            & np.all(np.isfinite(d), axis=1),
            dtype=bool,
        )

    @staticmethod
    def set_identity(parts: tuple[FloatArray, FloatArray, FloatArray], rows: IntArray) -> None:
        a_rr, a_rj, d = parts
        a_rr[rows] = np.eye(a_rr.shape[1])
        a_rj[rows] = 0.0
        d[rows] = 1.0


@dataclass(frozen=True)
class GroupDesign:
    """Designs shared by the problems of each group, with what the fits derive from them.

    Build it once with :func:`group_design` when several fits use the same designs.
    """

    X: FloatArray  # (G, N, K), rows outside ``rows`` zeroed
    rows: BoolArray  # (G, N) rows that may be used
    gram: _Gram
    blocks: _Blocks | None
    patterns: _Patterns | None = None


@dataclass(frozen=True)
class _Patterns:
    """The distinct rows of designs whose rows are 0/1 with at most two ones (an intercept and
    the indicator of a factor level, without a time trend).

    The linear predictor of such a row is b_a + b_b (or b_a, or 0): a sum of at most two
    non-zero terms, whose rounding does not depend on the order in which a matrix product adds
    them. So it, and its exponential, can be computed once per distinct row and looked up: the
    same bits as ``exp(X @ beta)``, with a few exponentials per problem instead of one per
    observation. ``a``, ``b`` (G, L): the columns of the L distinct rows of each group (K for
    none: a zero coefficient is appended); ``row`` (G, N): the distinct row of each row.
    """

    a: IntArray
    b: IntArray
    row: IntArray


def _patterns(Xz: FloatArray) -> _Patterns | None:
    G, N, K = Xz.shape
    nz = Xz != 0.0
    if G == 0 or N == 0 or not np.all((Xz == 1.0) | ~nz) or np.any(nz.sum(axis=2) > 2):
        return None
    col = np.where(nz, np.arange(K)[None, None, :], K)
    col.sort(axis=2)
    first, second = col[:, :, 0], (col[:, :, 1] if K > 1 else np.full((G, N), K))
    key = first * (K + 1) + second
    uniq = [np.unique(key[g], return_inverse=True) for g in range(G)]
    L = max(u[0].size for u in uniq)
    keys = np.full((G, L), K * (K + 1) + K, dtype=np.int64)
    row = np.empty((G, N), dtype=np.int64)
    for g, (vals, inv) in enumerate(uniq):
        keys[g, : vals.size] = vals
        row[g] = np.asarray(inv).ravel()
    return _Patterns(a=keys // (K + 1), b=keys % (K + 1), row=row)


def group_design(X: FloatArray, rows: BoolArray | None = None) -> GroupDesign:
    """Prepare (G, N, K) designs; ``rows`` (G, N) marks the rows that may be used (default:
    all with finite entries)."""
    finite = np.all(np.isfinite(X), axis=2)
    rows = finite if rows is None else rows & finite
    Xz = np.where(rows[:, :, None], X, 0.0)
    gram = _gram_columns(Xz, rows)
    return GroupDesign(
        X=Xz, rows=rows, gram=gram, blocks=_blocks(gram, X.shape[2]), patterns=_patterns(Xz)
    )


def _saturated_levels(design: GroupDesign) -> tuple[IntArray, IntArray] | None:
    """For designs of an intercept (column 0) and factor indicators, the column of each
    distinct row (0 for the intercept-only row, j for intercept + indicator j, -1 for the zero
    row outside the design), and the distinct intercept-only row of each group (-1 if none);
    None for any other design. ``(G, L)`` and ``(G,)``."""
    pats = design.patterns
    if pats is None:
        return None
    K = design.X.shape[2]
    zero = (pats.a == K) & (pats.b == K)
    ref = (pats.a == 0) & (pats.b == K)
    dummy = (pats.a == 0) & (pats.b >= 1) & (pats.b < K)
    if not np.all(zero | ref | dummy):
        return None
    col = np.where(ref, 0, np.where(dummy, pats.b, -1)).astype(np.int64)
    has_ref = ref.any(axis=1)
    ref_row = np.where(has_ref, np.argmax(ref, axis=1), -1).astype(np.int64)
    return col, ref_row


def _level_rows(values: FloatArray, row: IntArray, U: int) -> FloatArray:
    """Per observation, the value of its distinct row: ``values`` (G*U, L) per problem and
    distinct row, ``row`` (G, N) the distinct row of each observation of a group -> (G*U, N).
    One take per group: a flat take needs a (G*U, N) index array, whose making cost several
    times the take itself."""
    G, N = row.shape
    L = values.shape[1]
    out = np.empty((G * U, N))
    v3, o3 = values.reshape(G, U, L), out.reshape(G, U, N)
    for g in range(G):
        np.take(v3[g], row[g], axis=1, out=o3[g])
    return out


def _fit_saturated(
    design: GroupDesign,
    levels: tuple[IntArray, IntArray],
    y: FloatArray,
    w: FloatArray,
    used: BoolArray,
    U: int,
    tol: float,
    max_iter: int,
    leverages: bool,
    tables: CountTables,
) -> GlmFit | None:
    """The IRLS of an intercept + factor model, on the sums of each factor level.

    Such a model has one free mean per level (it is saturated in the levels), so its weighted
    least squares step moves each level on its own: from R's start (mu = y + 0.1 per
    observation) the first linear predictor of level l is the weighted mean of the working
    response, B_l / A_l with A_l = sum w (y + 0.1) and B_l = sum w (y + 0.1) log(y + 0.1) -
    0.1 sum w; after that eta_l <- eta_l + Y_l / (W_l mu_l) - 1 (W_l = sum w, Y_l = sum w y),
    and the deviance is 2 (sum w y log y - sum_l Y_l eta_l - Y_l + W_l mu_l). These are the
    iterates of the full IRLS, with R's stopping rule per problem, computed on a few numbers
    per problem instead of one per observation (the sums are added in another order, so the
    last bits may differ). None (use the full IRLS) where some problem uses factor levels but
    not the reference level: its model is not saturated then (the intercept is aliased with
    the indicators).
    """
    col, ref_row = levels
    pats = design.patterns
    assert pats is not None
    G, N, K = design.X.shape
    P = G * U
    L = col.shape[1]
    onehot = (pats.row[:, :, None] == np.arange(L)[None, None, :]).astype(np.float64)  # (G,N,L)
    # the start's deviance, as the driver's
    dev0 = 2.0 * np.einsum("pn,pn->p", w, tables.of(_start_deviance_term))
    # w, w y, w mu0 and w mu0 log(mu0) (mu0 = y + 0.1) side by side, summed per level at once
    stack = _buffer("saturated", (P, 4, N))  # scratch: only its level sums are kept
    stack[:, 0] = w
    np.multiply(w, y, out=stack[:, 1])
    ww0 = np.add(y, 0.1, out=stack[:, 2])
    np.multiply(w, ww0, out=ww0)
    np.multiply(ww0, tables.of(_log_start), out=stack[:, 3])
    sums = (stack.reshape(G, U * 4, N) @ onehot).reshape(G, U, 4, L)
    W = sums[:, :, 0].reshape(P, L)
    Y = sums[:, :, 1].reshape(P, L)
    A = sums[:, :, 2].reshape(P, L)
    B = sums[:, :, 3].reshape(P, L) - 0.1 * W
    present = W > 0
    # Saturated unless a problem uses an indicator level without the reference level.
    ref_p = np.repeat(ref_row, U)
    rows_p = np.arange(P)
    ref_used = np.where(ref_p >= 0, present[rows_p, np.maximum(ref_p, 0)], False)
    col_p = np.repeat(col, U, axis=0)
    if np.any(~ref_used & np.any(present & (col_p >= 1), axis=1)):
        return None
    ylogy_sum = np.einsum("pn,pn->p", w, tables.of(_ylogy))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        eta = np.where(present, B / A, 0.0)
        mu = np.exp(eta)
        dev = 2.0 * (ylogy_sum - np.sum(Y * eta + Y - W * mu, axis=1, where=present))
    old = dev0
    it_stop = np.zeros(P, dtype=np.int64)  # iteration at which each problem stopped
    eta_out, mu_out, dev_out = eta.copy(), mu.copy(), dev.copy()
    d_prev = A.copy()  # sums of the working weights that made the current iterate
    d_out = d_prev.copy()
    converged = np.zeros(P, dtype=bool)
    failed = np.zeros(P, dtype=bool)
    todo = np.arange(P)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for it in range(1, max_iter + 1):
            if it > 1 and 4 * todo.size > P:
                # Most problems still iterate: step every row (a stopped problem's result is
                # recorded already and its later iterates are never read) instead of
                # gathering and scattering the rows that go on.
                wm = W * mu
                step = np.where(present, Y / wm - 1.0, 0.0)
                d_prev = np.where(present, wm, 0.0)
                eta += step
                np.exp(eta, out=mu)
                dev = 2.0 * (ylogy_sum - np.sum(Y * eta + Y - W * mu, axis=1, where=present))
            elif it > 1:
                step = np.where(present[todo], Y[todo] / (W[todo] * mu[todo]) - 1.0, 0.0)
                d_prev[todo] = np.where(present[todo], W[todo] * mu[todo], 0.0)
                eta[todo] = eta[todo] + step
                mu[todo] = np.exp(eta[todo])
                dev[todo] = 2.0 * (
                    ylogy_sum[todo]
                    - np.sum(
                        Y[todo] * eta[todo] + Y[todo] - W[todo] * mu[todo],
                        axis=1,
                        where=present[todo],
                    )
                )
            d_new = dev[todo]
            crit = np.abs(d_new - old[todo]) / (np.abs(d_new) + 0.1) < tol
            bad = ~np.isfinite(d_new) | ~np.all(np.isfinite(eta[todo]), axis=1)
            bad |= ~np.all((mu[todo] > 0) | ~present[todo], axis=1)
            stop = crit | bad | (it == max_iter)
            done = todo[stop]
            eta_out[done], mu_out[done], dev_out[done] = eta[done], mu[done], dev[done]
            d_out[done] = d_prev[done]
            it_stop[done] = it
            converged[todo[crit & ~bad]] = True
            failed[todo[bad]] = True
            old = dev.copy()
            todo = todo[~stop]
            if todo.size == 0:
                break
    # Coefficients: the intercept is the reference level's eta, an indicator's the difference.
    col_ok = (col_p >= 1) & present
    eta_ref = np.where(ref_used, eta_out[rows_p, np.maximum(ref_p, 0)], 0.0)
    coef = np.zeros((P, K))
    coef[:, 0] = eta_ref
    pr, pl = np.nonzero(col_ok)
    coef[pr, col_p[pr, pl]] = eta_out[pr, pl] - eta_ref[pr]
    # An indicator level a problem does not use has an aliased coefficient (0): its rows'
    # linear predictor is the intercept's, as the full product gives it.
    with np.errstate(over="ignore"):
        mu_out = np.where((col_p >= 1) & ~present, np.exp(eta_ref)[:, None], mu_out)
    active = np.zeros((P, K), dtype=bool)
    active[:, 0] = ref_used
    active[pr, col_p[pr, pl]] = True
    # (X'WX)^-1 with D_l the sums of the last working weights: x_l' C x_l = 1 / D_l, and in the
    # intercept + indicator coefficients C_00 = 1/D_ref, C_0j = -1/D_ref, C_jk = 1/D_ref +
    # [j = k] / D_j.
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_d = np.where(present, 1.0 / d_out, 0.0)
    inv_ref = np.where(ref_used, inv_d[rows_p, np.maximum(ref_p, 0)], 0.0)
    sign = np.where(np.arange(K) == 0, 1.0, -1.0)
    cov = inv_ref[:, None, None] * (sign[None, :, None] * sign[None, None, :]) * np.ones((P, K, K))
    cov[:, 1:, 1:] = inv_ref[:, None, None]
    cov[pr, col_p[pr, pl], col_p[pr, pl]] += inv_d[pr, pl]
    cov *= active[:, :, None] & active[:, None, :]
    # Per observation: the means, and the last working weights (the start's, w (y + 0.1), for
    # a problem that stopped at the first iteration).
    mu_rows = _level_rows(mu_out, pats.row, U)
    first = it_stop == 1
    with np.errstate(over="ignore", invalid="ignore"):
        mu_prev_rows = _level_rows(np.where(present, d_out / W, 1.0), pats.row, U)
    ww_last = np.where(first[:, None], ww0, w * mu_prev_rows)
    st = IrlsFit(
        coef=coef,
        mu=mu_rows,
        ww_last=ww_last,
        dev=dev_out,
        converged=converged,
        failed=failed,
        iterations=it_stop,
    )
    quad = _level_rows(inv_d, pats.row, U) if leverages else None
    return _finish(st, cov, quad, used, w, y, active)


class _GroupedWeighed:
    """X'WX of every problem of a grouped batch, kept as the weighted sums of the distinct
    Gram columns and solved as arrow matrices where the design allows (see ``_Blocks``)."""

    def __init__(self, solver: _GroupedSolver, ww: FloatArray) -> None:
        g = solver.gram
        self.solver = solver
        self.ww = ww
        self.sums = _sums(ww.reshape(solver.G, solver.U, -1), g)
        self.system: FloatArray | tuple[FloatArray, FloatArray, FloatArray]
        if solver.arrow is None:
            self.system = _cross(self.sums, g, solver.K) + solver.eye_fix
        else:
            self.system = solver.arrow.parts(self.sums)

    def solve(self, rhs: FloatArray) -> FloatArray:
        if isinstance(self.system, tuple):
            assert self.solver.arrow is not None
            return self.solver.arrow.solve(self.system, rhs)
        return solve_each(self.system, rhs)

    def rhs(self, z: FloatArray) -> FloatArray:
        return self.solver.xt(self.ww * z)

    def matvec(self, beta: FloatArray) -> FloatArray:
        if isinstance(self.system, tuple):
            assert self.solver.arrow is not None
            return self.solver.arrow.matvec(self.system, beta)
        return np.asarray(np.einsum("pkl,pl->pk", self.system, beta), dtype=np.float64)

    def xt(self) -> FloatArray:
        return _pick(self.sums, self.solver.gram.single)

    def total(self) -> FloatArray:
        ones = self.solver.gram.ones
        return self.sums[:, ones] if ones >= 0 else np.zeros(self.sums.shape[0])

    def finite(self) -> BoolArray:
        if isinstance(self.system, tuple):
            return _ArrowSystem.finite(self.system)
        return np.asarray(np.all(np.isfinite(self.system), axis=(1, 2)), dtype=bool)

    def neutralise(self, rows: IntArray) -> None:
        if isinstance(self.system, tuple):
            _ArrowSystem.set_identity(self.system, rows)
        else:
            self.system[rows] = np.eye(self.solver.K)


class _GroupedSolver:
    """The strategy of :func:`ruralwatch.epi.irls.irls` for problems that share their design
    within groups: X'WX of all units of a group is one product ``W @ cols`` of the weights with
    the distinct Gram columns; arrow designs are solved through the Schur complement of their
    diagonal block; for designs of 0/1 rows, exp(X beta) is computed once per distinct row and
    looked up (``_Patterns``). Every problem is computed until only ``_HANDOVER`` of them are
    still iterating; those go on with one design per problem (``OwnDesign``)."""

    compacts = False
    sums_deviance = True
    check_means = False

    def __init__(
        self, design: GroupDesign, U: int, used: BoolArray, fix: FloatArray, lookup: bool
    ) -> None:
        G, _, K = design.X.shape
        self.design, self.gram, self.G, self.U, self.K, self.p = design, design.gram, G, U, K, K
        self.P = G * U
        self.used = used
        self.fix = fix
        self.eye_fix = fix[:, :, None] * np.eye(K)[None]
        blocks = design.blocks
        self.arrow = None if blocks is None else _ArrowSystem(self.gram, blocks, K, fix)
        self.Xt = np.swapaxes(design.X, 1, 2)  # (G, K, N)
        self.pats = design.patterns if lookup else None
        self._eta_pat: FloatArray | None = None
        self._mu: FloatArray | None = None
        self._eta: FloatArray | None = None
        if self.pats is not None:
            L = self.pats.a.shape[1]
            self.pat_a = np.broadcast_to(self.pats.a[:, None, :], (G, U, L))
            self.pat_b = np.broadcast_to(self.pats.b[:, None, :], (G, U, L))
            # flat positions in the (P, L) exponentials of every (problem, row)
            self.pat_take = (
                np.arange(self.P)[:, None] * L + np.repeat(self.pats.row, U, axis=0)
            ).astype(np.intp)

    def weigh(self, ww: FloatArray) -> Weighed:
        return _GroupedWeighed(self, ww)

    def xt(self, v: FloatArray) -> FloatArray:
        return np.asarray(
            (v.reshape(self.G, self.U, -1) @ self.design.X).reshape(self.P, self.K),
            dtype=np.float64,
        )

    def mean(
        self, beta: FloatArray, off: FloatArray | None, clip: float | None
    ) -> tuple[FloatArray, FloatArray | None]:
        assert clip is None
        G, U, K = self.G, self.U, self.K
        # The results are written into buffers kept from one call to the next (the driver
        # does not use the previous means once it asks for new ones): allocating the
        # (P, N) arrays afresh every iteration cost page faults.
        # A fit's means and linear predictors are its scratch: a result keeps copies.
        if self._mu is None:
            self._mu = _buffer("mu", (self.P, self.design.X.shape[1]))
        if self.pats is not None:
            # exp(X beta) per distinct row, looked up (see _Patterns); eta is only made for
            # the problems that need it (``eta``).
            bx = np.concatenate([beta, np.zeros((self.P, 1))], axis=1).reshape(G, U, K + 1)
            eta_pat = np.take_along_axis(bx, self.pat_a, axis=2)
            eta_pat += np.take_along_axis(bx, self.pat_b, axis=2)
            self._eta_pat = eta_pat
            return np.take(np.exp(eta_pat), self.pat_take, out=self._mu), None
        if self._eta is None:
            self._eta = _buffer("eta", self._mu.shape)
        eta = self._eta
        np.matmul(beta.reshape(G, U, K), self.Xt, out=eta.reshape(G, U, -1))
        if off is not None:
            np.add(eta, off, out=eta)
        return np.exp(eta, out=self._mu), eta

    def eta(self, rows: IntArray) -> FloatArray:
        assert self.pats is not None and self._eta_pat is not None
        return np.asarray(
            np.take_along_axis(
                self._eta_pat.reshape(self.P, -1)[rows], self.pats.row[rows // self.U], axis=1
            ),
            dtype=np.float64,
        )

    def narrow(self, keep: IntArray) -> OwnDesign | None:
        if keep.size > _HANDOVER * self.P:
            return None
        rows = self.design.X[keep // self.U] * self.used[keep][:, :, None]
        return OwnDesign(rows, self.fix[keep])


def fit_poisson_grouped(
    X: FloatArray | GroupDesign,
    y: FloatArray,
    weights: FloatArray,
    offset: FloatArray | None = None,
    *,
    tol: float = 1e-8,
    max_iter: int = MAX_ITER,
    leverages: bool = True,
    tables: CountTables | None = None,
) -> GlmFit:
    """As :func:`fit_poisson` for problems that share their design within groups.

    Args:
        X: (G, N, K) one design per group, or the same prepared by :func:`group_design`.
        y: (G, U, N) counts of the U problems of each group.
        weights: (G, U, N) prior weights; 0 masks an observation out.
        offset: (G, U, N) offset on the log scale, or None.
        leverages: compute the leverages (``hat``; else they are 0).
        tables: ``CountTables(y.reshape(G * U, N))`` kept from a fit of the same counts (which
            must then be finite everywhere), or None.

    Returns the fits flattened to G*U problems (group-major).
    """
    design = X if isinstance(X, GroupDesign) else group_design(X)
    Xz, gram = design.X, design.gram
    G, N, K = Xz.shape
    U = y.shape[1]
    P = G * U
    w3 = np.asarray(weights, dtype=np.float64).reshape(G, U, N)
    # Rows outside the design's rows are never used (their entries are zero).
    used3 = (w3 > 0) & design.rows[:, None, :]
    used = used3.reshape(P, N)
    if used.all():  # nothing to mask (the usual case)
        w = w3.reshape(P, N)
        yv = np.asarray(y, dtype=np.float64).reshape(P, N)
        # Aliased columns: no used observation with a non-zero entry.
        active = np.repeat(np.any(Xz != 0.0, axis=1), U, axis=0)
    else:
        w = np.where(used, w3.reshape(P, N), 0.0)
        yv = np.where(used, y.reshape(P, N), 0.0)
        nz = (Xz != 0.0).astype(np.float64)  # (G, N, K)
        active = (used3.astype(np.float64) @ nz).reshape(P, K) > 0
    if tables is None:
        tables = CountTables(yv)
    if design.patterns is not None and offset is None and max_iter > 0:
        levels = _saturated_levels(design)
        if levels is not None:
            fit = _fit_saturated(design, levels, yv, w, used, U, tol, max_iter, leverages, tables)
            if fit is not None:
                return fit
    off = None if offset is None else np.where(used, offset.reshape(P, N), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # What the driver needs of R's start mu0 = y + 0.1, by table for whole counts: log
        # mu0, the start's deviance, W z and y log y (the constant part of every later
        # deviance).
        dev0 = 2.0 * np.einsum("pn,pn->p", w, tables.of(_start_deviance_term))
        if off is None:
            # W z at the start, w (y + 0.1)(log(y + 0.1) - 1) + w y, by value
            wz = w * tables.of(_start_wz)
        else:
            wz = (w * (yv + 0.1)) * (tables.of(_log_start) - off - 1.0) + w * yv
        hints = Hints(dev=dev0, wz=wz, ylogy=tables.of(_ylogy))
    solver = _GroupedSolver(design, U, used, np.where(active, 0.0, 1.0), offset is None)
    st = irls(
        yv,
        w,
        solver,
        control=Control(tol=tol, max_iter=max_iter),
        mu0=yv + 0.1,
        offset=off,
        hints=hints,
    )
    sums = _sums(st.ww_last.reshape(G, U, N), gram)
    if solver.arrow is None:
        cov = _inverse(_cross(sums, gram, K) + solver.eye_fix, active)
    else:
        cov = solver.arrow.inverse(solver.arrow.parts(sums))
        cov *= active[:, :, None] & active[:, None, :]
    if not leverages:
        return _finish(st, cov, None, used, w, yv, active)
    # x_i' C x_i = sum_ab C_ab x_ia x_ib over the distinct product columns.
    ok = gram.pair >= 0
    coef_cols = np.zeros((P, gram.cols.shape[2]))
    factor = np.where(gram.ia == gram.ib, 1.0, 2.0)[ok]
    np.add.at(coef_cols.T, gram.pair[ok], (cov[:, gram.ia[ok], gram.ib[ok]] * factor).T)
    quad = (coef_cols.reshape(G, U, -1) @ np.swapaxes(gram.cols, 1, 2)).reshape(P, N)
    return _finish(st, cov, quad, used, w, yv, active)
