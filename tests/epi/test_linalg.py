"""The batched solve used by every IRLS fit: direct where possible, least squares where not."""

from __future__ import annotations

import numpy as np

from ruralwatch.epi.linalg import solve_each


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
