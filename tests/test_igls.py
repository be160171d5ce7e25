"""IGLS and RIGLS (Goldstein 1986, 1989) reach the default method's ML and REML estimates.

The default method's numbers are checked against lme4 in test_lme4_parity.py, so here it
is enough to compare with them: fixed effects and variance components to 1e-4 relative,
log-likelihoods to 1e-3 absolute.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixnb
from conftest import fitted
from mixnb.design import build_design
from mixnb.errors import ModelError
from mixnb.estimation import igls
from mixnb.estimation.lmm import deviance_function
from mixnb.estimation.pls import GeneralSystem
from mixnb.estimation.problem_codes import split
from mixnb.results.problems import describe

RTOL = 1e-4
LOGLIK_ATOL = 1e-3


def _omega(fit: mixnb.LmmResult) -> np.ndarray:
    return fit.variance_components["estimate"].to_numpy()


def test_same_estimates_as_the_default_method(fit_key):
    default, fit = fitted(fit_key), fitted(fit_key, iterative=True)
    assert fit.converged, fit.estimates.problems
    assert fit.reml == default.reml
    np.testing.assert_allclose(fit.estimates.beta, default.estimates.beta, rtol=RTOL)
    omega, expected = _omega(fit), _omega(default)
    scale = RTOL * 1e-2 * expected[-1]  # entries near zero: absolute, against the residual
    np.testing.assert_allclose(omega, expected, rtol=RTOL, atol=scale)
    assert abs(fit.estimates.loglik - default.estimates.loglik) < LOGLIK_ATOL
    # every result table comes from the same machinery
    np.testing.assert_allclose(
        fit.fixed_effects["std_error"], default.fixed_effects["std_error"], rtol=1e-3
    )


@pytest.mark.parametrize("key", ["dyestuff2_reml", "dyestuff2_ml"])
def test_boundary_at_zero(key):
    fit = fitted(key, iterative=True)
    assert fit.variance_components["estimate"].iloc[0] == 0.0
    assert fit.is_singular
    assert fit.converged


def test_history_columns_and_last_row():
    fit = fitted("sleepstudy_rs_reml", iterative=True)
    history = fit.history
    assert list(history.columns) == [
        "iteration",
        "deviance",
        "Intercept",
        "Days",
        "Subject: var(Intercept)",
        "Subject: var(Days)",
        "Subject: cov(Intercept, Days)",
        "Residual: var",
    ]
    assert list(history["iteration"]) == list(range(len(history)))
    assert len(history) == fit.estimates.n_evaluations + 1
    first = history.iloc[0]  # the start: least squares, no random effects
    assert first["Subject: var(Intercept)"] == first["Subject: var(Days)"] == 0.0
    last = history.iloc[-1]
    np.testing.assert_allclose(last[["Intercept", "Days"]], fit.estimates.beta, rtol=1e-10)
    np.testing.assert_allclose(last.iloc[4:].to_numpy(dtype=float), _omega(fit), rtol=1e-8)
    assert last["deviance"] == pytest.approx(fit.estimates.objective, abs=1e-6)


def test_history_deviance_never_increases_after_the_first_iterations(fit_key):
    deviance = fitted(fit_key, iterative=True).history["deviance"].to_numpy()
    steps = np.diff(deviance[1:])  # from iteration 1 on
    assert np.all(steps <= 1e-9 * abs(deviance[-1]))


@pytest.mark.parametrize(
    ("key", "names"),
    [
        ("pastes_ml", ["batch: var(Intercept)", "cask:batch: var(Intercept)"]),
        ("sleepstudy_uncorr_ml", ["Subject: var(Intercept)", "Subject: var(Days)"]),
    ],
)
def test_history_names_of_several_terms(key, names):
    assert list(fitted(key, iterative=True).history.columns[-len(names) - 1 :]) == [
        *names,
        "Residual: var",
    ]


def test_one_factor_kernel_matches_the_dense_kernel():
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 9, 25)
    group = np.repeat(np.arange(25), sizes)
    n = len(group)
    data = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "g": group.astype(str),
        }
    )
    design = build_design("y ~ x + (x + z | g)", data)
    grouped = deviance_function(design, reml=True)
    dense = deviance_function(design, reml=True)
    dense.system = GeneralSystem(design)
    covariances = [np.array([[3.0, 0.5, 0.2], [0.5, 1.0, 0.1], [0.2, 0.1, 0.5]])]
    for restricted in (True, False):
        a = igls._Kernel(grouped, grouped.layout).step(covariances, 1.3, restricted)
        b = igls._Kernel(dense, dense.layout).step(covariances, 1.3, restricted)
        np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10)
        np.testing.assert_allclose(a.information, b.information, rtol=1e-10)
        np.testing.assert_allclose(a.rhs, b.rhs, rtol=1e-10)


def test_step_matches_the_dense_formulas():
    """The normal equations against V built row by row (Goldstein's formulas as written)."""
    data = mixnb.load_dataset("sleepstudy")
    design = build_design("Reaction ~ Days + (Days | Subject)", data)
    deviance = deviance_function(design, reml=True)
    sigma = np.array([[600.0, 10.0], [10.0, 35.0]])
    sigma2 = 650.0
    step = igls._Kernel(deviance, deviance.layout).step([sigma], sigma2, restricted=True)

    x, y, z = design.fixed.matrix, design.y, design.random[0].matrix
    same = design.random[0].factor.codes[:, None] == design.random[0].factor.codes[None, :]
    v = (z @ sigma @ z.T) * same + sigma2 * np.eye(len(y))
    v_inv = np.linalg.inv(v)
    derivatives = [
        (z[:, [0]] @ z[:, [0]].T) * same,
        (z[:, [1]] @ z[:, [1]].T) * same,
        (z[:, [0]] @ z[:, [1]].T + z[:, [1]] @ z[:, [0]].T) * same,
        np.eye(len(y)),
    ]
    xvx_inv = np.linalg.inv(x.T @ v_inv @ x)
    beta = xvx_inv @ x.T @ v_inv @ y
    r = y - x @ beta
    target = np.outer(r, r) + x @ xvx_inv @ x.T
    a = [v_inv @ d @ v_inv for d in derivatives]
    information = np.array([[np.sum(ai * dj) for dj in derivatives] for ai in a])
    rhs = np.array([np.sum(ai * target) for ai in a])
    np.testing.assert_allclose(step.beta, beta, rtol=1e-10)
    np.testing.assert_allclose(step.information, information, rtol=1e-8)
    np.testing.assert_allclose(step.rhs, rhs, rtol=1e-8)


def _correlation_one_data() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    group = np.repeat(np.arange(8), 5)
    x = np.tile(np.arange(5.0), 8)
    b0 = rng.normal(0, 1, 8)
    y = 2 + 0.3 * x + b0[group] * (1 + 0.2 * x) + rng.normal(0, 1.5, len(group))
    return pd.DataFrame({"y": y, "x": x, "g": group.astype(str)})


def test_correlation_on_the_boundary():
    """A fit with correlation +1: the projected update lands on the constrained optimum."""
    data = _correlation_one_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.SingularFitWarning)
        default = mixnb.lmm("y ~ x + (x | g)", data)
        fit = mixnb.lmm("y ~ x + (x | g)", data, method="RIGLS")
    assert fit.converged, fit.estimates.problems
    assert fit.variance_components["sd_corr"].iloc[2] == pytest.approx(1.0)
    assert fit.estimates.objective == pytest.approx(default.estimates.objective, abs=1e-6)


def test_projection_agrees_with_bounded_least_squares():
    """The general projection (used for covariance matrices) on a problem of variances only."""
    information = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.8], [0.5, 0.8, 2.0]])
    rhs = np.array([-1.0, 2.0, 3.0])
    layout = igls.CovarianceLayout((1, 1))
    parameters = [igls._Parameter(0, 0, 0), igls._Parameter(1, 0, 0)]
    exact = igls._solve_constrained(information, rhs, layout, parameters, 1e-3)
    general = igls._project_in_metric(
        information, np.linalg.solve(information, rhs), layout, parameters, 1e-3
    )
    assert exact[0] == 0.0
    np.testing.assert_allclose(general, exact, rtol=1e-10, atol=1e-14)


def test_not_converging_is_reported():
    design = build_design("Reaction ~ Days + (Days | Subject)", mixnb.load_dataset("sleepstudy"))
    estimates, history = igls.fit_igls(design, restricted=True, max_iterations=3)
    assert not estimates.converged
    code = estimates.problems[0]
    name, arguments = split(code)  # estimation returns a code with arguments
    assert (name, arguments[:2]) == ("igls_iteration_limit", ["RIGLS", "3"])
    assert "RIGLS did not converge in 3 iterations" in describe(code)  # results say it
    assert len(history) == 4


def test_without_fixed_effects():
    data = mixnb.load_dataset("dyestuff")
    default = mixnb.lmm("Yield ~ 0 + (1 | Batch)", data)
    fit = mixnb.lmm("Yield ~ 0 + (1 | Batch)", data, method="RIGLS")
    np.testing.assert_allclose(_omega(fit), _omega(default), rtol=RTOL)


def test_too_many_crossed_random_effects():
    rng = np.random.default_rng(1)
    n = 6500
    data = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "a": (np.arange(n) % 3100).astype(str),
            "b": rng.integers(0, 10, n).astype(str),
        }
    )
    with pytest.raises(ModelError, match="method='PLS'"):
        mixnb.lmm("y ~ 1 + (1 | a) + (1 | b)", data, method="IGLS")
