"""Batched quasi-Poisson GLM fits (log link) by iteratively reweighted least squares.

Every fitting problem of a Farrington run (one per unit and monitored time point) is stacked into
one batch: ``X`` has shape (problems, observations, covariates); problems with fewer
observations are padded and masked with a prior weight of 0. Columns that are all zero in a
problem (an absent factor level, a dropped trend) are treated as aliased: their coefficient is 0
and they do not count as parameters.

The iteration follows the usual Fisher scoring for a Poisson log-link model: start from
``mu = y + 0.1``, stop when the relative change of the deviance falls below ``tol`` (as R's
``glm.control(epsilon = 1e-8)``) or after ``max_iter`` iterations. Problems that have converged are
frozen while the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = ["GlmFit", "fit_poisson"]


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
    return np.asarray(2.0 * np.sum(w * term, axis=1), dtype=np.float64)


def _solve(a: FloatArray, rhs: FloatArray) -> FloatArray:
    """Solve a batch of symmetric positive definite systems, falling back to lstsq."""
    try:
        return np.asarray(np.linalg.solve(a, rhs[..., None])[..., 0], dtype=np.float64)
    except np.linalg.LinAlgError:
        out = np.empty_like(rhs)
        for i in range(a.shape[0]):
            out[i] = np.linalg.lstsq(a[i], rhs[i], rcond=None)[0]
        return out


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
    # Aliased columns: all zero over the used observations.
    active = np.any(Xm != 0.0, axis=1)  # (P, K)
    eye_fix = np.where(active, 0.0, 1.0)[:, :, None] * np.eye(K)[None]

    mu = yv + 0.1
    eta = np.log(mu)
    dev = _deviance(yv, mu, w)
    coef = np.zeros((P, K))
    converged = np.zeros(P, dtype=bool)
    ww_last = w * mu
    todo = np.arange(P)
    for _ in range(max_iter):
        if todo.size == 0:
            break
        Xt, wt, yt, ot = Xm[todo], w[todo], yv[todo], off[todo]
        mut, etat = mu[todo], eta[todo]
        ww = wt * mut
        z = etat - ot + (yt - mut) / mut
        xtw = np.swapaxes(Xt, 1, 2) * ww[:, None, :]
        xtwx = xtw @ Xt + eye_fix[todo]
        xtwz = (xtw @ z[:, :, None])[:, :, 0]
        beta = _solve(xtwx, xtwz)
        eta_new = (Xt @ beta[:, :, None])[:, :, 0] + ot
        mu_new = np.exp(eta_new)
        dev_new = _deviance(yt, mu_new, wt)
        done = np.abs(dev_new - dev[todo]) / (np.abs(dev_new) + 0.1) < tol
        coef[todo] = beta
        ww_last[todo] = ww
        eta[todo] = eta_new
        mu[todo] = mu_new
        dev[todo] = dev_new
        converged[todo[done]] = True
        todo = todo[~done]

    # As R does, the covariance and the leverages come from the working weights of the last
    # iteration (computed from the previous means); the means are those of the final estimate.
    ww = ww_last
    xtwx = (np.swapaxes(Xm, 1, 2) * ww[:, None, :]) @ Xm + eye_fix
    cov = np.linalg.inv(xtwx) * (active[:, :, None] & active[:, None, :])
    hat = np.sum((Xm @ cov) * Xm, axis=2) * ww
    n_used = used.sum(axis=1)
    rank = active.sum(axis=1)
    df = (n_used - rank).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = np.sum(np.where(used, w * (yv - mu) ** 2 / mu, 0.0), axis=1)
        dispersion = np.where(df > 0, pearson / df, np.nan)
        working = np.sum(np.where(used, ww * ((yv - mu) / mu) ** 2, 0.0), axis=1)
        dispersion_working = np.where(df > 0, working / df, np.nan)
    return GlmFit(
        coef=coef,
        cov_unscaled=cov,
        mu=mu,
        hat=np.where(used, hat, 0.0),
        dispersion=dispersion,
        dispersion_working=dispersion_working,
        df_residual=df,
        converged=converged,
    )
