"""Unit tests of mixnb.estimation.batched: each stacked routine against numpy, group by group.

The stacks hold J small matrices along the last axis; every routine must give what the
per-group numpy (or scipy) computation gives, to rounding (rtol 1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import solve_triangular

from mixnb.estimation import batched

RTOL = 1e-12


def _spd_stack(q: int, groups: int, rng: np.random.Generator) -> np.ndarray:
    """``groups`` random symmetric positive-definite ``q x q`` matrices, stacked last."""
    a = rng.standard_normal((groups, q, q))
    m = a @ a.transpose(0, 2, 1) + q * np.eye(q)
    return np.moveaxis(m, 0, -1)


def _each(stack: np.ndarray) -> list[np.ndarray]:
    return [stack[..., g] for g in range(stack.shape[-1])]


@pytest.fixture
def rng():
    return np.random.default_rng(20251202)


@pytest.mark.parametrize("q", [1, 2, 3, 5])
def test_cholesky_matches_numpy_for_every_group(q, rng):
    m = _spd_stack(q, 7, rng)
    low = batched.cholesky(m)
    assert low.shape == m.shape
    for got, mg in zip(_each(low), _each(m)):
        np.testing.assert_allclose(got, np.linalg.cholesky(mg), rtol=RTOL, atol=1e-13)
        assert np.all(np.triu(got, 1) == 0)


@pytest.mark.parametrize("q, m_cols", [(1, 1), (2, 3), (4, 2)])
def test_triangular_solves_match_scipy(q, m_cols, rng):
    low = batched.cholesky(_spd_stack(q, 6, rng))
    rhs = rng.standard_normal((q, m_cols, 6))
    forward = batched.solve_lower(low, rhs)
    backward = batched.solve_lower_transposed(low, rhs)
    for g in range(6):
        lg, bg = low[..., g], rhs[..., g]
        np.testing.assert_allclose(
            forward[..., g], solve_triangular(lg, bg, lower=True), rtol=RTOL, atol=1e-13
        )
        np.testing.assert_allclose(
            backward[..., g], solve_triangular(lg.T, bg, lower=False), rtol=RTOL, atol=1e-13
        )
    # the two solves compose to the inverse of L L'
    both = batched.solve_lower_transposed(low, batched.solve_lower(low, rhs))
    for g in range(6):
        lg = low[..., g]
        np.testing.assert_allclose(lg @ lg.T @ both[..., g], rhs[..., g], rtol=1e-10, atol=1e-12)


def test_left_multiply_and_congruence_match_matmul(rng):
    small = rng.standard_normal((3, 3))
    small[0, 1] = 0.0  # a zero entry is skipped, not mishandled
    m = _spd_stack(3, 5, rng)
    left = batched.left_multiply(small, m)
    congruent = batched.congruence(small, m)
    for g, mg in enumerate(_each(m)):
        np.testing.assert_allclose(left[..., g], small @ mg, rtol=RTOL)
        np.testing.assert_allclose(congruent[..., g], small.T @ mg @ small, rtol=RTOL)


def test_left_multiply_of_a_rectangular_matrix(rng):
    small = rng.standard_normal((2, 4))
    stack = rng.standard_normal((4, 3, 6))
    out = batched.left_multiply(small, stack)
    assert out.shape == (2, 3, 6)
    for g in range(6):
        np.testing.assert_allclose(out[..., g], small @ stack[..., g], rtol=RTOL, atol=1e-14)


def test_log_determinant_sums_the_groups(rng):
    m = _spd_stack(3, 8, rng)
    expected = sum(np.linalg.slogdet(mg)[1] for mg in _each(m))
    assert batched.log_determinant(batched.cholesky(m)) == pytest.approx(expected, rel=RTOL)


def test_gram_sums_cross_products_over_groups(rng):
    w = rng.standard_normal((3, 4, 9))
    expected = sum(wg.T @ wg for wg in _each(w))
    np.testing.assert_allclose(batched.gram(w), expected, rtol=RTOL)


def test_a_single_random_effect_is_elementwise(rng):
    m = _spd_stack(1, 10, rng)
    low = batched.cholesky(m)
    np.testing.assert_allclose(low[0, 0], np.sqrt(m[0, 0]), rtol=RTOL)
    rhs = rng.standard_normal((1, 2, 10))
    np.testing.assert_allclose(batched.solve_lower(low, rhs)[0], rhs[0] / low[0, 0], rtol=RTOL)
