"""GLR detectors for count time series (Höhle & Paul 2008), for a whole panel at once.

The in-control mean mu0_t is known (or fitted on the rows before monitoring). Out of control the
mean is mu0_t * exp(kappa) from an unknown change point on. At each time n the statistic is the
largest log likelihood ratio over change points k (n - M <= k <= n - m_tilde + 1, not before the
last restart) with kappa at its maximum likelihood value (GLR), or fixed at ``theta`` (LR
CUSUM). Poisson (``alpha = 0``) or negative binomial (variance mu + alpha mu^2). An alarm is
raised when the statistic reaches ``c_arl``; the detector then starts again at the next row.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.detect._common import (
    IntArray,
    Monitor,
    check_number,
    make_result,
    monitor_param,
    nan_reason,
    resolve_monitor,
)
from ruralwatch.epi.detect._glm import fit_glm_r, fit_negbin, predict_r
from ruralwatch.epi.detect.base import DetectionResult, Reason
from ruralwatch.epi.panel import FloatArray, Panel

__all__ = ["glr", "mu0_design"]

_KAPPA_MAX = 50.0


def mu0_design(t: FloatArray, freq: int, s: int, trend: bool) -> FloatArray:
    """Design matrix 1 (+ t) + cos/sin(2 pi j t / freq), j = 1..s, for 1-based times t."""
    cols = [np.ones_like(t)]
    if trend:
        cols.append(t)
    for j in range(1, s + 1):
        w = 2.0 * np.pi * j * t / freq
        cols += [np.cos(w), np.sin(w)]
    return np.column_stack(cols)


def _window_sums(v: FloatArray) -> FloatArray:
    """S[j] = sum of v[j:] along axis 0, for j = 0..L-1 (shape (L, U))."""
    return np.asarray(np.cumsum(v[::-1], axis=0)[::-1], dtype=np.float64)


def _nb_bound(
    x: FloatArray,
    mu: FloatArray,
    alpha: FloatArray,
    sx: FloatArray,
    g0: FloatArray,
    cells: npt.NDArray[np.intp],
    inc: bool,
) -> tuple[FloatArray, FloatArray]:
    """An upper bound of the NB profile log LR of the windows ``cells`` (flat indices into the
    (L, U) array of windows j = rows j..L-1), from window sums.

    With v = exp(kappa) - 1 and p_t = alpha mu_t / (1 + alpha mu_t), a row adds
    x_t log(1 + v) - (x_t + 1/alpha) log(1 + p_t v). For fixed v, log(1 + p v) is concave in
    p, so on [a, b] (the smallest and largest p_t of the window) it lies above its chord:
    log(1 + p v) >= (1 - l_t) log(1 + a v) + l_t log(1 + b v), l_t = (p_t - a) / (b - a). Hence
    every window's log LR is at most f(v) = Sx log(1 + v) - A log(1 + a v) - B log(1 + b v),
    with Sx, A, B window sums (A + B = sum of x_t + 1/alpha, a A + b B = sum of
    (x_t + 1/alpha) p_t), and f' = 0 is a quadratic in v whose larger root is f's maximum on
    v >= 0 (``inc``) or on -1 < v <= 0. Exact when mu is constant over the window; tight when
    it varies little. Rows with mu = 0 (missing) add nothing. ``sx`` and ``g0`` are the window
    sums of x and the score at kappa = 0, (L, U). Returns, for ``cells``, the bound (+inf where
    it is not available) and log(1 + v) at its maximum (a start for the exact search).
    """
    c = 1.0 / alpha[None, :]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        present = mu > 0.0
        p = np.where(present, mu / (c + mu), np.nan)
        wgt = np.where(present, x + c, 0.0)
        w0 = _window_sums(wgt).ravel()[cells]
        w1 = _window_sums(wgt * np.nan_to_num(p)).ravel()[cells]
        lo = np.fmin.accumulate(p[::-1], axis=0)[::-1].ravel()[cells]
        hi = np.fmax.accumulate(p[::-1], axis=0)[::-1].ravel()[cells]
    return _nb_bound_sums(w0, w1, lo, hi, sx.ravel()[cells], g0.ravel()[cells], inc)


def _nb_bound_sums(
    w0: FloatArray,
    w1: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    sxc: FloatArray,
    q0: FloatArray,
    inc: bool,
) -> tuple[FloatArray, FloatArray]:
    """:func:`_nb_bound` from the window sums of its cells: w0, w1 (sums of x + 1/alpha and of
    (x + 1/alpha) p), lo, hi (smallest and largest p), sxc (sum of x), q0 (score at 0)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        flat = ~(hi - lo > 1e-12 * hi)
        bb = np.where(flat, 0.0, np.clip((w1 - lo * w0) / (hi - lo), 0.0, w0))
        hi = np.where(flat, lo, hi)
        aa = w0 - bb
        q2 = lo * hi * (sxc - w0)
        q1 = sxc * (lo + hi) - aa * lo * (1.0 + hi) - bb * hi * (1.0 + lo)
        sq = np.sqrt(q1 * q1 - 4.0 * q2 * q0)
        t = -0.5 * (q1 + np.where(q1 >= 0.0, sq, -sq))
        v = np.fmax(t / q2, q0 / t)  # the larger root (q2 < 0)
        v = np.maximum(v, 0.0) if inc else np.clip(v, -1.0, 0.0)
        kap = np.log1p(v)
        f = np.where(sxc > 0.0, sxc * kap, 0.0) - aa * np.log1p(lo * v) - bb * np.log1p(hi * v)
    return np.where(np.isfinite(f) & (q2 < 0.0), f, np.inf), kap


def _nb_exact(
    x: FloatArray,
    mu: FloatArray,
    alpha: FloatArray,
    jj: npt.NDArray[np.intp],
    uu: npt.NDArray[np.intp],
    inc: bool,
    kap0: FloatArray,
    l1: FloatArray | None = None,
) -> FloatArray:
    """max over kappa (>= 0 if ``inc``, <= 0 otherwise) of the NB log LR of the windows
    (rows jj..L-1 of unit uu). Safeguarded Newton from ``kap0`` (where finite, else the Poisson
    estimate), all windows in one batch. ``l1``: log1p(alpha mu) of the rows, if at hand."""
    j0 = int(jj.min())  # rows before the earliest window start add nothing
    inwin = np.arange(j0, x.shape[0])[None, :] >= jj[:, None]  # (n_a, L - j0)
    xw = np.where(inwin, x[j0:, uu].T, 0.0)
    mw = np.where(inwin, mu[j0:, uu].T, 0.0)
    aw = alpha[uu][:, None]
    sx = xw.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kap = np.log(sx / mw.sum(axis=1))
    lo = np.full(jj.size, 0.0 if inc else -_KAPPA_MAX)
    hi = np.full(jj.size, _KAPPA_MAX if inc else 0.0)
    kap = np.where(np.isfinite(kap0), kap0, kap)
    kap = np.where(np.isfinite(kap), np.clip(kap, lo, hi), 0.5 * (lo + hi))
    todo = np.arange(jj.size)
    amw = aw * mw  # alpha mu_t
    axw = aw * xw + 1.0
    for _ in range(200):
        k = kap[todo]
        ek = np.exp(k)[:, None]
        every = todo.size == jj.size  # views while no window has stopped
        e = (mw if every else mw[todo]) * ek
        den = (amw if every else amw[todo]) * ek
        den += 1.0
        w = (axw if every else axw[todo]) * e
        w /= den
        g = sx[todo] - w.sum(axis=1)
        w /= den
        h = -w.sum(axis=1)
        lo[todo] = np.where(g > 0, k, lo[todo])
        hi[todo] = np.where(g < 0, k, hi[todo])
        with np.errstate(divide="ignore", invalid="ignore"):
            new = k - g / h
        bad = ~np.isfinite(new) | (new < lo[todo]) | (new > hi[todo])
        new = np.where(bad, 0.5 * (lo[todo] + hi[todo]), new)
        conv = (np.abs(new - k) <= 1e-13 * (1.0 + np.abs(k))) | (g == 0)
        kap[todo] = np.where(g == 0, k, new)
        todo = todo[~conv]
        if todo.size == 0:
            break
    e = mw * np.exp(kap)[:, None]
    # log1p(aw * mw), 0 outside the window (as log1p(0))
    l1w = np.log1p(aw * mw) if l1 is None else np.where(inwin, l1[j0:, uu].T, 0.0)
    pen = ((xw + 1.0 / aw) * (np.log1p(aw * e) - l1w)).sum(axis=1)
    return np.asarray(np.maximum(sx * kap - pen, 0.0), dtype=np.float64)


def _nb_profile(
    x: FloatArray, mu: FloatArray, alpha: FloatArray, valid: npt.NDArray[np.bool_], inc: bool
) -> FloatArray:
    """The NB log LR of every window, maximised over kappa, where it can be the largest.

    x, mu: (L, U) rows of the current segment; window j is rows j..L-1; ``alpha`` > 0 where
    ``valid``. Returns (L, U) whose maximum over windows is exact; a window whose value cannot
    reach that maximum (its :func:`_nb_bound` is below the exact value of the window with the
    largest bound) is left at 0 instead of being maximised. Windows whose log LR falls away
    from kappa = 0 in the monitored direction are 0 (the maximum is at kappa = 0).
    """
    a = alpha[None, :]
    sx = _window_sums(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        g0 = sx - _window_sums((a * x + 1.0) * mu / (1.0 + a * mu))
    sign = 1.0 if inc else -1.0
    cand = valid & (sign * g0 > 0)
    cells = np.flatnonzero(cand)
    if not cells.size:
        return np.zeros(x.shape)
    ub_c, kap_c = _nb_bound(x, mu, np.where(alpha > 0, alpha, 1.0), sx, g0, cells, inc)
    return _nb_maximise(x, mu, alpha, cand, cells, ub_c, kap_c, inc)


def _nb_maximise(
    x: FloatArray,
    mu: FloatArray,
    alpha: FloatArray,
    cand: npt.NDArray[np.bool_],
    cells: npt.NDArray[np.intp],
    ub_c: FloatArray,
    kap_c: FloatArray,
    inc: bool,
    l1: FloatArray | None = None,
) -> FloatArray:
    """The exact maxima of :func:`_nb_profile`, given the candidate windows and their bounds
    (``l1``: log1p(alpha mu) of the rows, if at hand)."""
    out = np.zeros(x.shape)
    n_units = x.shape[1]
    ub = np.full(x.shape, -np.inf)
    ub.ravel()[cells] = ub_c
    kap = np.full(x.shape, np.nan)
    kap.ravel()[cells] = kap_c
    units = np.flatnonzero(cand.any(axis=0))
    best = np.argmax(ub[:, units], axis=0)
    first = _nb_exact(x, mu, alpha, best, units, inc, kap[best, units], l1)
    out[best, units] = first
    lower = np.full(n_units, np.inf)
    lower[units] = first
    ub[best, units] = -np.inf
    # a safety margin for rounding: the bound is exact when mu is constant
    jj, uu = np.nonzero(ub * (1.0 + 1e-7) + 1e-9 >= lower[None, :])
    if jj.size:
        out[jj, uu] = _nb_exact(x, mu, alpha, jj, uu, inc, kap[jj, uu], l1)
    return out


def _window_stat(
    x: FloatArray,
    mu: FloatArray,
    alpha: FloatArray,
    valid: npt.NDArray[np.bool_],
    theta: float | None,
    inc: bool,
) -> FloatArray:
    """Statistic of each window j (rows j..L-1) of a segment: (L, U); invalid windows -inf."""
    pois = alpha == 0.0
    out = np.full(x.shape, -np.inf)
    if theta is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(pois, 1.0, alpha)[None, :]
            l_nb = x * theta - (x + 1.0 / a) * np.log(
                (1.0 + a * mu * np.exp(theta)) / (1.0 + a * mu)
            )
        l_p = x * theta - mu * (np.exp(theta) - 1.0)
        ll = np.where(pois[None, :], l_p, l_nb)
        ws = _window_sums(ll)
    else:
        ws = np.zeros(x.shape)
        if pois.any():
            sx = _window_sums(x[:, pois])
            sm = _window_sums(mu[:, pois])
            with np.errstate(divide="ignore", invalid="ignore"):
                kap = np.log(sx / sm)
                kap = np.maximum(kap, 0.0) if inc else np.minimum(kap, 0.0)
                ws_p = np.where(sx > 0, sx * kap, 0.0) - sm * (np.exp(kap) - 1.0)
            ws[:, pois] = np.where(np.isfinite(ws_p), ws_p, 0.0) if inc else ws_p
        if not pois.all():
            nb = _nb_profile(x, mu, alpha, valid & ~pois[None, :], inc)
            ws = np.where(pois[None, :], ws, nb)
    out = np.where(valid, ws, -np.inf)
    return np.asarray(out, dtype=np.float64)


class _RunningWindows:
    """The window sums of :func:`_window_stat` (GLR, ``theta`` None) for the windows j..i of
    the monitored rows, kept up to date as i advances: adding row i is one pass over the
    windows, instead of forming every sum again at every row. Sums are accumulated from the
    window start on (the order differs from the reversed cumulative sums: the last bits may).
    """

    def __init__(self, xs: FloatArray, ms: FloatArray, alpha: FloatArray) -> None:
        n, n_units = xs.shape
        self.x, self.mu, self.alpha = xs, ms, alpha
        self.pois = alpha == 0.0
        a = alpha[None, :]
        c = 1.0 / np.where(alpha > 0, alpha, 1.0)[None, :]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            self.t_g = (a * xs + 1.0) * ms / (1.0 + a * ms)  # score terms at kappa = 0
            present = ms > 0.0
            self.p = np.where(present, ms / (c + ms), np.nan)
            self.wgt = np.where(present, xs + c, 0.0)
            self.wp = self.wgt * np.nan_to_num(self.p)
            self.l1 = np.log1p(a * ms)
        self.sx = np.zeros((n, n_units))
        self.sm = np.zeros((n, n_units))
        self.sg = np.zeros((n, n_units))
        self.w0 = np.zeros((n, n_units))
        self.w1 = np.zeros((n, n_units))
        self.lo = np.full((n, n_units), np.nan)
        self.hi = np.full((n, n_units), np.nan)

    def add(self, i: int) -> None:
        """Extend every window j <= i to row i (window i starts there)."""
        k = i + 1
        self.sx[:k] += self.x[i]
        self.sm[:k] += self.mu[i]
        self.sg[:k] += self.t_g[i]
        self.w0[:k] += self.wgt[i]
        self.w1[:k] += self.wp[i]
        np.fmin(self.lo[:k], self.p[i], out=self.lo[:k])
        np.fmax(self.hi[:k], self.p[i], out=self.hi[:k])

    def stat(self, i: int, valid: npt.NDArray[np.bool_], inc: bool) -> FloatArray:
        """As ``_window_stat(x[:i+1], mu[:i+1], alpha, valid, None, inc)``."""
        k = i + 1
        pois = self.pois
        ws = np.zeros((k, pois.size))
        sx = self.sx[:k]
        if pois.any():
            sm = self.sm[:k, pois]
            with np.errstate(divide="ignore", invalid="ignore"):
                kap = np.log(sx[:, pois] / sm)
                kap = np.maximum(kap, 0.0) if inc else np.minimum(kap, 0.0)
                ws_p = np.where(sx[:, pois] > 0, sx[:, pois] * kap, 0.0) - sm * (np.exp(kap) - 1.0)
            ws[:, pois] = np.where(np.isfinite(ws_p), ws_p, 0.0) if inc else ws_p
        if not pois.all():
            with np.errstate(invalid="ignore"):
                g0 = sx - self.sg[:k]
            sign = 1.0 if inc else -1.0
            cand = valid & ~pois[None, :] & (sign * g0 > 0)
            cells = np.flatnonzero(cand)
            if cells.size:
                ub_c, kap_c = _nb_bound_sums(
                    self.w0[:k].ravel()[cells],
                    self.w1[:k].ravel()[cells],
                    self.lo[:k].ravel()[cells],
                    self.hi[:k].ravel()[cells],
                    sx.ravel()[cells],
                    g0.ravel()[cells],
                    inc,
                )
                nb = _nb_maximise(
                    self.x[:k], self.mu[:k], self.alpha, cand, cells, ub_c, kap_c, inc, self.l1[:k]
                )
                ws = np.where(pois[None, :], ws, nb) if pois.any() else nb
        return np.asarray(np.where(valid, ws, -np.inf), dtype=np.float64)


def _valid_windows(length: int, seg_start: npt.NDArray[np.int64], M: int, m_tilde: int) -> Any:
    """valid[j, u]: window starting at segment row j (of rows 0..length-1, ending at length-1)."""
    j = np.arange(length)[:, None]
    end = length - 1
    ok = (j >= seg_start[None, :]) & (j <= end - m_tilde + 1)
    if M >= 0:
        ok &= j >= end - M
    return ok


def _unfittable(y: FloatArray, negbin: bool) -> npt.NDArray[np.int8]:
    """Per unit, why its in-control model cannot be fitted to the rows ``y`` (0: it can).

    No value: MISSING. With the NB dispersion estimated (``MASS::glm.nb``, where R stops with an
    error): all values zero (ALL_ZERO: the log-linear fit runs to -inf) or all equal
    (CONSTANT: the Poisson fit is exact, so the moment estimate of theta is 1/0). A Poisson fit
    of an all-zero window is not refused: R returns a mean near 0 and so do we.
    """
    have = ~np.isnan(y)
    out = np.where(have.any(axis=0), Reason.OK, Reason.MISSING).astype(np.int8)
    if negbin:
        lo = np.where(have, y, np.inf).min(axis=0)
        hi = np.where(have, y, -np.inf).max(axis=0)
        out[(out == 0) & (hi == 0.0)] = Reason.ALL_ZERO
        out[(out == 0) & (lo == hi)] = Reason.CONSTANT
    return out


def _fit_mu0(
    panel: Panel, first: int, idx: IntArray, alpha: float | None, s: int, trend: bool
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int8]]:
    """In-control means at the monitored rows, the dispersion alpha per unit, and per unit the
    reason its model could not be fitted (0 if it was; such units get NaN means and alpha).
    Only the units that can be fitted are fitted (each unit's fit is independent)."""
    n_coef = 2 * s + 1 + int(trend)
    if first < n_coef:
        raise ValueError(
            f"fitting mu0 ({n_coef} coefficients) needs at least {n_coef} rows before the first "
            f"monitored row; it is row {first}"
        )
    t = np.arange(1, panel.n_time + 1, dtype=np.float64)
    x_fit = mu0_design(t[:first], panel.freq, s, trend)
    y_all = panel.counts[:first]
    fail = _unfittable(y_all, alpha is None)
    ok = np.flatnonzero(fail == 0)
    y = y_all[:, ok]
    a = np.full(panel.n_units, np.nan)
    beta = np.full((x_fit.shape[1], panel.n_units), np.nan)
    if ok.size:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if alpha is None:
                b_ok, theta = fit_negbin(x_fit, y)
                a[ok] = 1.0 / theta
                # No NB maximum likelihood estimate (a sparse series the harmonics separate:
                # fitted means run to 0 or beyond the exponent range): NaN, reason SEPARATED.
                # R's glm.nb returns wherever its alternating iterations stop (F7 in
                # docs/validation.md).
                eta = np.abs(x_fit @ b_ok)
                runaway = ~np.all((eta < 700.0) | np.isnan(y), axis=0)
                fail[ok[runaway]] = Reason.SEPARATED
            elif alpha == 0.0:
                b_ok, _ = fit_glm_r(x_fit, y)
                a[ok] = 0.0
            else:
                b_ok, _ = fit_glm_r(x_fit, y, theta=np.full(ok.size, 1.0 / alpha))
                a[ok] = float(alpha)
        beta[:, ok] = b_ok
    broken = (fail == 0) & ~(np.all(np.isfinite(beta), axis=0) & np.isfinite(a))
    fail[broken] = Reason.NON_FINITE
    beta[:, fail != 0] = np.nan
    a[fail != 0] = np.nan
    with np.errstate(over="ignore", invalid="ignore"):
        mu = predict_r(mu0_design(t[idx], panel.freq, s, trend), beta)
    return mu, np.asarray(a, np.float64), fail


def glr(
    panel: Panel,
    *,
    c_arl: float = 5.0,
    m_tilde: int = 1,
    M: int = -1,
    change: Literal["intercept"] = "intercept",
    dir: Literal["inc", "dec"] = "inc",
    ret: Literal["value", "cases"] = "value",
    theta: float | None = None,
    mu0: npt.ArrayLike | None = None,
    alpha: float | npt.ArrayLike | None = None,
    s: int = 1,
    trend: bool = False,
    x_max: int = 10000,
    monitor: Monitor = None,
    method: str = "glr-nb",
) -> DetectionResult:
    """GLR (or LR with fixed ``theta``) detector over every column (R ``algo.glrnb``).

    Args:
        c_arl: alarm threshold for the statistic (R ``c.ARL``); alarm when statistic >= c_arl.
        m_tilde: shortest window (R ``Mtilde``); M: longest look-back, -1 = since the start or
            the last restart (R ``M``); windows start at k with n - M <= k <= n - m_tilde + 1.
        change: only ``"intercept"``. dir: ``"inc"`` (kappa >= 0) or ``"dec"`` (kappa <= 0).
        ret: ``"value"``: upperbound = the statistic; ``"cases"``: upperbound = the smallest
            count at n that would give an alarm (searched up to ``x_max``, R ``xMax``).
        theta: fixed log rate ratio for the LR CUSUM; ``None`` for the GLR.
        mu0: in-control means (one per panel row or per monitored row, optionally per unit); None:
            fitted on the rows before the first monitored row with ``s`` harmonics (R ``mu0$S``)
            and a linear trend if ``trend`` (R ``mu0$trend``), t = 1-based row.
        alpha: NB dispersion; None = estimated with mu0 by NB maximum likelihood (as
            ``MASS::glm.nb``; needs mu0=None), 0 = Poisson.
        monitor: 0-based rows, in order; default every row from ``freq`` on.

    ``score`` is the statistic; ``expected`` and ``extra["mu0"]`` the in-control mean;
    ``scalars["alpha"]`` the dispersion used. A missing count adds nothing to the windows and
    gets alarm ``NaN``.
    """
    if change != "intercept":
        raise ValueError("only change='intercept' is supported")
    if dir not in ("inc", "dec"):
        raise ValueError("dir must be 'inc' or 'dec'")
    if ret not in ("value", "cases"):
        raise ValueError("ret must be 'value' or 'cases'")
    check_number("c_arl", c_arl, lo=0.0, lo_open=True)
    check_number("m_tilde", m_tilde, lo=1, integer=True)
    check_number("M", M, lo=-1, integer=True)
    check_number("s", s, lo=0, integer=True)
    check_number("x_max", x_max, lo=1, integer=True)
    if theta is not None:
        check_number("theta", theta, lo=-_KAPPA_MAX, hi=_KAPPA_MAX)
    if panel.n_time < 2 and monitor is None:
        raise ValueError(f"{method} needs at least 2 rows; the panel has {panel.n_time}")
    if m_tilde < 1 or (M >= 0 and m_tilde - 1 > M):
        raise ValueError("need m_tilde >= 1 and M = -1 or M >= m_tilde - 1")
    idx = resolve_monitor(monitor, panel.n_time, max(min(panel.freq, panel.n_time - 1), 1))
    n_mon, n_units = idx.size, panel.n_units
    first = int(idx[0]) if n_mon else panel.n_time
    if mu0 is None:
        if alpha is not None and np.ndim(alpha) != 0:
            raise ValueError("with mu0 fitted, alpha must be None or a number")
        a_fit = None if alpha is None else check_number("alpha", float(np.asarray(alpha)), lo=0)
        mu, a_arr, unit_fail = _fit_mu0(panel, first, idx, a_fit, s, trend)
    else:
        if alpha is None:
            raise ValueError("alpha=None (estimate) needs mu0=None")
        arr = np.asarray(mu0, dtype=np.float64)
        if arr.ndim >= 1 and arr.shape[0] == panel.n_time and panel.n_time != n_mon:
            arr = arr[idx]
        mu = np.broadcast_to(arr.reshape(n_mon, -1) if arr.ndim else arr, (n_mon, n_units))
        mu = np.array(mu, dtype=np.float64)
        a_arr = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (n_units,)).copy()
        unit_fail = np.zeros(n_units, dtype=np.int8)
    if np.any(a_arr < 0) or np.any(np.isinf(a_arr)):
        raise ValueError("alpha must be >= 0 and finite")
    fitted = unit_fail == 0
    a_run = np.where(fitted, a_arr, 0.0)  # units without a model run as Poisson on no data
    inc = dir == "inc"
    y = panel.counts[idx]
    miss = np.isnan(y) | np.isnan(mu)
    xs = np.where(miss, 0.0, y)
    ms = np.where(miss, 0.0, mu)
    stat = np.zeros((n_mon, n_units))
    cases = np.full((n_mon, n_units), np.nan)
    alarm = np.zeros((n_mon, n_units))
    seg = np.zeros(n_units, dtype=np.int64)  # first row (monitored position) of each segment
    lo_all = 0
    running = _RunningWindows(xs, ms, a_run) if theta is None else None
    for i in range(n_mon):
        lo_all = int(seg.min())
        x_seg, m_seg = xs[lo_all : i + 1], ms[lo_all : i + 1]
        valid = _valid_windows(i + 1 - lo_all, seg - lo_all, M, m_tilde)
        if running is not None:
            running.add(i)
            # the windows before lo_all are invalid for every unit
            ws = running.stat(i, np.pad(valid, ((lo_all, 0), (0, 0))), inc)
        else:
            ws = _window_stat(x_seg, m_seg, a_run, valid, theta, inc)
        st = ws.max(axis=0)
        st = np.maximum(st, 0.0) if np.isfinite(st).any() else np.zeros(n_units)
        stat[i] = st
        if ret == "cases" and theta is not None and theta > 0:
            cases[i] = _cases_lr(x_seg, m_seg, a_run, valid, theta, c_arl)
        elif ret == "cases":
            cases[i] = _cases_needed(x_seg, m_seg, a_run, valid, theta, inc, c_arl, x_max)
        hit = (st >= c_arl) & ~miss[i]
        alarm[i] = hit
        seg = np.where(hit, i + 1, seg)
    alarm[miss] = np.nan
    stat[:, ~fitted] = np.nan
    cases[:, ~fitted] = np.nan
    upper = stat if ret == "value" else cases
    reason = nan_reason(np.broadcast_to(~fitted, stat.shape), y, unit_fail[None, :])
    reason[(reason == 0) & np.isnan(mu)] = Reason.NON_FINITE
    params: dict[str, Any] = {
        "c_arl": float(c_arl),
        "m_tilde": int(m_tilde),
        "M": int(M),
        "change": change,
        "dir": dir,
        "ret": ret,
        "theta": None if theta is None else float(theta),
        "mu0": None if mu0 is None else "given",
        "alpha": None if alpha is None else a_arr.tolist(),
        "s": int(s),
        "trend": bool(trend),
        "x_max": int(x_max),
        "monitor": monitor_param(idx),
    }
    return make_result(
        method,
        params,
        panel,
        idx,
        expected=mu,
        upperbound=upper,
        alarm=alarm,
        score=stat,
        extra={"mu0": mu},
        scalars={"alpha": a_arr},
        reason=reason,
    )


def _cases_needed(
    x: FloatArray,
    mu: FloatArray,
    alpha: FloatArray,
    valid: npt.NDArray[np.bool_],
    theta: float | None,
    inc: bool,
    c_arl: float,
    x_max: int,
) -> FloatArray:
    """Smallest integer count at the last row giving statistic >= c_arl (NaN if > x_max)."""
    lo = np.full(x.shape[1], -1.0)  # statistic below c_arl at lo (or lo = -1)
    hi = np.full(x.shape[1], float(x_max))

    def reaches(v: FloatArray) -> npt.NDArray[np.bool_]:
        xx = x.copy()
        xx[-1] = v
        mm = mu.copy()
        mm[-1] = np.where(mu[-1] == 0.0, np.nan, mu[-1])
        st = _window_stat(xx, np.where(np.isnan(mm), mu, mm), alpha, valid, theta, inc)
        return np.asarray(st.max(axis=0) >= c_arl)

    ok_hi = reaches(hi)
    while np.any(hi - lo > 1):
        mid = np.floor((lo + hi) / 2.0)
        r = reaches(mid)
        hi = np.where(r, mid, hi)
        lo = np.where(r, lo, mid)
    return np.where(ok_hi, hi, np.nan)


def _cases_lr(
    x: FloatArray,
    mu: FloatArray,
    alpha: FloatArray,
    valid: npt.NDArray[np.bool_],
    theta: float,
    c_arl: float,
) -> FloatArray:
    """The count at the last row at which the LR statistic (``theta`` > 0 given) reaches
    ``c_arl``, in closed form (Höhle & Paul 2008): not rounded up to a whole number of cases.

    A row's log LR is linear in its count: x theta - mu (e^theta - 1) (Poisson), or
    x (theta - L) - L / alpha with L = log((1 + alpha mu e^theta) / (1 + alpha mu)) (NB; the
    slope theta - L is positive for theta > 0). Every window ends at the last row, so the
    statistic is (largest sum of the other rows over the valid windows) + the last row's term,
    and the count solves that = ``c_arl``. NaN without a valid window or a mean.
    """
    prev = x.copy()
    prev[-1] = 0.0
    m_prev = mu.copy()
    m_prev[-1] = 0.0
    rest = _window_stat(prev, m_prev, alpha, valid, theta, True).max(axis=0)
    m_n = mu[-1]
    pois = alpha == 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = np.where(pois, 1.0, alpha)
        am = a * m_n
        big_l = np.log1p(am * np.expm1(theta) / (1.0 + am))  # log((1 + am e^th) / (1 + am))
        slope = np.where(pois, theta, theta - big_l)
        const = np.where(pois, -m_n * np.expm1(theta), -big_l / a)
        out = (c_arl - rest - const) / slope
    return np.asarray(np.where(np.isfinite(rest) & (m_n > 0), out, np.nan), dtype=np.float64)
