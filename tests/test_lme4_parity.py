"""Parity with lme4 1.1-31 (tests/reference/lme4_reference.json, made by make_reference.R).

Tolerances (issue 2): fixed effects and their standard errors 1e-4 relative; variances
and covariances 1e-3 relative (1e-6 absolute near zero); log-likelihoods 1e-3 absolute;
random effects and their conditional SDs 1e-3.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from conftest import fitted, python_term, reference

FIXED_RTOL = 1e-4
VARIANCE_RTOL = 1e-3
VARIANCE_ATOL = 1e-6
LOGLIK_ATOL = 1e-3
RANEF_TOL = 1e-3


def _ref(key: str) -> dict:
    return reference()["fits"][key]


def test_fixed_effects_and_standard_errors(fit_key):
    ref, fit = _ref(fit_key), fitted(fit_key)
    fe = fit.fixed_effects
    names = [python_term(n) for n in ref["fixef"]]
    assert list(fe.index) == names
    np.testing.assert_allclose(fe["estimate"], list(ref["fixef"].values()), rtol=FIXED_RTOL)
    np.testing.assert_allclose(fe["std_error"], list(ref["fixef_se"].values()), rtol=FIXED_RTOL)
    np.testing.assert_allclose(fit.vcov.to_numpy(), np.array(ref["vcov"]), rtol=FIXED_RTOL, atol=0)


def _lme4_component_key(row: dict) -> tuple[str, str, str]:
    group = row["grp"].split(".")[0] if row["grp"] != "Residual" else "Residual"
    term1 = python_term(row["var1"]) if row["var1"] else ""
    term2 = python_term(row["var2"]) if row["var2"] else term1
    return group, term1, term2


def test_variance_components(fit_key):
    ref, fit = _ref(fit_key), fitted(fit_key)
    ours = fit.variance_components.set_index(["group", "term1", "term2"])
    expected = {_lme4_component_key(row): row for row in ref["varcorr"]}
    assert len(ours) == len(expected)
    for key, row in expected.items():
        mine = ours.loc[key]
        scale = max(abs(row["vcov"]), 1.0) if key[1] != key[2] else 1.0
        np.testing.assert_allclose(
            mine["estimate"],
            row["vcov"],
            rtol=VARIANCE_RTOL,
            atol=VARIANCE_ATOL * scale,
            err_msg=str(key),
        )
        np.testing.assert_allclose(
            mine["sd_corr"], row["sdcor"], rtol=VARIANCE_RTOL, atol=VARIANCE_ATOL, err_msg=str(key)
        )
    np.testing.assert_allclose(fit.sigma, ref["sigma"], rtol=VARIANCE_RTOL)


def test_likelihood_and_information_criteria(fit_key):
    ref, fit = _ref(fit_key), fitted(fit_key)
    assert abs(fit.loglik - ref["loglik"]) < LOGLIK_ATOL
    assert abs(fit.aic - ref["aic"]) < 2 * LOGLIK_ATOL
    assert abs(fit.bic - ref["bic"]) < 2 * LOGLIK_ATOL
    assert fit.n_parameters == ref["df_logLik"]
    if ref["reml"]:
        assert abs(fit.reml_criterion - ref["reml_criterion"]) < 2 * LOGLIK_ATOL
    else:
        assert fit.reml_criterion is None
        assert abs(fit.deviance - ref["deviance_ml"]) < 2 * LOGLIK_ATOL
    # our optimum is never worse than lme4's
    assert -2 * fit.loglik <= -2 * ref["loglik"] + 1e-6


def test_sizes_and_flags(fit_key):
    ref, fit = _ref(fit_key), fitted(fit_key)
    assert fit.nobs == ref["nobs"]
    assert fit.ngroups == ref["ngroups"]
    assert fit.is_singular == ref["is_singular"]
    assert fit.converged
    assert fit.reml == ref["reml"]


def _level_frame(block: dict, key: str) -> pd.DataFrame:
    columns = [python_term(c) for c in block["columns"]]
    return pd.DataFrame(block[key], index=[str(v) for v in block["levels"]], columns=columns)


def _as_str_index(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_axis([str(v) for v in frame.index], axis=0)


def test_random_effects_and_conditional_sds(fit_key):
    ref, fit = _ref(fit_key), fitted(fit_key)
    assert set(fit.random_effects) == set(ref["ranef"])
    for name, block in ref["ranef"].items():
        expected = _level_frame(block, "values")
        ours = _as_str_index(fit.random_effects[name]).loc[expected.index, expected.columns]
        scale = np.abs(expected.to_numpy()).max() if np.abs(expected.to_numpy()).max() else 1.0
        np.testing.assert_allclose(ours, expected, rtol=RANEF_TOL, atol=RANEF_TOL * scale * 1e-3)
        expected_sd = _level_frame(block, "condsd")
        ours_sd = _as_str_index(fit.random_effects_sd[name]).loc[expected.index, expected.columns]
        np.testing.assert_allclose(ours_sd, expected_sd, rtol=RANEF_TOL, atol=1e-9)


def test_conditional_covariances_of_correlated_slopes():
    ref, fit = _ref("sleepstudy_rs_reml"), fitted("sleepstudy_rs_reml")
    block = ref["ranef"]["Subject"]
    cov = fit.random_effects_cov["Subject"]
    by_label = {str(level): level for level in fit.random_effects["Subject"].index}
    for level, expected in zip(block["levels"], block["condcov"]):
        ours = cov.loc[by_label[str(level)]].to_numpy()
        np.testing.assert_allclose(ours, np.array(expected), rtol=RANEF_TOL, atol=1e-6)


def test_per_group_coefficients(fit_key):
    ref, fit = _ref(fit_key), fitted(fit_key)
    for name, block in ref["coef"].items():
        expected = _level_frame(block, "values")
        ours = _as_str_index(fit.coef[name]).loc[expected.index, expected.columns]
        np.testing.assert_allclose(ours, expected, rtol=RANEF_TOL)


def test_fitted_values_and_residuals(fit_key):
    ref, fit = _ref(fit_key), fitted(fit_key)
    np.testing.assert_allclose(fit.fitted().iloc[:10], ref["fitted_head"], rtol=1e-5)
    np.testing.assert_allclose(
        fit.residuals().iloc[:10], ref["residuals_head"], rtol=1e-3, atol=1e-4
    )
