"""Unit tests of the blocked system (mixnb.estimation.blocked), the random terms and the
covariance structures, against dense computations from ``Z`` and ``Lambda`` written out.

Every quantity the blocked factor gives (``log|A|``, the absorbed cross-products ``S``,
conditional modes, conditional covariances) must equal the dense formula to rounding
(rtol 1e-9), on the dense and the sparse path for ``C = Z_r'Z_1``; the analytic gradient
must equal Richardson differences of the deviance (rtol 1e-6), in the interior and on the
boundary, REML and ML.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.linalg

from mixnb.design import build_design
from mixnb.estimation import blocked, numdiff, pls
from mixnb.estimation.blocked import BlockedSystem
from mixnb.estimation.deviance import ProfiledDeviance
from mixnb.estimation.pls import FixedCrossproducts, GeneralSystem, make_system
from mixnb.estimation.random_terms import (
    by_factor,
    marginal_covariance,
    random_design_matrix,
    random_design_rows,
    random_terms,
)
from mixnb.estimation.structures import BlockDiagonal, Diagonal, Unstructured, combine

RTOL = 1e-9
GRADIENT_RTOL = 1e-6

FORMULAS = [
    "y ~ x + (1 | a) + (1 | b)",
    "y ~ x + (1 + x | a) + (1 | b)",
    "y ~ x + (1 | a) + (1 + x | b)",
    "y ~ x + (1 | b) + (1 | a)",
    "y ~ x + (1 | a) + (0 + x | a) + (1 | b) + (1 | c)",
    "y ~ x + (1 + x | school) + (1 | district)",
    "y ~ x + (1 | district) + (1 + x || school)",
]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(2026)
    n = 400
    a, b, c = rng.integers(0, 30, n), rng.integers(0, 8, n), rng.integers(0, 3, n)
    school = rng.integers(0, 24, n)
    x = rng.standard_normal(n)
    y = (
        1.0
        + 0.5 * x
        + rng.normal(0, 0.8, 30)[a]
        + rng.normal(0, 0.4, 30)[a] * x
        + rng.normal(0, 0.6, 8)[b]
        + rng.normal(0, 0.5, 24)[school]
        + rng.normal(0, 0.5, 6)[school // 4]
        + rng.standard_normal(n)
    )
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "a": [f"a{i}" for i in a],
            "b": [f"b{i}" for i in b],
            "c": [f"c{i}" for i in c],
            "school": [f"s{i:02d}" for i in school],
            "district": [f"d{i}" for i in school // 4],
        }
    )


def _system(design, path: str, monkeypatch) -> BlockedSystem:
    monkeypatch.setattr(blocked, "DENSE_SPEEDUP", 1e12 if path == "dense" else 0.0)
    system = BlockedSystem(design)
    assert system.dense == (path == "dense")
    return system


def _theta(design, rng) -> np.ndarray:
    """A random interior theta (diagonal entries in (0.3, 1.3), the rest in (-0.4, 0.4))."""
    parts = []
    for block in design.random:
        q = block.n_columns
        rows, cols = np.triu_indices(q)[::-1]
        parts.append(
            np.where(
                rows == cols, rng.uniform(0.3, 1.3, len(rows)), rng.uniform(-0.4, 0.4, len(rows))
            )
        )
    return np.concatenate(parts)


class Dense:
    """The model written out densely: ``Z``, ``Lambda``, ``A`` and what follows."""

    def __init__(self, design, theta: np.ndarray, shift: np.ndarray | None = None) -> None:
        from mixnb.estimation.covariance import CovarianceLayout

        layout = CovarianceLayout.of([b.matrix for b in design.random])
        self.terms = random_terms(design)
        self.z = random_design_matrix(self.terms).toarray()
        self.lam = scipy.linalg.block_diag(
            *[
                np.kron(np.eye(block.factor.n_levels), lam)
                for block, lam in zip(design.random, layout.factors(theta))
            ]
        )
        self.x, self.y = design.fixed.matrix, design.y
        zl = self.z @ self.lam
        self.a = zl.T @ zl + np.eye(zl.shape[1])
        # the blocked system absorbs [X, y - X b0] (its response shift b0)
        shifted = self.y if shift is None else self.y - self.x @ shift
        self.xy = np.column_stack([self.x, shifted])
        self.zl = zl

    def logdet(self) -> float:
        return float(np.linalg.slogdet(self.a)[1])

    def s(self) -> np.ndarray:
        r = self.zl.T @ self.xy
        return r.T @ np.linalg.solve(self.a, r)

    def modes(self, beta: np.ndarray) -> np.ndarray:
        return self.lam @ np.linalg.solve(self.a, self.zl.T @ (self.y - self.x @ beta))

    def covariance(self) -> np.ndarray:
        return self.lam @ np.linalg.solve(self.a, self.lam.T)


@pytest.mark.parametrize("path", ["dense", "sparse"])
@pytest.mark.parametrize("formula", FORMULAS)
def test_absorbed_crossproducts_match_the_dense_formula(formula, path, data, monkeypatch):
    design = build_design(formula, data)
    system = _system(design, path, monkeypatch)
    theta = _theta(design, np.random.default_rng(1))
    dense = Dense(design, theta, system.response_shift)
    got = system.absorb(theta)
    np.testing.assert_allclose(got.logdet, dense.logdet(), rtol=RTOL)
    np.testing.assert_allclose(got.s, dense.s(), rtol=RTOL, atol=1e-9 * np.abs(dense.s()).max())


@pytest.mark.parametrize("path", ["dense", "sparse"])
@pytest.mark.parametrize("formula", FORMULAS)
def test_modes_and_conditional_covariances_match_the_dense_formula(
    formula, path, data, monkeypatch
):
    design = build_design(formula, data)
    system = _system(design, path, monkeypatch)
    theta = _theta(design, np.random.default_rng(2))
    dense = Dense(design, theta)
    beta = np.array([0.9, 0.4])
    offsets = np.concatenate([[0], np.cumsum([t.n_random for t in dense.terms])])
    want = dense.modes(beta)
    for k, (term, got) in enumerate(zip(dense.terms, system.conditional_modes(theta, beta))):
        expected = want[offsets[k] : offsets[k + 1]].reshape(term.n_levels, term.q)
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-12)
    cov = dense.covariance()
    got = system.conditional_covariances(theta, 2.0)
    for factor in by_factor(dense.terms):
        index = np.column_stack(
            [
                offsets[k] + np.arange(factor.n_levels) * dense.terms[k].q + c
                for k in factor.terms
                for c in range(dense.terms[k].q)
            ]
        )
        expected = 2.0 * cov[index[:, :, None], index[:, None, :]]
        np.testing.assert_allclose(got[factor.name], expected, rtol=RTOL, atol=1e-12)


def _boundary(theta: np.ndarray, design) -> np.ndarray:
    """theta with the first term's first diagonal entry at zero (its other entries kept)."""
    out = theta.copy()
    out[0] = 0.0
    return out


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("where", ["interior", "boundary"])
@pytest.mark.parametrize("path", ["dense", "sparse"])
@pytest.mark.parametrize("formula", FORMULAS)
def test_gradient_matches_richardson_differences(formula, path, where, reml, data, monkeypatch):
    design = build_design(formula, data)
    deviance = ProfiledDeviance(
        _system(design, path, monkeypatch), FixedCrossproducts.from_design(design), reml
    )
    assert deviance.has_gradient
    theta = _theta(design, np.random.default_rng(3))
    if where == "boundary":
        theta = _boundary(theta, design)
    value, grad = deviance.value_and_gradient(theta)
    assert value == pytest.approx(deviance(theta), rel=1e-13)
    numeric = numdiff.richardson_jacobian(deviance, theta, d=1e-3)
    np.testing.assert_allclose(
        grad, numeric, rtol=GRADIENT_RTOL, atol=GRADIENT_RTOL * np.abs(numeric).max()
    )


def test_response_shift_leaves_the_deviance_unchanged(data):
    """The blocked system works with y - X b0 (b0 the least-squares fit); the criterion,
    beta and vcov(beta) equal the general system's on the raw response."""
    design = build_design("y ~ x + (1 + x | a) + (1 | b)", data)
    fixed = FixedCrossproducts.from_design(design)
    theta = _theta(design, np.random.default_rng(8))
    for reml in (True, False):
        ours = ProfiledDeviance(BlockedSystem(design), fixed, reml).state(theta)
        theirs = ProfiledDeviance(GeneralSystem(design), fixed, reml).state(theta)
        assert ours.objective == pytest.approx(theirs.objective, rel=1e-12)
        np.testing.assert_allclose(ours.beta, theirs.beta, rtol=1e-10)
        np.testing.assert_allclose(ours.vcov_beta(), theirs.vcov_beta(), rtol=1e-10)


def test_blocked_order_is_largest_factor_first(data):
    design = build_design("y ~ x + (1 | b) + (1 | c) + (1 + x | a)", data)
    system = BlockedSystem(design)
    assert [t.name for t in system.factors] == ["a", "b", "c"]
    assert [t.name for t in system.design_factors] == ["b", "c", "a"]
    assert system.m == 8 + 3


def test_nested_factor_keeps_c_sparse(data):
    """Schools in districts: each school meets one district, so ``C`` has one entry per
    school, and at 300 schools in 30 districts the cost model picks the sparse path."""
    design = build_design("y ~ x + (1 + x | school) + (1 | district)", data)
    assert len(BlockedSystem(design).e_g) == 24
    nested = pd.read_csv(Path(__file__).parent / "data" / "crossed" / "nested_sim.csv.gz")
    system = BlockedSystem(build_design("y ~ x + (1 + x | school) + (1 | district)", nested))
    assert len(system.e_g) == 300
    assert not system.dense


def test_make_system_falls_back_to_sparse_lu_beyond_the_rest_limit(data, monkeypatch):
    design = build_design("y ~ x + (1 | a) + (1 | b)", data)
    assert isinstance(make_system(design), BlockedSystem)
    monkeypatch.setattr(blocked, "REST_LIMIT", 5)
    general = make_system(design)
    assert isinstance(general, GeneralSystem)
    theta = np.array([0.8, 0.6])
    fixed = FixedCrossproducts.from_design(design)
    np.testing.assert_allclose(
        ProfiledDeviance(general, fixed, True)(theta),
        ProfiledDeviance(BlockedSystem(design), fixed, True)(theta),
        rtol=1e-12,
    )


def test_one_factor_still_uses_the_grouped_system(data):
    design = build_design("y ~ x + (1 | a) + (0 + x | a)", data)
    assert isinstance(make_system(design), pls.GroupedSystem)


@pytest.mark.parametrize("formula", FORMULAS[:3])
def test_general_system_sparse_lu_matches_its_dense_branch(formula, data, monkeypatch):
    design = build_design(formula, data)
    theta = _theta(design, np.random.default_rng(4))
    dense = GeneralSystem(design)
    monkeypatch.setattr(pls, "DENSE_LIMIT", 10)
    sparse = GeneralSystem(design)
    assert dense.dense and not sparse.dense
    a, b = dense.absorb(theta), sparse.absorb(theta)
    np.testing.assert_allclose(a.logdet, b.logdet, rtol=RTOL)
    np.testing.assert_allclose(a.s, b.s, rtol=RTOL)
    ca, cb = dense.conditional_covariances(theta, 1.0), sparse.conditional_covariances(theta, 1.0)
    for name in ca:
        np.testing.assert_allclose(ca[name], cb[name], rtol=RTOL, atol=1e-13)


# --------------------------------------------------------------------------- random terms


def test_random_term_z_products_and_crossproducts(data):
    design = build_design("y ~ x + (1 + x | a) + (1 | b)", data)
    terms = random_terms(design)
    rng = np.random.default_rng(5)
    for term in terms:
        z = term.z.toarray()
        b = rng.standard_normal((term.n_levels, term.q))
        np.testing.assert_allclose(term.times(b), z @ b.ravel(), rtol=1e-12)
        gram = term.gram()
        m = rng.standard_normal((term.nobs, 3))
        cross = term.crossproducts(m)
        for level in range(term.n_levels):
            cols = slice(level * term.q, (level + 1) * term.q)
            np.testing.assert_allclose(gram[:, :, level], z[:, cols].T @ z[:, cols], atol=1e-12)
            np.testing.assert_allclose(cross[:, :, level], z[:, cols].T @ m, atol=1e-12)
    rows = np.array([0, 5, 17, 399])
    full = random_design_matrix(terms).toarray()
    np.testing.assert_array_equal(random_design_rows(terms, rows), full[rows])
    covs = [np.array([[1.0, 0.3], [0.3, 0.5]]), np.array([[0.7]])]
    omega = scipy.linalg.block_diag(*[np.kron(np.eye(t.n_levels), c) for t, c in zip(terms, covs)])
    v = full @ omega @ full.T + 2.0 * np.eye(len(full))
    np.testing.assert_allclose(
        marginal_covariance(terms, covs, 2.0, rows), v[np.ix_(rows, rows)], rtol=1e-12
    )


def test_terms_sharing_a_factor_merge_into_one(data):
    design = build_design("y ~ x + (1 + x || a) + (1 | b)", data)
    merged = by_factor(random_terms(design))
    assert [t.name for t in merged] == ["a", "b"]
    assert isinstance(merged[0].structure, Diagonal)
    assert merged[0].terms == (0, 1) and list(merged[0].theta_index) == [0, 1]
    assert merged[0].columns == ["Intercept", "x"]


# --------------------------------------------------------------------------- structures


def test_structures_place_theta_in_lambda():
    un = Unstructured(3)
    np.testing.assert_array_equal(un.factor(np.arange(1.0, 7.0)), [[1, 0, 0], [2, 4, 0], [3, 5, 6]])
    np.testing.assert_array_equal(un.lower_bounds(), [0, -np.inf, -np.inf, 0, -np.inf, 0])
    np.testing.assert_array_equal(un.initial(), [1, 0, 0, 1, 0, 1])
    diag = Diagonal(2)
    np.testing.assert_array_equal(diag.factor(np.array([2.0, 3.0])), [[2, 0], [0, 3]])
    block = BlockDiagonal([Unstructured(2), Unstructured(1)])
    assert block.size == 3 and block.n_theta == 4
    np.testing.assert_array_equal(
        block.factor(np.array([1.0, 2.0, 3.0, 4.0])), [[1, 0, 0], [2, 3, 0], [0, 0, 4]]
    )
    np.testing.assert_array_equal(block.entries(np.arange(9.0).reshape(3, 3)), [0, 3, 4, 8])
    assert isinstance(combine([Unstructured(1), Unstructured(1)]), Diagonal)
    assert isinstance(combine([Unstructured(2), Unstructured(1)]), BlockDiagonal)
    assert combine([un]) is un


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("formula", FORMULAS[1:3] + FORMULAS[4:6])
def test_phi_gradient_matches_richardson_differences(formula, reml, data):
    """The gradient of the unprofiled criterion in phi = (theta, sigma), which the
    information's Hessian differentiates once more."""
    design = build_design(formula, data)
    deviance = ProfiledDeviance(BlockedSystem(design), FixedCrossproducts.from_design(design), reml)
    assert deviance.has_gradient_parts
    phi = np.append(_theta(design, np.random.default_rng(6)), 1.1)

    def value(x):
        return deviance.at_residual_variance(x[:-1], x[-1] ** 2)

    numeric = numdiff.richardson_jacobian(value, phi, d=1e-3)
    np.testing.assert_allclose(
        deviance.phi_gradient(phi),
        numeric,
        rtol=GRADIENT_RTOL,
        atol=GRADIENT_RTOL * np.abs(numeric).max(),
    )


@pytest.mark.parametrize("formula", FORMULAS[1:3] + FORMULAS[4:6])
def test_fixed_information_derivatives_match_differences(formula, data):
    """``d(X'V^-1X)/d theta`` (the Satterthwaite df's derivative of vcov(beta)) against
    Richardson differences of ``RX'RX``."""
    design = build_design(formula, data)
    deviance = ProfiledDeviance(BlockedSystem(design), FixedCrossproducts.from_design(design), True)
    theta = _theta(design, np.random.default_rng(7))

    def information(t):
        low = deviance.state(t).rx_low
        return low @ low.T

    numeric = numdiff.richardson_jacobian(information, theta, d=1e-3)
    got = deviance.system.fixed_information_derivatives(theta)
    np.testing.assert_allclose(
        got, numeric, rtol=GRADIENT_RTOL, atol=GRADIENT_RTOL * np.abs(numeric).max()
    )


def test_with_response_equals_a_system_built_for_the_new_response(data):
    """A bootstrap replicate's system shares the symbolic set-up and gives what a system
    built from scratch for the new response gives."""
    design = build_design("y ~ x + (1 + x | a) + (1 | b)", data)
    system = BlockedSystem(design)
    theta = _theta(design, np.random.default_rng(9))
    system.absorb(theta)  # a cached factor must not leak into the replicate
    new = replace(design, y=np.random.default_rng(10).standard_normal(design.nobs))
    fixed = FixedCrossproducts.from_design(new)
    ours = ProfiledDeviance(system.with_response(new), fixed, True)
    fresh = ProfiledDeviance(BlockedSystem(new), fixed, True)
    assert ours(theta) == pytest.approx(fresh(theta), rel=1e-13)
    np.testing.assert_allclose(
        ours.value_and_gradient(theta)[1], fresh.value_and_gradient(theta)[1], rtol=1e-10
    )
    assert ours.system.rzz is system.rzz


def test_bootstrap_of_a_crossed_fit_reuses_the_system(data, monkeypatch):
    """The parametric bootstrap of a crossed fit with the shared set-up gives the
    replicates of the bootstrap that builds every replicate's system again (1e-6)."""
    import mixnb

    fit = mixnb.lmm("y ~ x + (1 | a) + (1 | b)", data)
    shared = mixnb.bootstrap(fit, nsim=8, seed=3, progress=False).replicates
    monkeypatch.delattr(BlockedSystem, "with_response")
    rebuilt = mixnb.bootstrap(fit, nsim=8, seed=3, progress=False).replicates
    np.testing.assert_allclose(shared.to_numpy(), rebuilt.to_numpy(), rtol=1e-6, atol=1e-8)
