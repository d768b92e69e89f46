"""Batched quasi-Poisson GLM fits (log link) by iteratively reweighted least squares.

Every fitting problem of a Farrington run (one per unit and monitored time point) is stacked into
one batch. Problems with fewer observations are padded and masked with a prior weight of 0.
Columns that are all zero over the used observations of a problem (an absent factor level, a
dropped trend) are treated as aliased: their coefficient is 0 and they do not count as parameters.

* :func:`fit_poisson` takes one design per problem, ``X`` of shape (problems, observations,
  covariates), and runs the one IRLS of the core (:func:`ruralwatch.epi.irls.irls`, strategy
  ``OwnDesign``: X'WX per problem, LU solves, least squares where singular).
* :func:`fit_poisson_grouped` takes one design per *group* of problems that share it (in
  Farrington: every unit at one time point), ``X`` of shape (groups, observations, covariates)
  and ``y`` of shape (groups, units, observations). Farrington's designs (an intercept, a time
  trend, a factor) go to the compiled kernel of ``_farrington_kernel``, which iterates each
  problem in one pass over its observations per iteration; a problem it cannot solve there (a
  singular reduced system) and designs of other forms go to :func:`fit_poisson`.

Both iterate as R's ``glm.fit``: start from ``mu = y + 0.1``, stop when the relative change of
the deviance falls below ``tol`` (``glm.control(epsilon = 1e-8)``) or after ``max_iter``
iterations (25, R's ``maxit``); every problem stops where R's would, whatever the others do. A
problem whose iterate turns non-finite (a diverging fit, e.g. a time trend over an all-zero
baseline) is failed (``GlmFit.failed``; its coefficients are NaN); the other problems of the
batch are not affected.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.irls import Control, Hints, IrlsFit, OwnDesign, irls
from ruralwatch.epi.linalg import solve_each

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

__all__ = [
    "CountTables",
    "GlmFit",
    "GroupDesign",
    "anscombe_weights",
    "fit_poisson",
    "fit_poisson_grouped",
    "group_design",
]


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


# Whole counts below this value are looked up in the kernel's tables (see ``CountTables``).
_TABLE_MAX = 100_000


class CountTables:
    """log y (0 for 0), log(y + 0.1) and the start's deviance term y log(y / (y + 0.1)) -
    (y - (y + 0.1)) of the whole counts 0 .. M - 1 (M one more than the largest finite value
    of ``y``, at most ``_TABLE_MAX``), which the kernel looks up instead of taking logarithms
    per observation and fit (numpy's values; it computes those of other counts).
    ``table`` (3, M)."""

    def __init__(self, y: FloatArray) -> None:
        top = float(np.max(y, initial=-1.0, where=np.isfinite(y)))  # NaN and inf left out
        m = int(min(top, _TABLE_MAX - 1)) + 1
        v = np.arange(m, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            rows = [_log_y(v), _log_start(v), _start_deviance_term(v)]
        self.table = np.ascontiguousarray(np.stack(rows).reshape(3, m))


def _start_deviance_term(y: FloatArray) -> FloatArray:
    mu = y + 0.1
    return np.asarray(np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu), dtype=np.float64)


def _log_y(y: FloatArray) -> FloatArray:
    return np.asarray(np.where(y > 0, np.log(y), 0.0), dtype=np.float64)


def _log_start(y: FloatArray) -> FloatArray:
    return np.asarray(np.log(y + 0.1), dtype=np.float64)


def _start_hints(yv: FloatArray, w: FloatArray) -> Hints:
    """log(mu0) and the start's deviance at R's start mu0 = y + 0.1."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return Hints(
            eta=_log_start(yv),
            dev=np.asarray(2.0 * np.sum(w * _start_deviance_term(yv), axis=-1), dtype=np.float64),
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
    used = np.asarray(weights) > 0
    w = np.where(used, np.asarray(weights, dtype=np.float64), 0.0)
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
        hints=_start_hints(yv, w),
    )
    # As R does, the covariance and the leverages come from the working weights of the last
    # iteration (computed from the previous means); the means are those of the final estimate.
    xtwx = (np.swapaxes(Xm, 1, 2) * st.ww_last[:, None, :]) @ Xm + eye_fix
    cov = _inverse(xtwx, active)
    quad = np.sum((Xm @ cov) * Xm, axis=2)
    return _finish(st, cov, quad, used, w, yv, active)


@dataclass(frozen=True)
class _Factor:
    """A design of an intercept (column 0), at most one general column (``tcol``, -1 for none:
    Farrington's time trend) and 0/1 indicator columns with disjoint supports (a factor's
    levels), as the kernel takes it: the time ``t`` of each row (0 without ``tcol``), (G, N);
    the rows of each group ordered by the column of their indicator (0 for the reference
    level), rows outside the design last, ``perm`` (G, N); and where each column's rows start
    in that order, ``seg`` (G, K + 1) (``seg[:, K]``: the rows in the design)."""

    t: FloatArray
    perm: IntArray
    seg: IntArray
    tcol: int


def _factor(Xz: FloatArray, rows: BoolArray) -> _Factor | None:
    """The factor form of (G, N, K) designs (rows outside ``rows`` zeroed), or None."""
    G, N, K = Xz.shape
    if K == 0 or not np.all(Xz[:, :, 0][rows] == 1.0):
        return None
    binary = [bool(np.all((Xz[:, :, k] == 0.0) | (Xz[:, :, k] == 1.0))) for k in range(K)]
    general = [k for k in range(1, K) if not binary[k]]
    if len(general) > 1:
        return None
    tcol = general[0] if general else -1
    ind = np.array([k for k in range(1, K) if k != tcol], dtype=np.int64)
    if ind.size and np.any(Xz[:, :, ind].sum(axis=2) > 1.0):
        return None  # indicators that overlap: not one factor
    lev = np.zeros((G, N), dtype=np.int64)
    for k in ind:
        lev[Xz[:, :, k] == 1.0] = k
    lev[~rows] = K  # outside the design: last
    perm = np.argsort(lev, axis=1, kind="stable").astype(np.int64)
    counts = np.stack([np.count_nonzero(lev == k, axis=1) for k in range(K)], axis=1)
    seg = np.zeros((G, K + 1), dtype=np.int64)
    np.cumsum(counts, axis=1, out=seg[:, 1:])
    t = np.ascontiguousarray(Xz[:, :, tcol]) if tcol >= 0 else np.zeros((G, N))
    return _Factor(t=t, perm=perm, seg=seg, tcol=tcol)


@dataclass(frozen=True)
class GroupDesign:
    """Designs shared by the problems of each group. Build it once with :func:`group_design`
    when several fits use the same designs."""

    X: FloatArray  # (G, N, K), rows outside ``rows`` zeroed
    rows: BoolArray  # (G, N) rows that may be used
    factor: _Factor | None  # the compiled kernel's form of the designs, if they have it


def group_design(X: FloatArray, rows: BoolArray | None = None) -> GroupDesign:
    """Prepare (G, N, K) designs; ``rows`` (G, N) marks the rows that may be used (default:
    all with finite entries)."""
    finite = np.all(np.isfinite(X), axis=2)
    rows = finite if rows is None else rows & finite
    Xz = np.where(rows[:, :, None], X, 0.0)
    return GroupDesign(X=Xz, rows=rows, factor=_factor(Xz, rows))


def anscombe_weights(fit: GlmFit, y: FloatArray, used: BoolArray, threshold: float) -> FloatArray:
    """Farrington's weights (P, N) from the standardised Anscombe residuals of a first fit
    (0 where not ``used``): the kernel's per problem (``_farrington_kernel.anscombe_weights``),
    for the fits that the kernel does not make."""
    from ruralwatch.epi.detect import _farrington_kernel as fk

    fk.kernel()
    P, N = y.shape
    out = np.zeros((P, N))
    ws = np.ascontiguousarray(used, dtype=np.float64)
    yc = np.ascontiguousarray(y, dtype=np.float64)
    mu = np.ascontiguousarray(fit.mu)
    hat = np.ascontiguousarray(fit.hat)
    for p in range(P):
        phi = float(fit.dispersion_working[p])
        fk.anscombe_weights(ws[p], yc[p], mu[p], hat[p], phi, float(threshold), N, out[p])
    return out


def _per_problem(
    design: GroupDesign,
    U: int,
    probs: IntArray,
    y: FloatArray,
    weights: FloatArray,
    offset: FloatArray | None,
    tol: float,
    max_iter: int,
    leverages: bool,
    reweight: float | None,
) -> GlmFit:
    """The general path (one design per problem, LU solves) for the problems ``probs`` of
    (G, U, N) ``y``, ``weights``, ``offset``: a fit, and with ``reweight`` a second one with
    the Anscombe weights of the first."""
    G, N, _ = design.X.shape
    g = probs // U
    w = np.asarray(weights, dtype=np.float64).reshape(G * U, N)[probs]
    # Rows outside the design's rows are never used (their entries are zero).
    used = (w > 0) & design.rows[g]
    w = np.where(used, w, 0.0)
    yp = np.where(used, np.asarray(y, dtype=np.float64).reshape(G * U, N)[probs], 0.0)
    op = None if offset is None else np.where(used, offset.reshape(G * U, N)[probs], 0.0)
    X = design.X[g]
    fit = fit_poisson(X, yp, w, op, tol=tol, max_iter=max_iter)
    if reweight is not None:
        first = fit
        wts = anscombe_weights(fit, yp, used, reweight)
        fit = fit_poisson(X, yp, wts, op, tol=tol, max_iter=max_iter)
        # A problem whose first fit did not converge (or failed) is not judged converged.
        fit = replace(
            fit,
            converged=fit.converged & first.converged,
            failed=fit.failed | first.failed,
        )
    if not leverages:
        fit = replace(fit, hat=np.zeros(fit.hat.shape))
    return fit


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
    reweight: float | None = None,
) -> GlmFit:
    """As :func:`fit_poisson` for problems that share their design within groups.

    Designs of Farrington's form (intercept, time, a factor; see ``_Factor``) are fitted by the
    compiled kernel (``_farrington_kernel``), one problem after the other; a problem whose
    reduced system is singular there, and designs of any other form, by :func:`fit_poisson`.

    Args:
        X: (G, N, K) one design per group, or the same prepared by :func:`group_design`.
        y: (G, U, N) counts of the U problems of each group.
        weights: (G, U, N) prior weights; 0 masks an observation out.
        offset: (G, U, N) offset on the log scale, or None.
        leverages: compute the leverages (``hat``; else they are 0).
        tables: ``CountTables`` of counts at least as large as ``y``'s, kept from another fit,
            or None.
        reweight: Farrington's reweighting threshold, or None: fit, weight the observations by
            the Anscombe residuals of that fit (:func:`anscombe_weights`) and fit again. The
            result is the second fit's, converged only where both converged and failed where
            either failed.

    Returns the fits flattened to G*U problems (group-major).
    """
    design = X if isinstance(X, GroupDesign) else group_design(X)
    G, N, K = design.X.shape
    U = y.shape[1]
    P = G * U
    fac = design.factor
    if fac is None or max_iter <= 0:
        every = np.arange(P, dtype=np.int64)
        return _per_problem(
            design, U, every, y, weights, offset, tol, max_iter, leverages, reweight
        )
    yv = np.ascontiguousarray(y, dtype=np.float64).reshape(P, N)
    w = np.ascontiguousarray(weights, dtype=np.float64).reshape(P, N)
    off = None if offset is None else np.ascontiguousarray(offset, dtype=np.float64).reshape(P, N)
    if tables is None:
        tables = CountTables(yv)
    from ruralwatch.epi.detect._farrington_kernel import kernel

    coef = np.empty((P, K))
    cov = np.zeros((P, K, K))
    mu = np.empty((P, N))
    hat = np.empty((P, N)) if leverages else np.zeros((P, N))
    disp = np.empty((P, 4))
    flags = np.zeros((P, 3), dtype=np.int64)
    kernel()(
        yv,
        w,
        np.zeros((0, 0)) if off is None else off,
        tables.table,
        fac.t,
        fac.perm,
        fac.seg,
        fac.tcol,
        U,
        K,
        float(tol),
        int(max_iter),
        bool(leverages),
        0.0 if reweight is None else float(reweight),
        coef,
        cov,
        mu,
        hat,
        disp,
        flags,
    )
    fallback = flags[:, 2] == 1
    failed = (flags[:, 1] == 1) & ~fallback
    if failed.any():
        coef[failed] = np.nan
        cov[failed] = np.nan
    fit = GlmFit(
        coef=coef,
        cov_unscaled=cov,
        mu=mu,
        hat=hat,
        dispersion=disp[:, 0],
        dispersion_working=disp[:, 1],
        dispersion_prior_working=disp[:, 2],
        df_residual=disp[:, 3],
        converged=flags[:, 0] == 1,
        failed=failed,
    )
    back = np.flatnonzero(fallback)
    if back.size:
        sub = _per_problem(design, U, back, y, weights, offset, tol, max_iter, leverages, reweight)
        for f in dataclasses.fields(GlmFit):
            getattr(fit, f.name)[back] = getattr(sub, f.name)
    return fit
