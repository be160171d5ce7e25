"""Crossed and nested random effects against lme4 1.1-31 with a tight optimizer.

References: tests/reference/crossed_reference.json, made by crossed_reference.R (lmerTest's
lmer, nloptwrap BOBYQA with xtol_abs 1e-12 and ftol_abs 1e-14) on the data in
tests/data/crossed/: a simulated crossed set (150 x 40 levels, a random slope on the
larger factor), a simulated nested set (300 schools in 30 districts, a school-level
slope), mlmRev's ScotsSec (3435 pupils, 148 primary x 19 secondary schools, crossed) and
mlmRev's egsingle (7230 scores, 1721 children in 60 schools, random slopes at both levels).
Each model is fitted by REML and ML; the fits run through the blocked system
(:mod:`mixnb.estimation.blocked`).

Tolerances: the REML criterion / deviance 1e-7 relative; fixed effects, their standard
errors, the residual SD and the variances and covariances (lme4's ``VarCorr``) 1e-5
relative (1e-6 absolute, in the units of the estimate's scale, for estimates near zero);
conditional modes and their conditional SDs 1e-4 relative to the largest of the factor
(they inherit the estimates' 1e-6 error amplified by the shrinkage); Satterthwaite df
1e-3 relative (lmerTest's numDeriv Hessian, as in test_inference.py).
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixnb
from mixnb.estimation.blocked import BlockedSystem

HERE = Path(__file__).parent
REFERENCE = HERE / "reference" / "crossed_reference.json"
DATA = HERE / "data" / "crossed"

CRITERION_RTOL = 1e-7
ESTIMATE_RTOL = 1e-5
ESTIMATE_ATOL = 1e-6
MODE_TOL = 1e-4
DF_RTOL = 1e-3


@cache
def _reference() -> dict:
    return json.loads(REFERENCE.read_text())


@cache
def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv.gz", dtype={"primary": str, "second": str})


@cache
def _fit(key: str) -> mixnb.LmmResult:
    spec = _reference()["fits"][key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.SingularFitWarning)
        return mixnb.lmm(spec["formula"], _data(spec["dataset"]), reml=spec["reml"])


KEYS = sorted(_reference()["fits"])


def _term(name: str) -> str:
    if name == "(Intercept)":
        return "Intercept"
    return name.replace("sexM", "sex[T.M]")


@pytest.fixture(params=KEYS)
def key(request) -> str:
    return request.param


def test_fits_use_the_blocked_system(key):
    spec = _reference()["fits"][key]
    design = mixnb.design.build_design(spec["formula"], _data(spec["dataset"]))
    assert isinstance(mixnb.estimation.pls.make_system(design), BlockedSystem)


def test_criterion(key):
    spec, fit = _reference()["fits"][key], _fit(key)
    np.testing.assert_allclose(fit.estimates.objective, spec["criterion"], rtol=CRITERION_RTOL)
    assert fit.estimates.converged


def test_fixed_effects_and_standard_errors(key):
    spec, fit = _reference()["fits"][key], _fit(key)
    fe = fit.fixed_effects
    assert list(fe.index) == [_term(n) for n in spec["fixef"]]
    np.testing.assert_allclose(fe["estimate"], list(spec["fixef"].values()), rtol=ESTIMATE_RTOL)
    np.testing.assert_allclose(fe["std_error"], spec["fixef_se"], rtol=ESTIMATE_RTOL)
    np.testing.assert_allclose(fit.vcov.to_numpy(), np.array(spec["vcov"]), rtol=ESTIMATE_RTOL)


def test_variance_components(key):
    spec, fit = _reference()["fits"][key], _fit(key)
    ours = fit.variance_components.set_index(["group", "term1", "term2"])
    assert len(ours) == len(spec["varcorr"])
    for row in spec["varcorr"]:
        if row["grp"] == "Residual":
            index = ("Residual", "", "")
        else:
            t1 = _term(row["var1"])
            index = (row["grp"], t1, _term(row["var2"]) if row["var2"] else t1)
        mine = ours.loc[index]
        for column, value in (("estimate", row["vcov"]), ("sd_corr", row["sdcor"])):
            np.testing.assert_allclose(
                mine[column], value, rtol=ESTIMATE_RTOL, atol=ESTIMATE_ATOL, err_msg=str(index)
            )
    np.testing.assert_allclose(np.sqrt(fit.estimates.sigma2), spec["sigma"], rtol=ESTIMATE_RTOL)


def test_conditional_modes_and_variances(key):
    spec, fit = _reference()["fits"][key], _fit(key)
    for group, ref in spec["ranef"].items():
        ours = fit.random_effects[group]
        ours = ours.loc[[type(ours.index[0])(level) for level in ref["levels"]]]
        columns = ref["columns"] if isinstance(ref["columns"], list) else [ref["columns"]]
        assert [_term(c) for c in columns] == list(ours.columns)
        values = np.array(ref["values"]).reshape(len(ref["levels"]), -1)
        scale = np.max(np.abs(values))
        np.testing.assert_allclose(ours.to_numpy(), values, atol=MODE_TOL * scale)
        condsd = np.array(ref["condsd"]).reshape(len(ref["levels"]), -1)
        mine = np.sqrt(np.diagonal(fit.estimates.conditional_covariances[group], axis1=1, axis2=2))
        positions = fit.random_effects[group].index.get_indexer(ours.index)
        np.testing.assert_allclose(
            mine[positions], condsd, atol=MODE_TOL * np.max(condsd), err_msg=group
        )


def test_satterthwaite_df(key):
    spec, fit = _reference()["fits"][key], _fit(key)
    np.testing.assert_allclose(fit.fixed_effects["df"], spec["df"], rtol=DF_RTOL)


def test_fewer_evaluations_than_lme4(key):
    """The analytic gradient: L-BFGS-B needs no more deviance evaluations than lme4's
    BOBYQA at lme4's default settings (ours include the Newton polish and the checks)."""
    spec, fit = _reference()["fits"][key], _fit(key)
    assert fit.estimates.n_evaluations <= spec["n_evaluations_default"]
