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

The iteration follows the usual Fisher scoring for a Poisson log-link model: start from
``mu = y + 0.1``, stop when the relative change of the deviance falls below ``tol`` (as R's
``glm.control(epsilon = 1e-8)``) or after ``max_iter`` iterations. Problems that have converged are
frozen while the others go on, so every problem stops where R's ``glm.fit`` would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

__all__ = ["GlmFit", "fit_poisson", "fit_poisson_grouped"]

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
        converged: (P,) whether the deviance criterion was met.
    """

    coef: FloatArray
    cov_unscaled: FloatArray
    mu: FloatArray
    hat: FloatArray
    dispersion: FloatArray
    dispersion_working: FloatArray
    df_residual: FloatArray
    converged: BoolArray


def _deviance(y: FloatArray, mu: FloatArray, w: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)
    return np.asarray(2.0 * np.sum(w * term, axis=-1), dtype=np.float64)


def _solve(a: FloatArray, rhs: FloatArray) -> FloatArray:
    """Solve a batch of symmetric positive definite systems, falling back to lstsq."""
    try:
        return np.asarray(np.linalg.solve(a, rhs[..., None])[..., 0], dtype=np.float64)
    except np.linalg.LinAlgError:
        out = np.empty_like(rhs)
        for i in range(a.shape[0]):
            out[i] = np.linalg.lstsq(a[i], rhs[i], rcond=None)[0]
        return out


@dataclass
class _State:
    """IRLS state of P problems (flat), updated in place."""

    mu: FloatArray  # (P, N)
    eta: FloatArray  # (P, N)
    dev: FloatArray  # (P,)
    coef: FloatArray  # (P, K)
    ww_last: FloatArray  # (P, N) working weights of the last iteration
    converged: BoolArray  # (P,)
    todo: IntArray  # problems still iterating


def _start(yv: FloatArray, w: FloatArray, K: int) -> _State:
    P = yv.shape[0]
    mu = yv + 0.1
    return _State(
        mu=mu,
        eta=np.log(mu),
        dev=_deviance(yv, mu, w),
        coef=np.zeros((P, K)),
        ww_last=w * mu,
        converged=np.zeros(P, dtype=bool),
        todo=np.arange(P),
    )


def _iterate(
    st: _State,
    Xm: FloatArray,
    w: FloatArray,
    yv: FloatArray,
    off: FloatArray,
    eye_fix: FloatArray,
    n_iter: int,
    tol: float,
) -> None:
    """Per-problem IRLS steps for the problems in ``st.todo`` (Xm: (P', N, K) rows for them)."""
    todo = st.todo
    for _ in range(n_iter):
        if todo.size == 0:
            break
        Xt, wt, yt, ot = Xm, w[todo], yv[todo], off[todo]
        mut, etat = st.mu[todo], st.eta[todo]
        ww = wt * mut
        z = etat - ot + (yt - mut) / mut
        xtw = np.swapaxes(Xt, 1, 2) * ww[:, None, :]
        xtwx = xtw @ Xt + eye_fix[todo]
        xtwz = (xtw @ z[:, :, None])[:, :, 0]
        beta = _solve(xtwx, xtwz)
        eta_new = (Xt @ beta[:, :, None])[:, :, 0] + ot
        mu_new = np.exp(eta_new)
        dev_new = _deviance(yt, mu_new, wt)
        done = np.abs(dev_new - st.dev[todo]) / (np.abs(dev_new) + 0.1) < tol
        st.coef[todo] = beta
        st.ww_last[todo] = ww
        st.eta[todo] = eta_new
        st.mu[todo] = mu_new
        st.dev[todo] = dev_new
        st.converged[todo[done]] = True
        todo = todo[~done]
        Xm = Xm[~done]
    st.todo = todo


def _finish(
    st: _State,
    cov: FloatArray,
    quad: FloatArray,
    used: BoolArray,
    w: FloatArray,
    yv: FloatArray,
    active: BoolArray,
) -> GlmFit:
    """Leverages and dispersions, given the covariance and x_i' C x_i for every observation."""
    hat = quad * st.ww_last
    mu = st.mu
    n_used = used.sum(axis=1)
    rank = active.sum(axis=1)
    df = (n_used - rank).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = np.sum(np.where(used, w * (yv - mu) ** 2 / mu, 0.0), axis=1)
        dispersion = np.where(df > 0, pearson / df, np.nan)
        working = np.sum(np.where(used, st.ww_last * ((yv - mu) / mu) ** 2, 0.0), axis=1)
        dispersion_working = np.where(df > 0, working / df, np.nan)
    return GlmFit(
        coef=st.coef,
        cov_unscaled=cov,
        mu=mu,
        hat=np.where(used, hat, 0.0),
        dispersion=dispersion,
        dispersion_working=dispersion_working,
        df_residual=df,
        converged=st.converged,
    )


def _inverse(xtwx: FloatArray, active: BoolArray) -> FloatArray:
    """(X'WX)^-1 with zero rows and columns for aliased columns."""
    mask = active[:, :, None] & active[:, None, :]
    return np.asarray(np.linalg.inv(xtwx) * mask, dtype=np.float64)


def fit_poisson(
    X: FloatArray,
    y: FloatArray,
    weights: FloatArray,
    offset: FloatArray | None = None,
    *,
    tol: float = 1e-8,
    max_iter: int = 50,
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
    st = _start(yv, w, K)
    _iterate(st, Xm, w, yv, off, eye_fix, max_iter, tol)
    # As R does, the covariance and the leverages come from the working weights of the last
    # iteration (computed from the previous means); the means are those of the final estimate.
    xtwx = (np.swapaxes(Xm, 1, 2) * st.ww_last[:, None, :]) @ Xm + eye_fix
    cov = _inverse(xtwx, active)
    quad = np.sum((Xm @ cov) * Xm, axis=2)
    return _finish(st, cov, quad, used, w, yv, active)


def _gram_columns(X: FloatArray) -> tuple[FloatArray, IntArray, IntArray, IntArray]:
    """The distinct non-zero products x_a * x_b (a <= b) of a group of designs.

    Returns ``(cols, rows_a, rows_b, which)``: ``cols`` (G, N, C) holds the distinct product
    columns, and the (a, b) entry of X'WX is ``(W @ cols)[..., which[i]]`` for the i-th pair
    ``(rows_a[i], rows_b[i])``; ``which`` is -1 where the product is zero everywhere. With
    indicator columns of a factor most products are zero or repeats of another, so the cross
    products cost a few columns instead of K*K.
    """
    G, N, K = X.shape
    ia, ib = np.triu_indices(K)
    prod = (X[:, :, ia] * X[:, :, ib]).reshape(G * N, ia.size)
    nonzero = np.flatnonzero(np.any(prod != 0.0, axis=0))
    which = np.full(ia.size, -1, dtype=np.int64)
    if nonzero.size == 0:
        return np.zeros((G, N, 0)), ia.astype(np.int64), ib.astype(np.int64), which
    uniq, inverse = np.unique(prod[:, nonzero], axis=1, return_inverse=True)
    which[nonzero] = np.asarray(inverse, dtype=np.int64).ravel()
    return uniq.reshape(G, N, -1), ia.astype(np.int64), ib.astype(np.int64), which


def _cross(
    ww: FloatArray,
    gram: tuple[FloatArray, IntArray, IntArray, IntArray],
    K: int,
) -> FloatArray:
    """X'WX for every problem: ww (G, U, N) -> (G*U, K, K)."""
    cols, ia, ib, which = gram
    G, U, _ = ww.shape
    sums = np.einsum("gun,gnc->guc", ww, cols, optimize=True).reshape(G * U, -1)
    out = np.zeros((G * U, K, K))
    ok = which >= 0
    vals = sums[:, which[ok]]
    out[:, ia[ok], ib[ok]] = vals
    out[:, ib[ok], ia[ok]] = vals
    return out


def fit_poisson_grouped(
    X: FloatArray,
    y: FloatArray,
    weights: FloatArray,
    offset: FloatArray | None = None,
    *,
    tol: float = 1e-8,
    max_iter: int = 50,
) -> GlmFit:
    """As :func:`fit_poisson` for problems that share their design within groups.

    Args:
        X: (G, N, K) one design per group.
        y: (G, U, N) counts of the U problems of each group.
        weights: (G, U, N) prior weights; 0 masks an observation out.
        offset: (G, U, N) offset on the log scale, or None.

    Returns the fits flattened to G*U problems (group-major).
    """
    G, N, K = X.shape
    U = y.shape[1]
    P = G * U
    w = np.asarray(weights, dtype=np.float64).reshape(P, N)
    used = w > 0
    yv = np.where(used, y.reshape(P, N), 0.0)
    off = np.zeros((P, N)) if offset is None else np.where(used, offset.reshape(P, N), 0.0)
    used3 = used.reshape(G, U, N)
    # Rows that no problem of the group uses are zeroed, so every linear predictor is finite.
    row_used: BoolArray = np.any(used3, axis=1)
    Xz = np.where(np.isfinite(X) & row_used[:, :, None], X, 0.0)
    gram = _gram_columns(Xz)
    # Aliased columns: no used observation with a non-zero entry.
    nz = (Xz != 0.0).astype(np.float64)  # (G, N, K)
    active = (used3.astype(np.float64) @ nz).reshape(P, K) > 0
    eye_fix = np.where(active, 0.0, 1.0)[:, :, None] * np.eye(K)[None]
    st = _start(yv, w, K)
    wy = w * yv
    with np.errstate(divide="ignore", invalid="ignore"):
        dev_const = np.sum(np.where(yv > 0, wy * np.log(yv), 0.0) - wy, axis=1)
    Xt_ = np.swapaxes(Xz, 1, 2)  # (G, K, N)
    # Every problem iterates until the handover; a problem that meets the criterion has its
    # estimate stored in ``st`` at that iteration, exactly where the per-problem loop stops.
    mu = st.mu
    lin = st.eta - off
    ww = w * mu
    dev = st.dev
    n_iter = 0
    while n_iter < max_iter and st.todo.size > _HANDOVER * P:
        n_iter += 1
        xtwx = _cross(ww.reshape(G, U, N), gram, K) + eye_fix
        wz = ww * lin + wy - ww  # W z with z the working response (offset removed)
        beta = _solve(xtwx, (wz.reshape(G, U, N) @ Xz).reshape(P, K))
        lin = (beta.reshape(G, U, K) @ Xt_).reshape(P, N)
        eta = lin + off if offset is not None else lin
        mu = np.exp(eta)
        ww_prev, ww = ww, w * mu
        # The deviance without a logarithm per iteration: y log(y/mu) = y log y - y eta.
        dev_new = 2.0 * (dev_const + ww.sum(axis=1) - np.einsum("pn,pn->p", wy, eta))
        crit = np.abs(dev_new - dev) / (np.abs(dev_new) + 0.1) < tol
        dev = dev_new
        newly = np.flatnonzero(crit & ~st.converged)
        last = newly if n_iter < max_iter and st.todo.size - newly.size > _HANDOVER * P else None
        # Store the estimate of the problems that stop here (or of all still going, at the
        # handover).
        take = newly if last is not None else st.todo
        st.coef[take] = beta[take]
        st.ww_last[take] = ww_prev[take]
        st.mu[take] = mu[take]
        st.eta[take] = eta[take]
        st.dev[take] = dev[take]
        st.converged[newly] = True
        st.todo = np.flatnonzero(~st.converged)
    if st.todo.size and n_iter < max_iter:
        rows = Xz[st.todo // U] * used[st.todo][:, :, None]
        _iterate(st, rows, w, yv, off, eye_fix, max_iter - n_iter, tol)
    xtwx = _cross(st.ww_last.reshape(G, U, N), gram, K) + eye_fix
    cov = _inverse(xtwx, active)
    # x_i' C x_i = sum_ab C_ab x_ia x_ib over the distinct product columns.
    cols, ia, ib, which = gram
    coef_cols = np.zeros((P, cols.shape[2]))
    ok = which >= 0
    factor = np.where(ia == ib, 1.0, 2.0)[ok]
    np.add.at(coef_cols.T, which[ok], (cov[:, ia[ok], ib[ok]] * factor).T)
    quad = np.einsum("guc,gnc->gun", coef_cols.reshape(G, U, -1), cols, optimize=True)
    quad = quad.reshape(P, N)
    return _finish(st, cov, quad, used, w, yv, active)
