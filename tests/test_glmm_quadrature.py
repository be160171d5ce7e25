"""Adaptive Gauss-Hermite quadrature against brute-force integration on small data.

The brute force integrates the likelihood of each top-level group directly, without
adaptation: the trapezoidal rule on a fine grid over [-9, 9] per level in the spherical
random effects, tensor product over the levels (written here, independent of mixnb's tree
code; for smooth integrands with Gaussian tails the rule converges geometrically), whose
own convergence is checked by comparing two grids. mixnb's AGQ deviance at the same
``(theta, beta)`` must agree with it to 1e-6 with 15 points, and the Laplace value
(one point) must be mixnb's Laplace deviance of the sparse path.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln, logsumexp

from mixnb.design import build_design
from mixnb.estimation.glmm import GlmmProblem
from mixnb.estimation.pirls import Response, make_random
from mixnb.estimation.quadrature import NestedTree
from mixnb.families import get_family


def nested_data(sizes: tuple[int, ...], family: str, seed: int) -> pd.DataFrame:
    """Observations nested in ``len(sizes) - 1`` levels of groups, ``sizes`` per level."""
    rng = np.random.default_rng(seed)
    levels = len(sizes) - 1
    rows = list(itertools.product(*[range(s) for s in sizes]))
    frame = pd.DataFrame(rows, columns=[f"l{d}" for d in range(levels)] + ["obs"])
    frame["x"] = rng.normal(size=len(frame))
    eta = 0.3 + 0.5 * frame["x"].to_numpy()
    for d in range(levels):
        key = frame[[f"l{e}" for e in range(d + 1)]].astype(str).agg("-".join, axis=1)
        effect = {k: rng.normal(scale=0.8) for k in key.unique()}
        eta = eta + key.map(effect).to_numpy()
    if family == "binomial":
        frame["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    else:
        frame["y"] = rng.poisson(np.exp(eta))
    for d in range(levels):
        frame[f"g{d}"] = frame[[f"l{e}" for e in range(d + 1)]].astype(str).agg("-".join, axis=1)
    return frame


def log_density(family: str, y: np.ndarray, eta: np.ndarray) -> np.ndarray:
    if family == "binomial":
        return y * eta - np.logaddexp(0, eta)
    return y * eta - np.exp(eta) - gammaln(y + 1)


def brute_force_loglik(frame, family, beta, sds, step) -> float:
    """``sum_top log int ... int prod p(y | b) N(b; 0, sd^2) db`` by the trapezoidal rule
    with spacing ``step`` over every level, level by level."""
    nodes = np.arange(-9.0, 9.0 + step / 2, step)
    log_w = np.log(step) - 0.5 * (nodes**2 + np.log(2 * np.pi))
    levels = len(sds)
    fixed = beta[0] + beta[1] * frame["x"].to_numpy()
    y = frame["y"].to_numpy()

    def integrate(rows: np.ndarray, depth: int, eta: np.ndarray) -> np.ndarray:
        """log of the integral over level ``depth`` and below, for each row of ``eta``'s
        leading grid axes; ``eta`` is (len(rows), grid...)."""
        groups = frame[f"g{depth}"].to_numpy()[rows]
        total = 0.0
        for g in np.unique(groups):
            sub = groups == g
            e = eta[sub][..., None] + sds[depth] * nodes  # new axis: this level's nodes
            if depth + 1 < levels:
                inner = integrate(rows[sub], depth + 1, e)
            else:
                inner = log_density(family, y[rows[sub]].reshape((-1,) + (1,) * (e.ndim - 1)), e)
                inner = inner.sum(axis=0)
            total = total + logsumexp(inner + log_w, axis=-1)
        return total

    all_rows = np.arange(len(frame))
    return float(np.sum(integrate(all_rows, 0, fixed[:, None])[..., 0]))


def problem_for(frame, family, levels, nagq):
    formula = "y ~ x + " + " + ".join(f"(1 | g{d})" for d in range(levels))
    design = build_design(formula, frame)
    n = design.nobs
    resp = Response(design.y, np.ones(n), np.zeros(n), design.fixed.matrix, get_family(family))
    return GlmmProblem(resp, make_random(design.random, n), nagq)


def mixnb_loglik(problem, theta, beta) -> float:
    return problem.saturated - 0.5 * problem.deviance(theta, beta, 1e-13)


CASES = [
    ("binomial", (6, 8), 1),  # one scalar random effect: lme4's nAGQ
    ("poisson", (5, 7), 2),
    ("binomial", (4, 3, 5), 3),
    ("poisson", (3, 3, 4), 4),
    ("binomial", (2, 3, 3, 3), 5),  # three nested levels
]


@pytest.mark.parametrize("family, sizes, seed", CASES)
def test_agq_matches_brute_force(family, sizes, seed):
    frame = nested_data(sizes, family, seed)
    levels = len(sizes) - 1
    theta = np.linspace(0.9, 0.6, levels)
    beta = np.array([0.25, 0.45])
    fine, coarse = (0.1, 0.15) if levels < 3 else (0.2, 0.3)  # 3 levels: a 91^3 grid
    truth = brute_force_loglik(frame, family, beta, theta, fine)
    # the brute force has converged: a coarser grid gives the same value
    assert brute_force_loglik(frame, family, beta, theta, coarse) == pytest.approx(truth, abs=1e-9)
    nagq = 15 if levels < 3 else 9
    agq = mixnb_loglik(problem_for(frame, family, levels, nagq), theta, beta)
    assert agq == pytest.approx(truth, abs=1e-6)
    laplace = mixnb_loglik(problem_for(frame, family, levels, 1), theta, beta)
    # the Laplace approximation is off by more than quadrature's error
    assert abs(laplace - truth) > 1e-4


@pytest.mark.parametrize("family, sizes, seed", CASES[2:])
def test_one_point_nested_rule_is_the_laplace_approximation(family, sizes, seed):
    from mixnb.estimation.laplace import laplace_deviance
    from mixnb.estimation.quadrature import nested_agq_deviance

    frame = nested_data(sizes, family, seed)
    levels = len(sizes) - 1
    problem = problem_for(frame, family, levels, 2)
    assert problem.tree is not None and problem.tree.depth == levels
    theta, beta = np.linspace(0.9, 0.6, levels), np.array([0.25, 0.45])
    mode = problem.mode(theta, beta, 1e-13)
    one_point = nested_agq_deviance(problem.resp, problem.tree, theta, mode, 1)
    assert one_point == pytest.approx(laplace_deviance(mode), abs=1e-9)


def test_quadrature_error_shrinks_with_points():
    frame = nested_data((4, 3, 5), "binomial", 3)
    theta, beta = np.array([1.2, 1.0]), np.array([0.25, 0.45])
    truth = brute_force_loglik(frame, "binomial", beta, theta, 0.1)
    errors = [
        abs(mixnb_loglik(problem_for(frame, "binomial", 2, k), theta, beta) - truth)
        for k in (1, 3, 7, 15)
    ]
    assert errors[-1] < 1e-6
    assert errors[0] > errors[1] > errors[-1]


def test_crossed_terms_have_no_tree():
    frame = nested_data((4, 5, 3), "binomial", 1)
    crossed = frame.assign(g1=frame["l1"].astype(str))  # the second factor no longer nested
    problem = problem_for(crossed, "binomial", 2, 1)
    assert NestedTree.detect(problem.structure) is None


def test_nested_quadrature_fit_converges_with_points():
    """grouseticks, ticks on chicks in broods at locations: glmer fits this only by
    Laplace; nested AGQ's log-likelihood settles as the points grow (on the same scale)."""
    import warnings

    import mixnb

    data = mixnb.load_dataset("grouseticks")
    formula = "TICKS ~ C(YEAR) + cHEIGHT + (1 | LOCATION/BROOD)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {k: mixnb.glmm(formula, data, family="poisson", nagq=k) for k in (1, 9, 13)}
    assert all(f.converged for f in fits.values())
    # 9 and 13 points agree to 1.3e-4 (13 and 17 to 5e-7); Laplace is 0.18 lower
    assert abs(fits[9].loglik - fits[13].loglik) < 5e-4
    assert fits[13].loglik - fits[1].loglik > 0.1
    np.testing.assert_allclose(
        fits[9].fixed_effects["estimate"], fits[13].fixed_effects["estimate"], rtol=1e-3
    )


def test_tree_factor_against_dense_algebra():
    """TreeFactor's solve, log det and selected inverse against numpy on H itself."""
    from mixnb.estimation.quadrature import TreeFactor

    frame = nested_data((3, 4, 3, 2), "poisson", 9)
    problem = problem_for(frame, "poisson", 3, 1)
    structure = problem.structure
    theta = np.array([0.7, 1.3, 0.4])
    zl = structure.z_lambda(theta)
    w = np.random.default_rng(0).uniform(0.2, 3.0, size=zl.shape[0])
    fact = structure.factorize(zl, w)
    assert isinstance(fact, TreeFactor)
    h = (zl.T @ (w[:, None] * zl.toarray())) + np.eye(structure.n_random)
    rhs = np.random.default_rng(1).normal(size=(structure.n_random, 3))
    np.testing.assert_allclose(fact.solve(rhs), np.linalg.solve(h, rhs), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fact.solve(rhs[:, 0]), np.linalg.solve(h, rhs[:, 0]), rtol=1e-10)
    assert fact.logdet() == pytest.approx(np.linalg.slogdet(h)[1], rel=1e-12)
    inv = np.linalg.inv(h)
    tree, z = structure.tree, fact.selected_inverse()
    for d in range(tree.depth):
        for a in range(d + 1):
            nodes = np.arange(len(tree.columns[d]))
            anc = nodes
            for level in range(d, a, -1):
                anc = tree.parent[level][anc]
            expected = inv[tree.columns[d][nodes], tree.columns[a][anc]]
            np.testing.assert_allclose(z[d][a], expected, rtol=1e-9, atol=1e-12)
