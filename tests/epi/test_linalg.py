"""The batched solve used by every IRLS fit: direct where possible, least squares where not."""

from __future__ import annotations

import numpy as np

from ruralwatch.epi.linalg import pinv_each, solve_each


def test_regular_systems_match_numpy() -> None:
    rng = np.random.default_rng(3)
    m = rng.normal(size=(50, 4, 4))
    a = m @ np.swapaxes(m, 1, 2) + np.eye(4)
    b = rng.normal(size=(50, 4))
    np.testing.assert_allclose(solve_each(a, b), np.linalg.solve(a, b[..., None])[..., 0])
    inv = solve_each(a, np.broadcast_to(np.eye(4), a.shape).copy())
    np.testing.assert_allclose(inv, np.linalg.inv(a), rtol=1e-10, atol=1e-12)


def test_singular_systems_get_min_norm_solution_and_others_stay_exact() -> None:
    rng = np.random.default_rng(4)
    m = rng.normal(size=(6, 3, 3))
    a = m @ np.swapaxes(m, 1, 2) + np.eye(3)
    a[2] = [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]]  # rank 2
    a[4] = 0.0  # rank 0
    b = rng.normal(size=(6, 3))
    x = solve_each(a, b)
    regular = [0, 1, 3, 5]
    np.testing.assert_allclose(
        x[regular], np.linalg.solve(a[regular], b[regular][..., None])[..., 0]
    )
    for i in (2, 4):
        np.testing.assert_allclose(x[i], np.linalg.lstsq(a[i], b[i], rcond=None)[0], atol=1e-12)
    assert np.all(x[4] == 0)


def test_a_non_finite_system_is_nan_and_never_fails_the_batch() -> None:
    """One unit's diverged fit (NaN or inf in its X'WX) must not stop the others (issue 9)."""
    a = np.array([[[2.0, 0.0], [0.0, 4.0]], [[np.nan, 1.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]])
    b = np.array([[2.0, 8.0], [1.0, 1.0], [2.0, 2.0]])
    x = solve_each(a, b)
    np.testing.assert_array_equal(x[0], [1.0, 2.0])  # 2x = 2, 4y = 8
    assert np.isnan(x[1]).all()
    np.testing.assert_allclose(x[2], [1.0, 1.0])  # rank 1: minimum-norm solution of x + y = 2
    p = pinv_each(np.array([[[np.inf, 0.0], [0.0, 1.0]], [[4.0, 0.0], [0.0, 0.0]]]))
    assert np.isnan(p[0]).all()
    np.testing.assert_array_equal(p[1], [[0.25, 0.0], [0.0, 0.0]])
