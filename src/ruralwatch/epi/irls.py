"""One IRLS for every log-link GLM fit of the numerical core (Poisson, negative binomial).

:func:`irls` is the iteration: Fisher scoring for ``log E[y] = offset + X beta`` with prior
weights, batched over many problems (units, or unit × time point in Farrington), each problem
stopping on its own. What differs between the fits that use it is a parameter:

* the family: Poisson, or NB(theta) with theta known per problem (:class:`Family`);
* the start: means (``mu0``: R's ``y + 0.1``, growth's ``y + 0.5`` …) or coefficients
  (``beta0``);
* the stopping rule (:class:`Control`): the relative change of the deviance as R's
  ``glm.control`` (``|dev - dev_old| / (|dev| + 0.1) < tol``) or the change of the coefficients
  (``max |d beta| <= tol (1 + max |beta|)``), at most ``max_iter`` iterations; optionally R's
  floor on the means (``max(exp(eta), eps)``) and step halving while the deviance is not
  finite, or a clip of the linear predictor;
* a ridge on the diagonal of X'WX (1 pins an unusable or aliased column at 0);
* the strategy that forms and solves X'WX (a :class:`Solver`): :class:`SharedDesign` (one
  design for every problem, X'WX of all problems as one matrix product) and
  :class:`OwnDesign` (one design per problem). The stopped problems are dropped after every
  iteration (:meth:`Solver.narrow`). (Farrington's fits run the same iteration in a compiled
  kernel, ``detect/_farrington_kernel.py``.)

A problem whose iterate is not usable (non-finite coefficients, deviance or X'WX; with
``Solver.check_means`` a mean of 0 or inf on a used observation) stops as failed; the other
problems of the batch are not affected. Layout: problems are rows, ``y`` is (problems,
observations), coefficients (problems, covariates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from ruralwatch.epi.linalg import solve_each

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

__all__ = [
    "Control",
    "Family",
    "Hints",
    "IrlsFit",
    "OwnDesign",
    "SharedDesign",
    "Solver",
    "Weighed",
    "irls",
    "weighted_gram",
]


@dataclass(frozen=True)
class Family:
    """Poisson (``theta`` None) or negative binomial with variance mu + mu^2 / theta, theta
    known per problem (``theta`` (problems,)); log link."""

    theta: FloatArray | None = None


POISSON = Family()


def _weights(w: FloatArray, mu: FloatArray, th: FloatArray | None) -> FloatArray:
    """Working weights of the log link: w mu^2 / V(mu)."""
    if th is None:
        return np.asarray(w * mu, dtype=np.float64)
    return np.asarray((mu / (1.0 + mu / th[:, None])) * w, dtype=np.float64)


def _deviance(y: FloatArray, mu: FloatArray, w: FloatArray, th: FloatArray | None) -> FloatArray:
    """The family's deviance per problem (R's ``dev.resids`` summed with the prior weights)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if th is None:
            term = np.where(y > 0, y * np.log(y / mu), 0.0) - (y - mu)
        else:
            t = th[:, None]
            term = np.where(y > 0, y * np.log(y / mu), 0.0) - (y + t) * np.log((y + t) / (mu + t))
    return np.asarray(2.0 * np.sum(w * term, axis=-1), dtype=np.float64)


@dataclass(frozen=True)
class Control:
    """Stopping rule and safeguards.

    ``rule``: "deviance" (R's ``glm.control``: stop when ``|dev - dev_old| / (|dev| + 0.1) <
    tol``) or "coef" (stop when ``max |beta - beta_old| <= tol (1 + max |beta|)``; no deviance
    is computed). ``mu_floor``: means are ``max(exp(eta), mu_floor)`` (R's log link uses eps).
    ``eta_clip``: the linear predictor is clipped to +-eta_clip before the exponential.
    ``halving``: while a problem's deviance is not finite its step is halved back towards the
    previous coefficients (as R's ``glm.fit``, at most ``max_iter`` times).
    """

    rule: Literal["deviance", "coef"] = "deviance"
    tol: float = 1e-8
    max_iter: int = 25
    mu_floor: float | None = None
    eta_clip: float | None = None
    halving: bool = False


@dataclass(frozen=True)
class Hints:
    """What a caller already has of the start: ``eta`` = log(mu0), ``dev`` the start's
    deviance. Each must equal what :func:`irls` would compute (to rounding)."""

    eta: FloatArray | None = None
    dev: FloatArray | None = None


@dataclass(frozen=True)
class IrlsFit:
    """The result of :func:`irls`, one row per problem.

    Attributes:
        coef: (P, K) coefficients where the problem stopped (NaN possible where it failed).
        mu: (P, N) the means of ``coef``.
        ww_last: (P, N) the working weights of the last iteration (those that gave ``coef``;
            R's ``fit$weights``, from which its covariance comes).
        dev: (P,) deviance at ``coef`` (NaN with the "coef" rule).
        converged: (P,) the stopping rule was met.
        failed: (P,) the iterate became unusable (see the module docstring).
        iterations: (P,) iterations done.
    """

    coef: FloatArray
    mu: FloatArray
    ww_last: FloatArray
    dev: FloatArray
    converged: BoolArray
    failed: BoolArray
    iterations: IntArray


class Weighed(Protocol):
    """X'WX of the current problems for one set of working weights, in a solver's form."""

    def solve(self, rhs: FloatArray) -> FloatArray:
        """beta with X'WX beta = rhs, (P, K); NaN rows where the system is not finite."""
        ...

    def rhs(self, z: FloatArray) -> FloatArray:
        """X'W z for a working response z (P, N)."""
        ...


class Solver(Protocol):
    """How X'WX is formed and solved for a batch of problems (the strategy of :func:`irls`).

    :meth:`narrow` is called after every iteration where some problems stopped, to drop them.
    ``check_means``: a mean of 0 or non-finite on a used observation fails the problem.
    """

    p: int
    check_means: bool

    def weigh(self, ww: FloatArray) -> Weighed: ...

    def mean(
        self, beta: FloatArray, off: FloatArray | None, clip: float | None
    ) -> tuple[FloatArray, FloatArray]:
        """exp(eta) and eta for every problem."""
        ...

    def narrow(self, keep: IntArray) -> Solver:
        """The solver for the problems ``keep`` (indices into this batch)."""
        ...


def outer_rows(x: FloatArray) -> FloatArray:
    """(n, p*p) rows x_i x_j of a design."""
    return np.asarray((x[:, :, None] * x[:, None, :]).reshape(x.shape[0], -1), dtype=np.float64)


def weighted_gram(w: FloatArray, X: FloatArray) -> FloatArray:
    """X' diag(w[:, u]) X for every column u of ``w`` (n, U) at once: (U, p, p)."""
    p = X.shape[1]
    gram: FloatArray = (w.T @ outer_rows(X)).reshape(w.shape[1], p, p)
    return gram


def _add_ridge(a: FloatArray, ridge: FloatArray | None) -> FloatArray:
    if ridge is not None:
        k = a.shape[1]
        a[:, np.arange(k), np.arange(k)] += ridge
    return a


class _DenseWeighed:
    """X'WX as (P, K, K) matrices, solved by LU (least squares where singular)."""

    def __init__(self, system: FloatArray, ww: FloatArray) -> None:
        self.system = system
        self.ww = ww

    def solve(self, rhs: FloatArray) -> FloatArray:
        return solve_each(self.system, rhs)


class _SharedWeighed(_DenseWeighed):
    def __init__(self, system: FloatArray, ww: FloatArray, x: FloatArray) -> None:
        super().__init__(system, ww)
        self.x = x

    def rhs(self, z: FloatArray) -> FloatArray:
        return np.asarray((self.ww * z) @ self.x, dtype=np.float64)


class SharedDesign:
    """One design ``x`` (N, K) for every problem: X'WX of all problems is one matrix product
    of the weights with the rows x_i x_j. ``ridge`` (P, K) is added to the diagonals."""

    check_means = False

    def __init__(self, x: FloatArray, ridge: FloatArray | None = None) -> None:
        self.x = np.asarray(x, dtype=np.float64)
        self.xx = outer_rows(self.x)
        self.p = self.x.shape[1]
        self.ridge = ridge
        self._eta: FloatArray | None = None

    def _sub(self, keep: IntArray) -> SharedDesign:
        out = SharedDesign.__new__(SharedDesign)
        out.x, out.xx, out.p = self.x, self.xx, self.p
        out.ridge = None if self.ridge is None else self.ridge[keep]
        out._eta = None
        return out

    def weigh(self, ww: FloatArray) -> Weighed:
        system = np.ascontiguousarray(ww @ self.xx).reshape(ww.shape[0], self.p, self.p)
        return _SharedWeighed(_add_ridge(system, self.ridge), ww, self.x)

    def mean(
        self, beta: FloatArray, off: FloatArray | None, clip: float | None
    ) -> tuple[FloatArray, FloatArray]:
        eta = np.asarray(beta @ self.x.T, dtype=np.float64)
        if off is not None:
            eta += off
        if clip is not None:
            np.clip(eta, -clip, clip, out=eta)
        with np.errstate(over="ignore"):
            return np.exp(eta), eta

    def narrow(self, keep: IntArray) -> Solver:
        return self._sub(keep)


class _OwnWeighed(_DenseWeighed):
    def __init__(self, system: FloatArray, ww: FloatArray, xtw: FloatArray) -> None:
        super().__init__(system, ww)
        self.xtw = xtw

    def rhs(self, z: FloatArray) -> FloatArray:
        return np.asarray((self.xtw @ z[:, :, None])[:, :, 0], dtype=np.float64)


class OwnDesign:
    """One design per problem, ``x`` (P, N, K) (rows a problem does not use zeroed).
    ``ridge`` (P, K) is added to the diagonals. Means of 0 on used observations fail."""

    check_means = True

    def __init__(self, x: FloatArray, ridge: FloatArray | None = None) -> None:
        self.x = x
        self.p = x.shape[2]
        self.ridge = ridge

    def weigh(self, ww: FloatArray) -> Weighed:
        xtw = np.swapaxes(self.x, 1, 2) * ww[:, None, :]
        system = xtw @ self.x
        if self.ridge is not None:
            system += self.ridge[:, :, None] * np.eye(self.p)[None]
        return _OwnWeighed(system, ww, xtw)

    def mean(
        self, beta: FloatArray, off: FloatArray | None, clip: float | None
    ) -> tuple[FloatArray, FloatArray]:
        eta = np.asarray((self.x @ beta[:, :, None])[:, :, 0], dtype=np.float64)
        if off is not None:
            eta = eta + off
        if clip is not None:
            np.clip(eta, -clip, clip, out=eta)
        with np.errstate(over="ignore"):
            return np.exp(eta), eta

    def narrow(self, keep: IntArray) -> Solver:
        return OwnDesign(self.x[keep], None if self.ridge is None else self.ridge[keep])


def irls(
    y: FloatArray,
    w: FloatArray,
    solver: Solver,
    family: Family = POISSON,
    control: Control | None = None,
    *,
    mu0: FloatArray | None = None,
    beta0: FloatArray | None = None,
    offset: FloatArray | None = None,
    hints: Hints | None = None,
) -> IrlsFit:
    """Fit ``log E[y] = offset + X beta`` for every problem (row) of ``y`` (P, N).

    ``w`` (P, N) prior weights (0 leaves an observation out: its ``y`` must then be finite,
    e.g. 0). Start from the means ``mu0`` or the coefficients ``beta0`` (exactly one). Every
    problem iterates until the stopping rule of ``control`` is met, its iterate fails, or
    ``max_iter`` iterations are done; its result is what it had there, whatever the other
    problems do (a problem gets the same answer alone as within a batch, to rounding).
    """
    if (mu0 is None) == (beta0 is None):
        raise ValueError("give exactly one of mu0 and beta0")
    hints = hints or Hints()
    control = control or Control()
    P, N = y.shape
    K = solver.p
    th = family.theta
    clip, floor = control.eta_clip, control.mu_floor
    by_dev = control.rule == "deviance"
    off = offset
    # the start
    eta: FloatArray | None
    if beta0 is not None:
        beta = np.array(beta0, dtype=np.float64)
        mu, eta = solver.mean(beta, off, clip)
    else:
        assert mu0 is not None
        mu = mu0
        eta = hints.eta  # log(mu0), made below only if needed
        beta = np.zeros((P, K))
    if floor is not None:
        mu = np.maximum(mu, floor)
    ww = _weights(w, mu, th)
    if not by_dev:
        dev = np.full(P, np.nan)
    elif hints.dev is not None and beta0 is None:
        dev = hints.dev
    else:
        dev = _deviance(y, mu, w, th)
    out = IrlsFit(
        coef=np.zeros((P, K)) if beta0 is None else beta.copy(),
        mu=np.empty((P, N)),
        ww_last=np.empty((P, N)),
        dev=np.array(dev, dtype=np.float64),
        converged=np.zeros(P, dtype=bool),
        failed=np.zeros(P, dtype=bool),
        iterations=np.zeros(P, dtype=np.int64),
    )
    if control.max_iter <= 0:
        out.mu[:] = mu
        out.ww_last[:] = ww
        return out
    weighed = solver.weigh(ww)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if eta is None:
            eta = np.log(mu)
        z = (eta - off if off is not None else eta) + (y - mu) / mu
    rhs = weighed.rhs(z)
    cur = np.arange(P)  # the problems of the solver's batch (indices into the output)
    going = np.ones(P, dtype=bool)  # those of them still iterating
    for it in range(1, control.max_iter + 1):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            new = weighed.solve(rhs)
            mu_new, eta_new = solver.mean(new, off, clip)
            if floor is not None:
                mu_new = np.maximum(mu_new, floor)
            if by_dev:
                dev_new = _deviance(y, mu_new, w, th)
                if control.halving and (it > 1 or beta0 is not None):
                    eta_new = _halve(
                        solver, control, new, beta, mu_new, eta_new, dev_new, y, w, off, th
                    )
            else:
                dev_new = dev
            bad = ~np.all(np.isfinite(new), axis=1)
            if by_dev:
                bad |= ~np.isfinite(dev_new)
            if solver.check_means:
                bad |= ~np.all(np.isfinite(mu_new) & (mu_new > 0) | (w == 0), axis=1)
            if by_dev:
                crit = np.abs(dev_new - dev) / (np.abs(dev_new) + 0.1) < control.tol
            else:
                step = np.max(np.abs(new - beta), axis=1)
                crit = step <= control.tol * (1.0 + np.max(np.abs(new), axis=1))
        crit &= ~bad
        stop = going & (crit | bad) if it < control.max_iter else going.copy()
        if stop.any():
            _record(out, cur, going, stop, it, new, mu_new, ww, dev_new, crit, bad)
            going &= ~stop
        if not going.any():
            break
        if not going.all():  # drop the problems that stopped
            keep = np.flatnonzero(going)
            solver = solver.narrow(keep)
            cur, going = cur[keep], going[keep]
            y, w, new, mu_new, dev_new = y[keep], w[keep], new[keep], mu_new[keep], dev_new[keep]
            eta_new = eta_new[keep]
            off = None if off is None else off[keep]
            th = None if th is None else th[keep]
        beta, mu, dev = new, mu_new, dev_new
        ww = _weights(w, mu, th)
        weighed = solver.weigh(ww)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = (eta_new - off if off is not None else eta_new) + (y - mu) / mu
        rhs = weighed.rhs(z)
    return out


def _record(
    out: IrlsFit,
    cur: IntArray,
    going: BoolArray,
    stop: BoolArray,
    it: int,
    new: FloatArray,
    mu_new: FloatArray,
    ww: FloatArray,
    dev_new: FloatArray,
    crit: BoolArray,
    bad: BoolArray,
) -> None:
    """Write the result of the problems ``stop`` (of the batch ``cur``) at iteration ``it``;
    ``going`` marks the problems of the batch that had not stopped before."""
    at = cur[stop]
    out.coef[at] = new[stop]
    if cur.size == out.mu.shape[0] and 4 * at.size > cur.size:
        # Many rows of the whole batch: copy the whole arrays (a plain copy costs a third of a
        # masked one) and put back the rows recorded before. The rows that go on are
        # overwritten when they stop.
        before = np.flatnonzero(~going)
        mu_before, ww_before = out.mu[before], out.ww_last[before]
        np.copyto(out.mu, mu_new)
        np.copyto(out.ww_last, ww)
        out.mu[before] = mu_before
        out.ww_last[before] = ww_before
    else:
        out.mu[at] = mu_new[stop]
        out.ww_last[at] = ww[stop]
    out.dev[at] = dev_new[stop]
    out.converged[at] = crit[stop]
    out.failed[at] = bad[stop]
    out.iterations[at] = it


def _halve(
    solver: Solver,
    control: Control,
    new: FloatArray,
    old: FloatArray,
    mu: FloatArray,
    eta: FloatArray,
    dev: FloatArray,
    y: FloatArray,
    w: FloatArray,
    off: FloatArray | None,
    th: FloatArray | None,
) -> FloatArray:
    """R's step halving: while a problem's deviance is not finite, its step is halved back
    towards ``old``. Updates ``new``, ``mu`` and ``dev`` in place; returns eta."""
    for _ in range(control.max_iter):
        bad = np.flatnonzero(~np.isfinite(dev))
        if bad.size == 0:
            break
        new[bad] = 0.5 * (new[bad] + old[bad])
        sub = solver.narrow(bad)
        mu_b, eta_b = sub.mean(new[bad], None if off is None else off[bad], control.eta_clip)
        if control.mu_floor is not None:
            mu_b = np.maximum(mu_b, control.mu_floor)
        mu[bad] = mu_b
        eta[bad] = eta_b
        dev[bad] = _deviance(y[bad], mu_b, w[bad], None if th is None else th[bad])
    return eta
