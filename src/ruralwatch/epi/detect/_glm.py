"""Batched log-link GLM fits (Poisson, negative binomial) by IRLS, one column per series.

``x`` is the (n, p) design shared by all series, ``y`` the (n, U) responses and ``mask`` (n, U)
marks the rows each series may use (missing values are left out). All series are fitted at once.
The negative binomial fit is the joint maximum likelihood estimate of the coefficients and of
``theta`` (variance mu + mu^2/theta), the same estimate as ``MASS::glm.nb``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln, polygamma, psi

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = ["fit_negbin", "fit_poisson", "predict"]

_THETA_MAX = 1e10


def _irls(
    x: FloatArray,
    y: FloatArray,
    mask: BoolArray,
    theta: FloatArray | None,
    beta0: FloatArray | None,
    max_iter: int = 100,
    tol: float = 1e-13,
) -> FloatArray:
    """Coefficients (p, U) of a log-link fit; Poisson when ``theta`` is None, else NB(theta).

    Each series stops iterating once its own coefficients have converged, so a series gets the
    same answer alone as within a panel.
    """
    p = x.shape[1]
    w_obs = mask.astype(np.float64)
    yy = np.where(mask, y, 0.0)
    eta = np.log(yy + 0.1) if beta0 is None else x @ beta0
    beta = np.zeros((p, y.shape[1])) if beta0 is None else beta0.copy()
    todo = np.arange(y.shape[1])
    for _ in range(max_iter):
        e = eta[:, todo]
        mu = np.exp(e)
        w = mu if theta is None else mu / (1.0 + mu / theta[None, todo])
        w = w * w_obs[:, todo]
        z = e + (yy[:, todo] - mu) / mu
        xtwx = np.einsum("ni,nu,nj->uij", x, w, x)
        xtwz = np.einsum("ni,nu->ui", x, w * z)
        try:
            new = np.linalg.solve(xtwx, xtwz[..., None])[..., 0].T
        except np.linalg.LinAlgError:  # a series without enough data: least squares
            new = (np.linalg.pinv(xtwx) @ xtwz[..., None])[..., 0].T
        step = np.max(np.abs(new - beta[:, todo]), axis=0)
        beta[:, todo] = new
        eta[:, todo] = np.clip(x @ new, -700.0, 700.0)
        todo = todo[step > tol * (1.0 + np.max(np.abs(new), axis=0))]
        if todo.size == 0:
            break
    return beta


def fit_poisson(x: FloatArray, y: FloatArray, mask: BoolArray | None = None) -> FloatArray:
    """Poisson log-link maximum likelihood coefficients, shape (p, U)."""
    m = ~np.isnan(y) if mask is None else mask & ~np.isnan(y)
    return _irls(np.asarray(x, np.float64), np.asarray(y, np.float64), m, None, None)


def _theta_ml(
    y: FloatArray, mu: FloatArray, mask: BoolArray, theta: FloatArray, iters: int = 200
) -> FloatArray:
    """ML estimate of theta given mu, per column (safeguarded Newton on log theta).

    Where the likelihood keeps rising with theta (no overdispersion) theta is set to a large
    cap, i.e. alpha = 1/theta is practically 0.
    """
    lt = np.log(np.minimum(theta, _THETA_MAX)).astype(np.float64)
    cap = np.log(_THETA_MAX)
    todo = np.arange(y.shape[1])
    for _ in range(iters):
        w = mask[:, todo].astype(np.float64)
        yy = np.where(mask[:, todo], y[:, todo], 0.0)
        m = mu[:, todo]
        t1 = np.exp(lt[todo])
        th = t1[None, :]
        score = (
            w * (psi(yy + th) - psi(th) + np.log(th) + 1.0 - np.log(th + m) - (yy + th) / (th + m))
        ).sum(axis=0)
        d2 = (
            w
            * (
                polygamma(1, yy + th)
                - polygamma(1, th)
                + 1.0 / th
                - 2.0 / (th + m)
                + (yy + th) / (th + m) ** 2
            )
        ).sum(axis=0)
        g = score * t1  # d loglik / d log(theta)
        h = d2 * t1 * t1 + g
        step = np.where(h < 0, -g / np.where(h < 0, h, -1.0), np.sign(g) * 1.0)
        step = np.clip(step, -2.0, 2.0)
        new = np.minimum(lt[todo] + step, cap)
        runaway = (new > np.log(1e8)) & (g > 0)
        new = np.where(runaway, cap, new)
        lt[todo] = new
        done = (np.abs(step) < 1e-12) | (new >= cap)
        todo = todo[~done]
        if todo.size == 0:
            break
    return np.asarray(np.exp(lt), dtype=np.float64)


def nb_loglik(y: FloatArray, mu: FloatArray, theta: FloatArray, mask: BoolArray) -> FloatArray:
    """Negative binomial log-likelihood per column."""
    yy = np.where(mask, y, 0.0)
    th = theta[None, :]
    ll = (
        gammaln(yy + th)
        - gammaln(th)
        - gammaln(yy + 1.0)
        + th * np.log(th / (th + mu))
        + yy * np.log(mu / (th + mu))
    )
    return np.asarray(np.where(mask, ll, 0.0).sum(axis=0), dtype=np.float64)


def fit_negbin(
    x: FloatArray, y: FloatArray, mask: BoolArray | None = None, max_outer: int = 200
) -> tuple[FloatArray, FloatArray]:
    """Joint NB maximum likelihood: coefficients (p, U) and theta (U,)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    m = ~np.isnan(y) if mask is None else mask & ~np.isnan(y)
    beta = _irls(x, y, m, None, None)
    mu = np.exp(x @ beta)
    w = m.astype(np.float64)
    yy = np.where(m, y, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = w.sum(axis=0) / (w * (yy / mu - 1.0) ** 2).sum(axis=0)
    theta = np.where(np.isfinite(theta) & (theta > 0), theta, 1.0)
    theta = np.minimum(theta, _THETA_MAX)
    todo = np.arange(y.shape[1])
    for _ in range(max_outer):
        theta_new = _theta_ml(y[:, todo], mu[:, todo], m[:, todo], theta[todo])
        beta_new = _irls(x, y[:, todo], m[:, todo], theta_new, beta[:, todo])
        mu[:, todo] = np.exp(x @ beta_new)
        d_theta = np.abs(np.log(theta_new) - np.log(theta[todo]))
        d_beta = np.max(np.abs(beta_new - beta[:, todo]), axis=0)
        theta[todo] = theta_new
        beta[:, todo] = beta_new
        todo = todo[(d_theta >= 1e-11) | (d_beta >= 1e-11)]
        if todo.size == 0:
            break
    theta = _theta_ml(y, mu, m, theta)
    return beta, theta


def predict(x: FloatArray, beta: FloatArray) -> FloatArray:
    """exp(x @ beta): fitted means, shape (n, U)."""
    return np.asarray(np.exp(np.asarray(x, np.float64) @ beta), dtype=np.float64)
