"""The compiled IRLS of Farrington's quasi-Poisson fits (numba), one problem at a time.

Every Farrington design is an intercept (column 0), at most one general column (the time
trend, ``tcol``) and indicator columns of a factor with disjoint supports (Noufaily's seasonal
levels; none in the classic method). X'WX is then an arrow matrix: the intercept and time rows
border the diagonal block of the indicators. An observation only needs its factor column
(0: the reference level) and its time ``t``, so one pass over a problem's observations (kept
in level order) per iteration computes the linear predictor, the means, the Poisson deviance
and the terms of the next X'WX and X'Wz; their sums per level (sum ww, ww t, ww z) and over
all (sum ww t^2, ww z t) make the system, solved through the Schur complement of the diagonal
block (a closed form for the remaining 1 x 1 or 2 x 2 block). The iteration is R's
``glm.fit`` (start ``mu = y + 0.1``, stop when ``|dev - dev_old| / (|dev| + 0.1) < tol`` or
after ``max_iter`` iterations), as :func:`ruralwatch.epi.irls.irls` does it for the other
fits. Farrington's reweighting (Anscombe residuals of a first fit, then a second fit) runs
inside the kernel too.

Per problem the kernel reports: stopped (converged, or failed: a non-finite coefficient,
deviance or X'WX, or a mean of 0 or inf on a used observation), or ``fallback`` when a
reduced block is singular (the caller fits that problem with the general LU / least-squares
path). The other problems never depend on it.

The module imports numba only when :func:`kernel` is first called (the command line and every
other method never load it). The compiled code is cached in ``NUMBA_CACHE_DIR`` when it is set,
else beside this file (``__pycache__``), else in numba's user cache directory; without any
writable place it is compiled in memory at the first call of each process (about 7 s).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

__all__ = [
    "aliased",
    "anscombe_weights",
    "cbrt",
    "exp_into",
    "finish_one",
    "irls_one",
    "kernel",
    "level_sums",
    "obs_terms",
    "solve_arrow",
]

# The reduced block [[p, q], [q, s]] counts as singular when p <= this * A_00, s <= this * A_tt
# or p s - q^2 <= this * |p s|.
_SINGULAR = 1e-12


def solve_arrow(
    S: FloatArray,
    s2: float,
    r1: float,
    fix: FloatArray,
    tcol: int,
    m0: FloatArray,
    m1: FloatArray,
    dinv: FloatArray,
    x: FloatArray,
    red: FloatArray,
) -> int:
    """Solve the arrow system of one problem from its per-level sums.

    ``S`` (3, K): per factor column c (0: the reference level) the sums of the working weights
    ww, of ww t and of ww z over its observations; ``s2``, ``r1``: sum ww t^2 and ww z t over
    all. ``fix[c]`` is 1 on the diagonal of an aliased column (else 0). The system is
    X'WX x = X'Wz with the columns (intercept, time at ``tcol`` or none, indicators).
    Writes ``x``; keeps A_RJ D^-1 (``m0``, ``m1``), D^-1 (``dinv``) and the reduced block
    ``red`` = (p, q, s, det) for :func:`_inverse`. Returns 0 (solved), 1 (not finite: ``x`` is
    NaN) or 2 (the reduced block is singular: ``x`` is not usable).
    """
    K = fix.shape[0]
    # The intercept's row of the Schur complement without its cancellation: an indicator
    # level's sums enter A_00 (a0) and leave again as a0^2 / (a0 + fix) = a0 - a0 fix / (a0 +
    # fix), so p = fix_0 + S_0(reference level) + sum a0 fix / (a0 + fix), and the same for
    # q and the right-hand side (a difference of the large totals lost the small reference
    # level's digits, and with them its leverage of 1).
    a00 = fix[0] + S[0, 0]
    att = s2 if tcol < 0 else s2 + fix[tcol]
    p = a00
    q = S[1, 0]
    s = att
    c0 = S[2, 0]
    c1 = r1
    for c in range(1, K):
        if c == tcol:
            continue
        a0 = S[0, c]
        a1 = S[1, c]
        b = S[2, c]
        a00 += a0
        di = 1.0 / (a0 + fix[c])
        dinv[c] = di
        m0[c] = a0 * di
        m1[c] = a1 * di
        rest = fix[c] * di  # 1 - m0: 0 for a level with data, 1 for an aliased one
        p += a0 * rest
        q += a1 * rest
        c0 += b * rest
        s -= m1[c] * a1
        c1 -= m1[c] * b
    det = p * s - q * q if tcol >= 0 else p
    red[0] = p
    red[1] = q
    red[2] = s
    red[3] = det
    finite = math.isfinite(det) and math.isfinite(c0) and math.isfinite(c1)
    for c in range(1, K):
        if c != tcol and not (math.isfinite(dinv[c]) and math.isfinite(m1[c])):
            finite = False
    if not finite:
        for c in range(K):
            x[c] = math.nan
        return 1
    # Singular: a reduced diagonal that cancels to rounding against the unreduced one (a
    # column aliased with others: the intercept with the indicators of a problem without the
    # reference level), or a reduced 2 x 2 block without an inverse.
    if not p > _SINGULAR * a00:
        return 2
    if tcol >= 0:
        if not (s > _SINGULAR * att and det > _SINGULAR * abs(p * s)):
            return 2
        x0 = (s * c0 - q * c1) / det
        x1 = (p * c1 - q * c0) / det
        x[tcol] = x1
    else:
        x0 = (1.0 / p) * c0
        x1 = 0.0
    x[0] = x0
    for c in range(1, K):
        if c != tcol:
            x[c] = S[2, c] * dinv[c] - m0[c] * x0 - m1[c] * x1
    return 0


def _inverse(
    red: FloatArray,
    m0: FloatArray,
    m1: FloatArray,
    dinv: FloatArray,
    tcol: int,
    fix: FloatArray,
    out: FloatArray,
) -> None:
    """(X'WX)^-1 into ``out`` (K, K) from the parts :func:`solve_arrow` kept, by blocks: the
    inverse S^-1 of the reduced block, C_RJ = -S^-1 A_RJ D^-1 and C_JJ = D^-1 - (A_RJ D^-1)'
    C_RJ; rows and columns of aliased columns are 0."""
    K = fix.shape[0]
    p, q, s, det = red[0], red[1], red[2], red[3]
    if tcol >= 0:
        i00 = s / det
        i01 = -q / det
        i11 = p / det
    else:
        i00 = 1.0 / p
        i01 = 0.0
        i11 = 0.0
    out[0, 0] = i00
    if tcol >= 0:
        out[0, tcol] = i01
        out[tcol, 0] = i01
        out[tcol, tcol] = i11
    for c in range(1, K):
        if c == tcol:
            continue
        c0j = -(i00 * m0[c] + i01 * m1[c])
        out[0, c] = c0j
        out[c, 0] = c0j
        if tcol >= 0:
            ctj = -(i01 * m0[c] + i11 * m1[c])
            out[tcol, c] = ctj
            out[c, tcol] = ctj
    for c in range(1, K):
        if c == tcol:
            continue
        for k in range(1, K):
            if k == tcol:
                continue
            v = -(m0[c] * out[0, k])
            if tcol >= 0:
                v -= m1[c] * out[tcol, k]
            if k == c:
                v += dinv[c]
            out[c, k] = v
    for a in range(K):
        for b in range(K):
            if fix[a] != 0.0 or fix[b] != 0.0:
                out[a, b] = 0.0


# exp(x) for |x| <= 709: x = k ln 2 + r (|r| <= ln 2 / 2; ln 2 split in two so that k ln2_hi is
# exact), e^r by its Taylor polynomial to degree 13 (truncation below 1e-17 relative), times
# 2^k made from its bits in two halves (2^k itself may be subnormal). fdlibm's split of ln 2.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_EXP_MAX = 709.782712893384  # exp above: inf
_EXP_MIN = -745.1332191019412  # exp below: 0
_INV_FACT = (
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362880.0,
    1.0 / 3628800.0,
    1.0 / 39916800.0,
    1.0 / 479001600.0,
    1.0 / 6227020800.0,
)


def exp_into(x: FloatArray, out: FloatArray, n: int, scale: IntArray) -> None:
    """``out[:n] = exp(x[:n])`` to within an ulp or so (NaN stays NaN, overflow gives inf,
    underflow 0), with no call in the loops, so the compiler can run them on vectors (a
    library ``exp`` per element cost four times as much). ``scale`` (2 n) is scratch."""
    c = _INV_FACT
    for j in range(n):
        v = x[j]
        vc = min(max(v, -746.0), 710.0)
        k = math.floor(vc * _LOG2E + 0.5)
        r = (vc - k * _LN2_HI) - k * _LN2_LO
        pl = c[13]
        pl = pl * r + c[12]
        pl = pl * r + c[11]
        pl = pl * r + c[10]
        pl = pl * r + c[9]
        pl = pl * r + c[8]
        pl = pl * r + c[7]
        pl = pl * r + c[6]
        pl = pl * r + c[5]
        pl = pl * r + c[4]
        pl = pl * r + c[3]
        pl = pl * r + c[2]
        pl = pl * r + c[1]
        pl = pl * r + c[0]
        ki = np.int64(k)
        k1 = ki >> 1
        scale[2 * j] = (k1 + 1023) << 52
        scale[2 * j + 1] = (ki - k1 + 1023) << 52
        out[j] = pl
    bits = scale.view(np.float64)
    for j in range(n):
        v = x[j]
        e = out[j] * bits[2 * j] * bits[2 * j + 1]
        e = math.inf if v > _EXP_MAX else e
        e = 0.0 if v < _EXP_MIN else e
        out[j] = v if v != v else e


def obs_terms(
    ws: FloatArray,
    ys: FloatArray,
    ly: FloatArray,
    ts: FloatArray,
    os: FloatArray,
    eta: FloatArray,
    mu: FloatArray,
    n: int,
    terms: FloatArray,
    tot: FloatArray,
) -> bool:
    """Per observation j < n the terms of X'WX and X'Wz that differ between factor levels,
    ``terms`` (3, N): ww, ww t and ww z (ww = w mu, ww z = ww (eta - offset) + w (y - mu));
    in ``tot`` the sums that do not: sum ww t^2, ww z t and the Poisson deviance / 2,
    sum w (y (log y - eta) - (y - mu)) (``ly`` = log y, 0 for y = 0: R's y log(y / mu) term
    per observation, not a difference of large sums, which loses the digits R's stopping rule
    needs when the counts are large). False when a used
    observation has a mean outside (0, inf). (Compiled with reassociation allowed, so that the
    loop runs on vectors; the sums are then added in another order than a plain loop's, which
    changes the last bits only.)"""
    s2 = 0.0
    r1 = 0.0
    dv = 0.0
    bad = 0
    for j in range(n):
        wi = ws[j]
        m = mu[j]
        ti = ts[j]
        e = eta[j]
        ww = wi * m
        wt = ww * ti
        wz = ww * (e - os[j]) + wi * (ys[j] - m)
        terms[0, j] = ww
        terms[1, j] = wt
        terms[2, j] = wz
        s2 += wt * ti
        r1 += wz * ti
        yi = ys[j]
        dv += wi * (yi * (ly[j] - e) - (yi - m))
        bad |= int(wi > 0.0) & (1 - int((m > 0.0) & (m < math.inf)))
    tot[0] = s2
    tot[1] = r1
    tot[2] = dv
    return bad == 0


def level_sums(terms: FloatArray, seg: IntArray, S: FloatArray) -> None:
    """``S[a, c]`` = the sum of ``terms[a]`` over the rows of level c (``seg[c]:seg[c + 1]``),
    for a = 0, 1, 2 (sum ww, ww t, ww z)."""
    for c in range(S.shape[1]):
        s0 = 0.0
        s1 = 0.0
        r0 = 0.0
        for j in range(seg[c], seg[c + 1]):
            s0 += terms[0, j]
            s1 += terms[1, j]
            r0 += terms[2, j]
        S[0, c] = s0
        S[1, c] = s1
        S[2, c] = r0


def irls_one(
    ws: FloatArray,
    ys: FloatArray,
    ts: FloatArray,
    os: FloatArray,
    ly: FloatArray,
    ls: FloatArray,
    st: FloatArray,
    lv: IntArray,
    nin: int,
    seg: IntArray,
    tcol: int,
    fix: FloatArray,
    tol: float,
    max_iter: int,
    base: FloatArray,
    work: FloatArray,
    scale: IntArray,
    terms: FloatArray,
    S: FloatArray,
    tot: FloatArray,
    parts: FloatArray,
    beta: FloatArray,
    status: IntArray,
) -> None:
    """R's IRLS for one problem whose observations (in level order, ``nin`` of them) are
    ``ws`` (prior weights), ``ys``, ``ts``, ``os`` (offsets, 0 for none) and ``lv`` (the
    factor column of each), with ``ly`` = log y (0 for 0), ``ls`` = log(y + 0.1) and ``st``
    the start's deviance terms y log(y / mu0) - (y - mu0).

    Leaves the coefficients in ``beta``; in ``work`` (4, N): the linear predictor, the last
    means (row 2) and the means that made the last working weights (row 1, the start's y + 0.1
    after one iteration), and scratch (row 3); in ``parts`` (4, K): A_RJ D^-1 (rows 0, 1), D^-1
    (row 2) and the reduced block (row 3) of the last system, for :func:`_inverse`.
    ``status``: iterations, converged (0/1), failed (0/1), fallback (0/1: the reduced block was
    singular; nothing else is usable)."""
    K = fix.shape[0]
    eta = work[0]
    mu_cur = work[1]
    mu_new = work[2]
    m0 = parts[0]
    m1 = parts[1]
    dinv = parts[2]
    red = parts[3]
    per_level = tcol < 0
    for j in range(nin):
        if os[j] != 0.0:
            per_level = False
    dev = 0.0
    for j in range(nin):
        wi = ws[j]
        yi = ys[j]
        dev += wi * st[j]
        eta[j] = ls[j]
        mu_cur[j] = yi + 0.1
    dev = 2.0 * dev
    for c in range(K):
        m0[c] = 0.0
        m1[c] = 0.0
        dinv[c] = 0.0
    obs_terms(ws, ys, ly, ts, os, eta, mu_cur, nin, terms, tot)
    level_sums(terms, seg, S)
    it = 0
    state = 0  # 0 iterating, 1 stopped, 2 fallback
    ok_crit = False
    bad = False
    while state == 0:
        it += 1
        solved = solve_arrow(S, tot[0], tot[1], fix, tcol, m0, m1, dinv, beta, red)
        if solved == 2:
            state = 2
            break
        # The new linear predictor and means, then the deviance and the sums of the next
        # system.
        bt = beta[tcol] if tcol >= 0 else 0.0
        base[0] = beta[0]
        for c in range(1, K):
            base[c] = beta[0] + beta[c]
        if per_level:
            for c in range(K):
                lo = seg[c]
                hi = seg[c + 1]
                em = math.exp(base[c])
                for j in range(lo, hi):
                    eta[j] = base[c]
                    mu_new[j] = em
        else:
            for j in range(nin):
                eta[j] = (base[lv[j]] + bt * ts[j]) + os[j]
            exp_into(eta, mu_new, nin, scale)
        means_ok = obs_terms(ws, ys, ly, ts, os, eta, mu_new, nin, terms, tot)
        level_sums(terms, seg, S)
        dev_new = 2.0 * tot[2]
        bad = solved == 1 or not math.isfinite(dev_new) or not means_ok
        for c in range(K):
            if not math.isfinite(beta[c]):
                bad = True
        ok_crit = (not bad) and abs(dev_new - dev) / (abs(dev_new) + 0.1) < tol
        if ok_crit or bad or it >= max_iter:
            state = 1
        else:
            # X'WX of the new weights must be finite to go on (else the problem fails here).
            if not math.isfinite(tot[0]):
                bad = True
            for c in range(K):
                if not (math.isfinite(S[0, c]) and math.isfinite(S[1, c])):
                    bad = True
            if bad:
                state = 1
        dev = dev_new
        if state == 0:
            for j in range(nin):
                mu_cur[j] = mu_new[j]
    status[0] = it
    status[1] = 1 if ok_crit else 0
    status[2] = 1 if bad else 0
    status[3] = 1 if state == 2 else 0


def finish_one(
    ws: FloatArray,
    ys: FloatArray,
    ts: FloatArray,
    nin: int,
    seg: IntArray,
    tcol: int,
    fix: FloatArray,
    work: FloatArray,
    parts: FloatArray,
    beta: FloatArray,
    leverages: bool,
    cov: FloatArray,
    hat: FloatArray,
    disp: FloatArray,
) -> bool:
    """After :func:`irls_one`: the unscaled covariance ``cov`` (K, K) from the last working
    weights, the leverages ``hat`` (in level order, 0 where unused; if ``leverages``) and
    ``disp``: Pearson, working and prior-weighted working dispersion, residual degrees of
    freedom. False when the coefficients or the covariance are not finite."""
    K = fix.shape[0]
    mu_cur = work[1]
    mu_new = work[2]
    _inverse(parts[3], parts[0], parts[1], parts[2], tcol, fix, cov)
    ok = True
    for a in range(K):
        if not math.isfinite(beta[a]):
            ok = False
        for b in range(K):
            if not math.isfinite(cov[a, b]):
                ok = False
    n_used = 0
    pearson = 0.0
    working = 0.0
    prior = 0.0
    for c in range(K):
        for j in range(seg[c], seg[c + 1]):
            wi = ws[j]
            if wi == 0.0:
                hat[j] = 0.0
                continue
            m = mu_new[j]
            n_used += 1
            ww = wi * mu_cur[j]
            r = ys[j] - m
            r2 = r * r / m
            pearson += wi * r2
            r2 = r2 / m
            working += ww * r2
            prior += wi * r2
            if leverages:
                ti = ts[j]
                quad = cov[0, 0]
                if tcol >= 0:
                    quad += 2.0 * ti * cov[0, tcol] + ti * ti * cov[tcol, tcol]
                if c > 0:
                    quad += cov[c, c] + 2.0 * cov[0, c]
                    if tcol >= 0:
                        quad += 2.0 * ti * cov[tcol, c]
                hat[j] = quad * ww
    rank = 0
    for c in range(K):
        if fix[c] == 0.0:
            rank += 1
    df = float(n_used - rank)
    disp[3] = df
    if df > 0:
        disp[0] = pearson / df
        disp[1] = working / df
        disp[2] = prior / df
    else:
        disp[0] = math.nan
        disp[1] = math.nan
        disp[2] = math.nan
    return ok


def cbrt(x: float) -> float:
    """The cube root of x >= 0 (NaN stays NaN): x^(1/3) refined by one Newton step, within an
    ulp for x from 1e-300 to 1e300 (outside, the power alone: a few ulps). (numba's
    ``np.cbrt`` is a power with a rounded 1/3, several ulps off for large x; numpy's own cube
    root is not available inside compiled code.)"""
    c = math.pow(x, 1.0 / 3.0)
    if c > 1e-100 and c < 1e100:  # c^3 a normal number: the step refines (else it would not)
        c -= (c * c * c - x) / (3.0 * c * c)
    return c


def anscombe_weights(
    ws: FloatArray,
    ys: FloatArray,
    mu: FloatArray,
    hat: FloatArray,
    phi_working: float,
    threshold: float,
    nin: int,
    out: FloatArray,
) -> None:
    """Farrington's reweighting of one problem (level order): 1 / s^2 where the standardised
    Anscombe residual s = 1.5 (y^(2/3) mu^(-1/6) - mu^(1/2)) / sqrt(phi (1 - h)) exceeds
    ``threshold``, else 1 (0 where unused), scaled to sum to the number of used observations;
    phi = max(1, the working dispersion). The residual is computed only where the bound
    (y - mu) / sqrt(mu phi (1 - h)) can pass the threshold (tests/epi/detect/
    test_farrington_helpers.py compares the weights with the formula applied everywhere)."""
    phi = max(phi_working, 1.0) if phi_working == phi_working else 1.0
    lim = 0.999 * threshold * threshold
    n = 0
    total = 0.0
    for j in range(nin):
        if not ws[j] > 0.0:
            out[j] = 0.0
            continue
        n += 1
        raw = 1.0
        y = ys[j]
        m = mu[j]
        if y > m * (1.0 - 1e-6):
            room = 1.0 - hat[j]
            near = True
            if threshold > 0.0:
                d = y - m
                near = (d > 0.0 and d * d > lim * m * phi * room) or room < 1e-6
            # A leverage of 1 (or above, by rounding): the point has a parameter of its own
            # and is fitted exactly; its residual is 0 / 0, not an outlier (weight 1).
            if near and room > 0.0:
                root = math.sqrt(m)
                a = 1.5 * (cbrt(y * y) / cbrt(root) - root)
                s = a / math.sqrt(phi * (1.0 - hat[j]))
                if s > threshold:
                    raw = 1.0 / (s * s)
        out[j] = raw
        total += raw
    gamma = n / total if total != 0.0 else math.nan
    for j in range(nin):
        v = out[j] * gamma
        out[j] = v if v > 0.0 else 0.0  # a weight that is not positive (NaN: no data) is unused


def aliased(ws: FloatArray, ts: FloatArray, seg: IntArray, tcol: int, fix: FloatArray) -> None:
    """``fix[c]`` = 1 for the aliased columns of one problem (coefficient 0, 1 on the diagonal
    of X'WX, not a parameter): no used observation (weight > 0) where the column is not 0;
    else 0. ``seg`` as in :func:`fit_factor`, the observations in level order."""
    K = fix.shape[0]
    n_used = 0
    n_time = 0
    for j in range(seg[K]):
        if ws[j] > 0.0:
            n_used += 1
            if ts[j] != 0.0:
                n_time += 1
    fix[0] = 0.0 if n_used > 0 else 1.0
    if tcol >= 0:
        fix[tcol] = 0.0 if n_time > 0 else 1.0
    for c in range(1, K):
        if c != tcol:
            fix[c] = 1.0
            for j in range(seg[c], seg[c + 1]):
                if ws[j] > 0.0:
                    fix[c] = 0.0
                    break


def _count_term(y: float, table: FloatArray, which: int) -> float:
    """log y (``which`` 0; 0 for y = 0), log(y + 0.1) (1) or the start's deviance term
    y log(y / (y + 0.1)) - (y - (y + 0.1)) (2), from ``table`` (3, M) for a whole count below
    M (the values numpy gives, see ``CountTables``), else computed."""
    if y >= 0.0 and y < table.shape[1] and y == math.floor(y):
        return float(table[which, int(y)])
    if which == 0:
        return math.log(y) if y > 0.0 else 0.0
    m = y + 0.1
    if which == 1:
        return math.log(m)
    return (y * math.log(y / m) if y > 0.0 else 0.0) - (y - m)


def fit_factor(
    y: FloatArray,
    w: FloatArray,
    off: FloatArray,
    table: FloatArray,
    t: FloatArray,
    perm: IntArray,
    seg: IntArray,
    tcol: int,
    U: int,
    K: int,
    tol: float,
    max_iter: int,
    leverages: bool,
    reweight: float,
    coef: FloatArray,
    cov: FloatArray,
    mu_out: FloatArray,
    hat: FloatArray,
    disp: FloatArray,
    flags: IntArray,
) -> None:
    """Fit every problem p (group p // U) of a batch; see the module docstring.

    Inputs: ``y``, ``w`` (P, N) counts and prior weights (an observation is used where its
    weight is positive; elsewhere its count and offset are taken as 0); ``off`` (P, N)
    offsets or (0, 0) for none; ``table`` (3, M) log y,
    log(y + 0.1) and the start's deviance term of the whole counts below M (see
    :func:`_count_term`); ``t`` (G, N) the time of each row; ``perm`` (G, N) the rows of each
    group ordered by factor column, those outside the design last; ``seg`` (G, K + 1): the
    rows of column c's level (0: the reference level) are ``perm[seg[c]:seg[c + 1]]``,
    ``seg[K]`` rows are in the design (K columns). A column without a used observation where
    it is not 0 is aliased (coefficient 0, not a parameter). ``reweight`` > 0:
    fit, reweight by Farrington's Anscombe residuals with that threshold
    (:func:`anscombe_weights`) and fit again; the results are the second fit's, converged
    only if both converged and failed if either failed.
    Outputs (for every problem not marked fallback): ``coef`` (P, K), ``cov`` (P, K, K) the
    unscaled covariance from the last working weights, ``mu_out`` (P, N), ``hat`` (P, N) (if
    ``leverages``), ``disp`` (P, 4): Pearson, working, prior-weighted working dispersion and
    the residual degrees of freedom; ``flags`` (P, 3): converged, failed, fallback.
    """
    P, N = y.shape
    has_off = off.shape[0] > 0
    fx = np.zeros(K)
    S = np.zeros((3, K))
    terms = np.zeros((3, N))
    tot = np.zeros(3)
    parts = np.zeros((4, K))
    beta = np.zeros(K)
    status = np.zeros(4, dtype=np.int64)
    obs = np.zeros((8, N))
    ys = obs[0]
    ws = obs[1]
    ts = obs[2]
    os = obs[3]
    ly = obs[4]
    ls = obs[5]
    st = obs[6]
    hs = obs[7]
    w2 = np.empty(N)
    lv = np.zeros(N, dtype=np.int64)
    base = np.zeros(K)
    work = np.empty((4, N))
    scale = np.empty(2 * N, dtype=np.int64)
    for pr in range(P):
        g = pr // U
        sg = seg[g]
        nin = sg[K]
        for c in range(K):
            for j in range(sg[c], sg[c + 1]):
                lv[j] = c
        for j in range(nin):
            i = perm[g, j]
            wi = w[pr, i]
            used = wi > 0.0
            yi = y[pr, i] if used else 0.0
            ys[j] = yi
            ws[j] = wi if used else 0.0
            ts[j] = t[g, i]
            if has_off:
                os[j] = off[pr, i] if used else 0.0
            ly[j] = _count_term(yi, table, 0)
            ls[j] = _count_term(yi, table, 1)
            st[j] = _count_term(yi, table, 2)
        aliased(ws, ts, sg, tcol, fx)
        irls_one(
            ws,
            ys,
            ts,
            os,
            ly,
            ls,
            st,
            lv,
            nin,
            sg,
            tcol,
            fx,
            tol,
            max_iter,
            base,
            work,
            scale,
            terms,
            S,
            tot,
            parts,
            beta,
            status,
        )
        weights = ws
        conv = status[1] == 1
        bad = status[2] == 1
        if reweight > 0.0 and status[3] == 0:
            ok = finish_one(
                ws, ys, ts, nin, sg, tcol, fx, work, parts, beta, True, cov[pr], hs, disp[pr]
            )
            anscombe_weights(ws, ys, work[2], hs, disp[pr, 1], reweight, nin, w2)
            weights = w2
            aliased(w2, ts, sg, tcol, fx)  # a weight of 0 can empty a level
            conv = conv and ok
            bad = bad or not ok
            irls_one(
                w2,
                ys,
                ts,
                os,
                ly,
                ls,
                st,
                lv,
                nin,
                sg,
                tcol,
                fx,
                tol,
                max_iter,
                base,
                work,
                scale,
                terms,
                S,
                tot,
                parts,
                beta,
                status,
            )
            conv = conv and status[1] == 1
            bad = bad or status[2] == 1
        if status[3] == 1:
            flags[pr, 2] = 1
            continue
        ok = finish_one(
            weights,
            ys,
            ts,
            nin,
            sg,
            tcol,
            fx,
            work,
            parts,
            beta,
            leverages,
            cov[pr],
            hs,
            disp[pr],
        )
        bad = bad or not ok
        flags[pr, 0] = 1 if conv and not bad else 0
        flags[pr, 1] = 1 if bad else 0
        flags[pr, 2] = 0
        for c in range(K):
            coef[pr, c] = beta[c]
        mu_new = work[2]
        for j in range(nin):
            i = perm[g, j]
            mu_out[pr, i] = mu_new[j]
            if leverages:
                hat[pr, i] = hs[j]
        # rows outside the design (never used, their offset taken as 0): exp(0), as a zero row
        # of X gives
        for j in range(nin, N):
            i = perm[g, j]
            mu_out[pr, i] = 1.0
            if leverages:
                hat[pr, i] = 0.0


_KERNEL: list[Callable[..., None]] = []
_KERNEL_LOCK = threading.Lock()  # the blocks' threads may ask for it at once


def _jit(fn: Callable[..., Any], numba: Any, **flags: Any) -> Callable[..., Any]:
    """``fn`` compiled without the GIL, with numpy's floating-point semantics (a division by
    zero gives inf or NaN, as the numpy code did, instead of raising), cached on disk where
    some cache directory is writable (numba raises at decoration when none is: then compiled
    in memory)."""
    try:
        out: Callable[..., Any] = numba.njit(cache=True, nogil=True, error_model="numpy", **flags)(
            fn
        )
    except RuntimeError:  # no writable cache location
        out = numba.njit(cache=False, nogil=True, error_model="numpy", **flags)(fn)
    return out


def kernel() -> Callable[..., None]:
    """The compiled :func:`fit_factor` (compiled, or loaded from the cache, at the first call
    in a process)."""
    with _KERNEL_LOCK:
        if not _KERNEL:
            _load()
    return _KERNEL[0]


def _load() -> None:
    """Make the compiled kernel and its callees (compiled at their first call, or loaded from
    the cache). The callees go into this module's globals: the kernel's compilation resolves
    them there as compiled functions."""
    import numba  # heavy (about 0.6 s): only here

    glb = globals()
    glb["solve_arrow"] = _jit(solve_arrow, numba)
    glb["_inverse"] = _jit(_inverse, numba)
    glb["exp_into"] = _jit(exp_into, numba, fastmath={"contract"})
    glb["obs_terms"] = _jit(obs_terms, numba, fastmath={"reassoc"})
    glb["level_sums"] = _jit(level_sums, numba)
    glb["_count_term"] = _jit(_count_term, numba)
    glb["aliased"] = _jit(aliased, numba)
    glb["irls_one"] = _jit(irls_one, numba)
    glb["finish_one"] = _jit(finish_one, numba)
    glb["cbrt"] = _jit(cbrt, numba)
    glb["anscombe_weights"] = _jit(anscombe_weights, numba)
    _KERNEL.append(_jit(fit_factor, numba))
