"""Fair allocation of a shipment as a mixed-integer programme solved by HiGHS (framework-free).

Arrays in, arrays out: no Django here, so the benchmark and the tests build problems without
a database (:mod:`ruralwatch.resources.services` builds them from the stored stock).

The problem (docs/resources.md has the full statement). Recipients ``i`` (health centres and
village clinics), items ``k``. For every pair with something to receive:

- ``x[i,k]`` whole packs sent (integer, at most enough packs to cover the need), so
  ``pack[k] · x`` units;
- ``y[i,k] ≤ min(minimum[i,k], pack[k] · x)`` — units that bring the recipient up to its
  policy minimum;
- ``z[i,k] ≤ min(need[i,k], pack[k] · x)`` — units that cover its need (the target less what
  it holds).

Constraints: what each supply group (a county's shipment) holds of each item,
``Σ pack·x ≤ supply[g,k]``; what each transport group (the vehicle run to a township and its
villages) can carry, ``Σ volume[k]·pack[k]·x ≤ transport[t]``.

Objectives, lexicographic (each stage keeps the optimum of the one before):

1. **minimums first**: maximise ``Σ y`` (units toward the policy minimums);
2. ``mode="weighted"``: maximise ``Σ weight·z`` (weighted need covered, i.e. minimise the
   weighted unmet need); ``mode="maxmin"``: first maximise the smallest fill rate ``τ``
   (``z ≥ τ · need`` for every pair), then the weighted need covered at that ``τ``.

Each stage is solved to optimality by HiGHS's branch and bound (``mip_rel_gap`` is recorded
in the result). Every allocation is explained by the constraint that stopped it
(:data:`BINDING`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "BINDING",
    "AllocationProblem",
    "AllocationResult",
    "Mode",
    "solve",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Mode = Literal["weighted", "maxmin"]

#: Why a recipient got what it got (per recipient and item).
NEED_MET = "need_met"  # it received enough packs to cover its need
NO_NEED = "no_need"  # it needed nothing
SUPPLY = "supply"  # the shipment ran out (or what is left is less than a pack)
TRANSPORT = "transport"  # its vehicle run was full
PACK_SIZE = "pack_size"  # a further whole pack would go beyond what the objective gains
BINDING = (NEED_MET, NO_NEED, SUPPLY, TRANSPORT, PACK_SIZE)


@dataclass(frozen=True)
class AllocationProblem:
    """Recipients × items, in units.

    ``minimum``, ``need`` and ``weight`` are (n, K); ``need ≥ minimum ≥ 0``, weight > 0.
    ``supply_group`` (n,) indexes rows of ``supply`` (G, K). ``transport_group`` (n,) indexes
    ``transport`` (T,) or is -1 (no limit); ``transport`` may hold ``inf``.
    """

    minimum: IntArray
    need: IntArray
    weight: FloatArray
    supply_group: IntArray
    supply: IntArray
    pack: IntArray
    volume: FloatArray
    transport_group: IntArray
    transport: FloatArray

    @property
    def shape(self) -> tuple[int, int]:
        n, k = self.need.shape
        return int(n), int(k)

    def check(self) -> None:
        n, k = self.shape
        if self.minimum.shape != (n, k) or self.weight.shape != (n, k):
            raise ValueError("minimum, need and weight must have the same shape")
        if (self.minimum < 0).any() or (self.need < self.minimum).any():
            raise ValueError("need must be at least the minimum, and the minimum at least 0")
        if (self.weight <= 0).any() or not np.isfinite(self.weight).all():
            raise ValueError("weights must be positive and finite")
        if self.pack.shape != (k,) or (self.pack < 1).any():
            raise ValueError("every item needs a pack size of at least 1")
        if self.supply.ndim != 2 or self.supply.shape[1] != k or (self.supply < 0).any():
            raise ValueError("supply must be (groups × items) and not negative")
        if self.supply_group.shape != (n,) or (self.supply_group < 0).any():
            raise ValueError("every recipient needs a supply group")
        if self.supply_group.size and self.supply_group.max() >= self.supply.shape[0]:
            raise ValueError("a supply group has no row of supply")
        if self.transport_group.shape != (n,):
            raise ValueError("every recipient needs a transport group (or -1)")
        if self.transport_group.size and self.transport_group.max() >= self.transport.size:
            raise ValueError("a transport group has no capacity")
        if (self.transport < 0).any():
            raise ValueError("transport capacity cannot be negative")


@dataclass
class AllocationResult:
    """Units allocated (n, K), why each stopped where it did, and the objectives."""

    units: IntArray
    packs: IntArray
    binding: npt.NDArray[np.str_]
    mode: str
    status: str
    minimum_covered: int
    minimum_total: int
    weighted_covered: float
    weighted_total: float
    min_fill_rate: float | None
    fill_rate: FloatArray  # per item: covered need / total need
    mip_gap: float
    seconds: float
    stages: list[dict[str, float]] = field(default_factory=list)

    def covered(self, need: IntArray) -> IntArray:
        return np.minimum(self.units, need)


_BANNER_SHOWN = False


def _new_highs() -> Any:
    """A HiGHS instance. The first of a process prints a copyright banner on the C-level
    standard output before any option can be set, which would corrupt ``ruralwatch allocate
    --json`` or a piped demo: that one is made with file descriptor 1 pointed at /dev/null."""
    import os
    import sys

    import highspy

    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        return highspy.Highs()  # type: ignore[no-untyped-call]
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
        _BANNER_SHOWN = True
    return h


def _highs(time_limit: float | None, gap: float) -> Any:
    h = _new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", gap)
    h.setOptionValue("threads", 1)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    return h


@dataclass(frozen=True)
class _Segments:
    """Columns of the MIP: runs of packs of one (recipient, item) pair with the same value.

    A pair's packs, in order, are worth: whole packs inside the minimum (p units toward the
    minimum and the need each), the pack that crosses the minimum, whole packs beyond it up
    to the need, and the last, partial pack of the need. Each run is one integer column
    bounded by its number of packs. Both values fall from one run to the next (concave), so
    a solution that takes a later run before an earlier one is never better than the same
    number of packs taken in order: the optimum of the runs is the optimum over packs.
    """

    pair: IntArray  # index into the active pairs
    count: FloatArray  # packs in the run (the column's upper bound)
    min_units: FloatArray  # units toward the minimum per pack of the run
    need_units: FloatArray  # units toward the need per pack of the run


def _segments(
    ii: IntArray, kk: IntArray, minimum: IntArray, need: IntArray, pack: IntArray
) -> _Segments:
    p = pack[kk]
    m_full = minimum // p
    m_rest = minimum - m_full * p
    used = m_full + (m_rest > 0)
    after = need - np.minimum(need, used * p)
    n_full = after // p
    n_rest = after - n_full * p
    pair = np.arange(ii.size, dtype=np.int64)
    parts = [
        (m_full, p, p),
        ((m_rest > 0).astype(np.int64), m_rest, np.minimum(p, need - m_full * p)),
        (n_full, np.zeros_like(p), p),
        ((n_rest > 0).astype(np.int64), np.zeros_like(p), n_rest),
    ]
    keep = [c > 0 for c, _m, _n in parts]
    return _Segments(
        pair=np.concatenate([pair[k] for k in keep]),
        count=np.concatenate([c[k] for (c, _m, _n), k in zip(parts, keep, strict=True)]).astype(
            np.float64
        ),
        min_units=np.concatenate(
            [mu[k] for (_c, mu, _n), k in zip(parts, keep, strict=True)]
        ).astype(np.float64),
        need_units=np.concatenate(
            [nu[k] for (_c, _m, nu), k in zip(parts, keep, strict=True)]
        ).astype(np.float64),
    )


def _solve_segments(
    problem: AllocationProblem,
    mode: str,
    ii: IntArray,
    kk: IntArray,
    seg: _Segments,
    stages: list[dict[str, float]],
    mip_rel_gap: float,
    time_limit: float | None,
) -> tuple[FloatArray, float | None, float]:
    """Build and solve the lexicographic stages; the packs of each run, τ and the worst gap."""
    import highspy

    m = ii.size
    n_seg = seg.pair.size
    n_k = problem.shape[1]
    maxmin = mode == "maxmin"
    n_col = n_seg + (1 if maxmin else 0)
    k_seg = kk[seg.pair]
    p_seg = problem.pack[k_seg].astype(np.float64)
    cols_seg = np.arange(n_seg, dtype=np.int64)
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    vals: list[FloatArray] = []
    row_hi: list[FloatArray] = []
    row_lo: list[FloatArray] = []
    r = 0
    # Supply: whole packs of each (group, item), at most what the shipment holds.
    key = problem.supply_group[ii][seg.pair] * n_k + k_seg
    uniq, inv = np.unique(key, return_inverse=True)
    rows.append(r + inv)
    cols.append(cols_seg)
    vals.append(np.ones(n_seg))
    row_lo.append(np.full(uniq.size, -np.inf))
    row_hi.append(np.floor(problem.supply.reshape(-1)[uniq] / problem.pack[uniq % n_k]))
    r += uniq.size
    # Transport: volume carried on each vehicle run with a finite capacity.
    t_seg = problem.transport_group[ii][seg.pair]
    finite = t_seg >= 0
    finite[finite] = np.isfinite(problem.transport[t_seg[finite]])
    if finite.any():
        tu, tinv = np.unique(t_seg[finite], return_inverse=True)
        rows.append(r + tinv)
        cols.append(cols_seg[finite])
        vals.append((problem.volume[k_seg] * p_seg)[finite])
        row_lo.append(np.full(tu.size, -np.inf))
        row_hi.append(problem.transport[tu].astype(np.float64))
        r += tu.size
    if maxmin:  # Σ need units of the pair's runs − need · τ ≥ 0
        need_pair = problem.need[ii, kk].astype(np.float64)
        rows += [r + seg.pair, r + np.arange(m, dtype=np.int64)]
        cols += [cols_seg, np.full(m, n_seg, dtype=np.int64)]
        vals += [seg.need_units, -need_pair]
        row_lo.append(np.zeros(m))
        row_hi.append(np.full(m, np.inf))
        r += m
    R = np.concatenate(rows)
    C = np.concatenate(cols)
    V = np.concatenate(vals)
    order = np.lexsort((R, C))
    R, C, V = R[order], C[order], V[order]

    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = r
    lp.col_cost_ = np.zeros(n_col)
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.concatenate([seg.count] + ([np.ones(1)] if maxmin else []))
    lp.row_lower_ = np.concatenate(row_lo)
    lp.row_upper_ = np.concatenate(row_hi)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(C, np.arange(n_col + 1)).astype(np.int32)
    lp.a_matrix_.index_ = R.astype(np.int32)
    lp.a_matrix_.value_ = V
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = r
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n_seg + (
        [highspy.HighsVarType.kContinuous] if maxmin else []
    )
    h = _highs(time_limit, mip_rel_gap)
    passed = h.passModel(lp)
    if passed != highspy.HighsStatus.kOk:
        raise RuntimeError(f"HiGHS refused the model: {passed}")
    all_cols = np.arange(n_col, dtype=np.int32)
    worst = 0.0

    def run(cost: FloatArray, label: str) -> FloatArray:
        nonlocal worst
        h.changeColsCost(n_col, all_cols, cost)
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"HiGHS stopped at stage {label}: {h.modelStatusToString(status)}")
        info = h.getInfo()
        worst = max(worst, float(info.mip_gap))
        stages.append(
            {
                "objective": float(info.objective_function_value),
                "gap": float(info.mip_gap),
                "nodes": float(info.mip_node_count),
            }
        )
        return np.asarray(h.getSolution().col_value, dtype=np.float64)

    def keep(cost: FloatArray, value: float) -> None:
        """Hold a stage's optimum while the next stage improves its own objective."""
        nz = np.flatnonzero(cost).astype(np.int32)
        h.addRow(value - 1e-6 * max(1.0, abs(value)), np.inf, nz.size, nz, cost[nz])

    c1 = np.zeros(n_col)
    c1[:n_seg] = seg.min_units
    sol = run(c1, "minimums")
    keep(c1, float(c1 @ sol))
    tau: float | None = None
    if maxmin and not _fill_possible(problem, ii, kk):
        # Some pair cannot have a single pack: the smallest fill rate is 0 whatever the
        # allocation, so the stage is not solved and τ is held at 0.
        tau = 0.0
        h.changeColsBounds(1, np.array([n_seg], dtype=np.int32), np.zeros(1), np.zeros(1))
        stages.append({"objective": 0.0, "gap": 0.0, "nodes": 0.0})
    elif maxmin:
        ct = np.zeros(n_col)
        ct[n_seg] = 1.0
        sol = run(ct, "max-min fill rate")
        tau = float(sol[n_seg])
        keep(ct, tau)
    c2 = np.zeros(n_col)
    c2[:n_seg] = seg.need_units * problem.weight[ii, kk][seg.pair]
    sol = run(c2, "weighted need")
    return np.rint(sol[:n_seg]), tau, worst


def _fill_possible(problem: AllocationProblem, ii: IntArray, kk: IntArray) -> bool:
    """Whether every active pair could get one pack at the same time: a smallest fill rate
    above 0 needs it (each pair's covered need must be positive, in whole packs). False
    when a shipment (group, item) holds fewer packs than it has pairs, or a vehicle run
    cannot carry one pack for each of its pairs; True says only that these counts allow it."""
    n_k = problem.shape[1]
    pack = problem.pack[kk]
    key = problem.supply_group[ii] * n_k + kk
    uniq, counts = np.unique(key, return_counts=True)
    packs = problem.supply.reshape(-1)[uniq] // problem.pack[uniq % n_k]
    if (counts > packs).any():
        return False
    t = problem.transport_group[ii]
    has = t >= 0
    if has.any():
        load = np.zeros(problem.transport.size)
        np.add.at(load, t[has], (problem.volume[kk] * pack)[has])
        if (load > problem.transport + 1e-9).any():
            return False
    return True


def _components(problem: AllocationProblem, ii: IntArray, kk: IntArray) -> IntArray:
    """The independent sub-problems: pairs linked by a shipment (group, item) or by a vehicle
    run with a finite capacity. Each is solved on its own (their lexicographic optima add up
    to the whole's, as no constraint spans two of them), which keeps every MIP small."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not ii.size:
        return np.zeros(0, dtype=np.int64)
    n_k = problem.shape[1]
    node_s = problem.supply_group[ii] * n_k + kk
    n_s = problem.supply.size
    t = problem.transport_group[ii]
    linked = t >= 0
    linked[linked] = np.isfinite(problem.transport[t[linked]])
    node_t = n_s + np.where(linked, t, 0)
    a = np.concatenate([node_s[linked]])
    b = np.concatenate([node_t[linked]])
    n_nodes = n_s + problem.transport.size
    graph = coo_matrix((np.ones(a.size), (a, b)), shape=(n_nodes, n_nodes))
    _n, labels = connected_components(graph, directed=False)
    return np.asarray(labels[node_s], dtype=np.int64)


def _explain(
    problem: AllocationProblem, ii: IntArray, kk: IntArray, got: IntArray, pack: IntArray
) -> npt.NDArray[np.str_]:
    """Why each active pair got what it got: its need is covered; else its vehicle run cannot
    take another pack; else the shipment has less than a pack left; else a further pack was
    not worth its place (pack size, at the optimum)."""
    n_k = problem.shape[1]
    p = pack[kk]
    units = np.zeros(problem.shape, dtype=np.int64)
    units[ii, kk] = got
    sent = np.zeros_like(problem.supply)
    np.add.at(sent, problem.supply_group, units)
    left = (problem.supply - sent)[problem.supply_group[ii], kk]
    load = units * problem.pack[None, :] * 0 + units * problem.volume[None, :]
    t_all = problem.transport_group
    has = t_all >= 0
    carried = np.zeros(problem.transport.size)
    np.add.at(carried, t_all[has], load[has].sum(axis=1))
    t_pair = t_all[ii]
    room = np.full(ii.size, np.inf)
    room[t_pair >= 0] = problem.transport[t_pair[t_pair >= 0]] - carried[t_pair[t_pair >= 0]]
    t_full = room < problem.volume[kk] * p - 1e-9
    s_full = left < p
    met = got >= problem.need[ii, kk]
    del n_k
    return np.where(
        met, NEED_MET, np.where(t_full, TRANSPORT, np.where(s_full, SUPPLY, PACK_SIZE))
    ).astype("<U9")


def solve(
    problem: AllocationProblem,
    mode: Mode = "weighted",
    *,
    mip_rel_gap: float = 1e-6,
    time_limit: float | None = 60.0,
) -> AllocationResult:
    """Allocate the supply (see the module doc); raises ``ValueError`` for a malformed
    problem and ``RuntimeError`` when HiGHS finds no optimal solution in ``time_limit``."""
    began = time.perf_counter()
    problem.check()
    if mode not in ("weighted", "maxmin"):
        raise ValueError(f"unknown mode {mode!r}")
    n, n_k = problem.shape
    pack = problem.pack.astype(np.int64)
    supply_pair = problem.supply[problem.supply_group]  # (n, K)
    active = (problem.need > 0) & (supply_pair >= pack[None, :])
    ii, kk = np.nonzero(active)
    units = np.zeros((n, n_k), dtype=np.int64)
    packs = np.zeros((n, n_k), dtype=np.int64)
    binding = np.where(problem.need > 0, SUPPLY, NO_NEED).astype("<U9")
    stages: list[dict[str, float]] = []
    gap = 0.0
    tau: float | None = None
    comp = _components(problem, ii, kk)
    order = np.argsort(comp, kind="stable")
    bounds = np.searchsorted(comp[order], np.arange(comp.max() + 2 if comp.size else 1))
    for c in range(bounds.size - 1):
        sel = order[bounds[c] : bounds[c + 1]]
        if not sel.size:
            continue
        ic, kc = ii[sel], kk[sel]
        seg = _segments(ic, kc, problem.minimum[ic, kc], problem.need[ic, kc], pack)
        part: list[dict[str, float]] = []
        sol, tau_c, gap_c = _solve_segments(
            problem, mode, ic, kc, seg, part, mip_rel_gap, time_limit
        )
        gap = max(gap, gap_c)
        if tau_c is not None:
            tau = tau_c if tau is None else min(tau, tau_c)
        for j, st in enumerate(part):
            if j == len(stages):
                stages.append({"objective": 0.0, "gap": 0.0, "nodes": 0.0})
            stages[j]["objective"] += st["objective"]
            stages[j]["gap"] = max(stages[j]["gap"], st["gap"])
            stages[j]["nodes"] += st["nodes"]
        x = np.bincount(seg.pair, weights=sol, minlength=ic.size).round().astype(np.int64)
        packs[ic, kc] = x
        units[ic, kc] = x * pack[kc]
    if ii.size:
        binding[ii, kk] = _explain(problem, ii, kk, units[ii, kk], pack)
    covered = np.minimum(units, problem.need)
    need_total = problem.need.sum(axis=0).astype(np.float64)
    fill = np.divide(
        covered.sum(axis=0).astype(np.float64),
        need_total,
        out=np.ones(n_k),
        where=need_total > 0,
    )
    if mode == "maxmin" and tau is None:
        tau = 0.0 if (problem.need > 0).any() else 1.0
    return AllocationResult(
        units=units,
        packs=packs,
        binding=binding,
        mode=mode,
        status="optimal",
        minimum_covered=int(np.minimum(units, problem.minimum).sum()),
        minimum_total=int(problem.minimum.sum()),
        weighted_covered=float((problem.weight * covered).sum()),
        weighted_total=float((problem.weight * problem.need).sum()),
        min_fill_rate=tau,
        fill_rate=fill,
        mip_gap=gap,
        seconds=time.perf_counter() - began,
        stages=stages,
    )
