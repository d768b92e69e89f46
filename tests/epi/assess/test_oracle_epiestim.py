"""R_t (Cori et al. 2013) against EpiEstim 2.2.4: every EpiEstim case of the oracle manifest."""

from __future__ import annotations

import csv
import json
from typing import Any

import numpy as np
import pytest

from ruralwatch.epi.assess.rt import discrete_si, estimate_rt, sliding_windows
from tests.shared import ORACLES

REL = 1e-8  # README: EpiEstim, all columns, relative 1e-8


def _cases() -> list[dict[str, Any]]:
    manifest = json.loads((ORACLES / "manifest.json").read_text())
    return [c for c in manifest["cases"] if c["package"] == "EpiEstim"]


CASES = _cases()


def _read(path: str) -> dict[str, np.ndarray]:
    with (ORACLES / path).open() as fh:
        rows = list(csv.reader(fh))
    head, body = rows[0], rows[1:]

    def num(s: str) -> float:
        return np.nan if s in ("NA", "NaN") else float(s)

    return {h: np.array([num(r[i]) for r in body]) for i, h in enumerate(head) if h != "dates"}


def _rng(spec: dict[str, int]) -> np.ndarray:
    return np.arange(spec["first"], spec["last"] + 1)


def _close(mine: np.ndarray, ref: np.ndarray, rel: float = REL) -> None:
    assert mine.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(mine), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(mine[ok], ref[ok], rtol=rel, atol=0)


def _run(case: dict[str, Any]):  # type: ignore[no-untyped-def]
    inp = _read(case["input_file"])
    ctl = case["control"]
    n = inp["t"].size
    if ctl["method"] == "parametric_si":
        si = discrete_si(np.arange(n), ctl["mean_si"], ctl["std_si"])
    else:
        si = _read(case["si_distr_file"])["p"]
    if "local" in inp:
        inc, imported = inp["local"], inp["imported"]
    else:
        inc, imported = inp["I"], None
    res = estimate_rt(
        inc,
        si,
        _rng(ctl["t_start"]),
        _rng(ctl["t_end"]),
        mean_prior=ctl["mean_prior"],
        std_prior=ctl["std_prior"],
        imported=imported,
        cv_posterior=ctl["cv_posterior"],
    )
    return res, si


def test_manifest_has_cases() -> None:
    assert len(CASES) >= 9


@pytest.mark.parametrize("case", CASES, ids=[c["case_id"] for c in CASES])
def test_estimate_r_matches_epiestim(case: dict[str, Any]) -> None:
    res, _ = _run(case)
    ref = _read(case["output_file"])
    np.testing.assert_array_equal(res.t_start, ref["t_start"])
    np.testing.assert_array_equal(res.t_end, ref["t_end"])
    _close(res.mean[:, 0], ref["Mean(R)"])
    _close(res.std[:, 0], ref["Std(R)"])
    names = {0.025: "Quantile.0.025(R)", 0.05: "Quantile.0.05(R)", 0.25: "Quantile.0.25(R)"}
    names |= {0.5: "Median(R)", 0.75: "Quantile.0.75(R)", 0.95: "Quantile.0.95(R)"}
    names |= {0.975: "Quantile.0.975(R)"}
    for q, col in names.items():
        _close(res.quantile(q)[:, 0], ref[col])
    assert int(np.isnan(res.mean).sum()) == case["n_na_mean"]
    assert res.si_mean == pytest.approx(case["si_moments"]["Mean"], rel=1e-9)
    assert res.si_sd == pytest.approx(case["si_moments"]["Std"], rel=1e-9)


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c["control"]["method"] == "parametric_si"],
    ids=lambda c: c["case_id"],
)
def test_discrete_si_matches_si_distr_used(case: dict[str, Any]) -> None:
    ref = _read(case["si_distr_used_file"])
    ctl = case["control"]
    # R: discr_si(0:(T-1), mean, sd), padded with zeros.
    w = np.where(
        ref["k"] < case["n_series"], discrete_si(ref["k"], ctl["mean_si"], ctl["std_si"]), 0
    )
    # Values above 1e-12 to relative 1e-9; below that both are cancellation noise.
    big = ref["p"] > 1e-12
    np.testing.assert_allclose(w[big], ref["p"][big], rtol=1e-9)
    np.testing.assert_allclose(w, ref["p"], atol=1e-13)


def test_cv_rule_flags_early_sars_windows() -> None:
    case = next(c for c in CASES if c["case_id"] == "estimate_R__SARS2003__non_parametric_si")
    res, _ = _run(case)
    # R warned that the first window is too early for CV 0.3: it is not reliable.
    assert any("posterior CV" in w["example"] for w in case["r_warnings"])
    assert not res.reliable[0, 0]
    k = int(res.first_reliable[0])
    assert k > 0 and res.reliable[k, 0] and not res.reliable[:k, 0].any()
    np.testing.assert_allclose(res.cv[k, 0], res.std[k, 0] / res.mean[k, 0])
    assert res.cv[k, 0] < 0.3


def test_panel_is_vectorised_over_units() -> None:
    cases = {c["case_id"]: c for c in CASES}
    a, si = _run(cases["estimate_R__Flu1918__non_parametric_si"])
    inc = _read(cases["estimate_R__Flu1918__non_parametric_si"]["input_file"])["I"]
    panel = np.c_[inc, 2 * inc, np.zeros_like(inc)]
    ts, te = sliding_windows(inc.size)
    b = estimate_rt(panel, si, ts, te)
    np.testing.assert_allclose(b.mean[:, 0], a.mean[:, 0], rtol=1e-13)
    assert b.mean.shape == (ts.size, 3)
    # No cases at all: the posterior is the prior updated by nothing.
    np.testing.assert_allclose(b.mean[:, 2], 5.0)


def test_missing_values_blank_only_the_windows_they_touch() -> None:
    rng = np.random.default_rng(3)
    inc = rng.poisson(20, size=60).astype(float)
    si = discrete_si(np.arange(60), 2.6, 1.5)
    full = estimate_rt(inc, si)
    inc[30] = np.nan
    res = estimate_rt(inc, si)
    touched = (res.t_end >= 31) & (res.t_start <= 31 + 20)
    assert np.isnan(res.mean[res.t_end == 31, 0]).all()
    early = res.t_end < 31
    np.testing.assert_allclose(res.mean[early, 0], full.mean[early, 0])
    assert np.isnan(res.mean[touched, 0]).any()


def test_bad_arguments() -> None:
    si = discrete_si(np.arange(20), 2.6, 1.5)
    with pytest.raises(ValueError):
        estimate_rt(np.ones(20), si, [1], [7])
    with pytest.raises(ValueError):
        estimate_rt(np.ones(20), np.r_[0.5, 0.5])
    with pytest.raises(ValueError):
        discrete_si(np.arange(5), 0.8, 1.0)
