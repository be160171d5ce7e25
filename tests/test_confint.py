"""Confidence intervals (Wald, profile, bootstrap) and the parametric-bootstrap LRT.

Profile and Wald intervals are compared with lme4's ``confint`` (``confint`` key of the
reference JSON, written by ``tests/reference/make_reference.R``).
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest

import mixnb
from conftest import fitted, python_term, reference
from mixnb.errors import MixnbError, ModelError

CONFINT_KEYS = sorted(reference()["confint"])


def _r_table(key: str, method: str) -> pd.DataFrame:
    rows = reference()["confint"][key][method]
    return pd.DataFrame(
        {
            "r_name": [r["parameter"] for r in rows],
            "lower": [np.nan if r["lower"] is None else r["lower"] for r in rows],
            "upper": [np.nan if r["upper"] is None else r["upper"] for r in rows],
        }
    )


def _check_names(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Same parameters in the same order: sdcor rows by position, then fixed effects by name."""
    assert len(ours) == len(theirs)
    for name, r_name in zip(ours.index, theirs["r_name"]):
        if r_name.startswith(".sig"):
            assert name.endswith(")") or name == "Residual: sd"
            assert (name == "Residual: sd") == (r_name == ".sigma")
        else:
            assert name == python_term(r_name)


@pytest.mark.parametrize("key", CONFINT_KEYS)
def test_profile_intervals_match_lme4(key):
    ours = fitted(key).confint(method="profile")
    theirs = _r_table(key, "profile")
    _check_names(ours, theirs)
    assert ours.attrs["level"] == 0.95 and ours.attrs["method"] == "profile"
    # lme4 interpolates a spline through its profile points; the limits here are exact
    # roots. They agree to ~2e-4 relative; the brief's bound is 1e-2.
    np.testing.assert_allclose(ours["lower"], theirs["lower"], rtol=2e-3, atol=1e-8)
    np.testing.assert_allclose(ours["upper"], theirs["upper"], rtol=2e-3, atol=1e-8)


@pytest.mark.parametrize("key", CONFINT_KEYS)
def test_wald_intervals_match_lme4(key):
    ours = fitted(key).confint(method="wald")
    theirs = _r_table(key, "wald")
    _check_names(ours, theirs)
    variance = theirs["r_name"].str.startswith(".sig").to_numpy()
    assert ours["lower"][variance].isna().all() and ours["upper"][variance].isna().all()
    # beta +- z * SE: as close as the SEs, which follow lme4's theta (to ~2e-5 relative for
    # sleepstudy ML, where lme4's optimiser stops early): the limits agree to < 2e-6
    for column in ("lower", "upper"):
        np.testing.assert_allclose(
            ours[column][~variance], theirs[column][~variance], rtol=1e-5, atol=1e-9
        )


def test_reml_profile_is_the_ml_profile_as_in_lme4():
    reml = fitted("sleepstudy_rs_reml").confint()
    ml = fitted("sleepstudy_rs_ml").confint()
    np.testing.assert_allclose(reml.to_numpy(), ml.to_numpy(), rtol=1e-5)
    assert any("REML" in note for note in reml.attrs["notes"])


def test_profile_table_is_tidy_and_centred():
    fit = fitted("sleepstudy_rs_ml")
    prof = fit.profile()
    assert prof.columns.tolist() == ["parameter", "value", "zeta"]
    names = fit.confint().index.tolist()
    assert list(prof["parameter"].cat.categories) == names
    for name, trace in prof.groupby("parameter", observed=True):
        centre = prof.attrs["estimates"][name]
        at_centre = trace.loc[np.isclose(trace["value"], centre, rtol=0, atol=1e-12), "zeta"]
        assert at_centre.tolist() == [0.0]
        assert np.all(np.diff(trace["zeta"].to_numpy()) > 0), name  # increasing in the value
        assert trace["zeta"].min() < -1.96 and trace["zeta"].max() > 1.96
    # computed once: a second call gives the same trace
    assert fit.profile().equals(prof)


def test_singular_fit_profile_reaches_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.SingularFitWarning)
        fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff2"), reml=False)
    ci = fit.confint()
    # lme4 1.1-31: .sig01 (0, 2.0840435), .sigma (2.8928310, 4.8158326),
    # (Intercept) (4.3121002, 7.0190923): its spline is off by ~2e-4 where the fit is singular
    assert ci.loc["Batch: sd(Intercept)", "lower"] == 0.0
    expected = [[0.0, 2.0840435], [2.8928310, 4.8158326], [4.3121002, 7.0190923]]
    np.testing.assert_allclose(ci.to_numpy(), expected, rtol=2e-3, atol=1e-8)


def test_bad_arguments():
    fit = fitted("dyestuff_reml")
    with pytest.raises(MixnbError, match="Unknown method"):
        fit.confint(method="jackknife")
    with pytest.raises(MixnbError, match="level"):
        fit.confint(method="wald", level=95)
    with pytest.raises(MixnbError, match="nsim"):
        mixnb.bootstrap(fit, nsim=0)


# --------------------------------------------------------------------------- bootstrap


@cache
def _dyestuff_bootstrap(seed: int):
    return mixnb.bootstrap(fitted("dyestuff_reml"), nsim=200, seed=seed, progress=False)


def test_bootstrap_is_reproducible():
    first = _dyestuff_bootstrap(1)
    again = mixnb.bootstrap(fitted("dyestuff_reml"), nsim=20, seed=1, progress=False)
    # the same seed gives the same draws: the 20 replicates are the first 20 of the 200
    np.testing.assert_array_equal(again.replicates.to_numpy(), first.replicates.to_numpy()[:20])
    other = _dyestuff_bootstrap(2)
    assert not np.allclose(other.replicates.to_numpy(), first.replicates.to_numpy())


def test_bootstrap_percentile_intervals_are_sensible():
    boot = _dyestuff_bootstrap(1)
    assert boot.nsim == 200 and boot.replicates.shape == (200, 3)
    table = boot.table
    assert (table["lower"] <= table["estimate"]).all()
    assert (table["estimate"] <= table["upper"]).all()
    profile = fitted("dyestuff_reml").confint()
    ours = boot.intervals(0.95)
    assert ours.attrs["method"] == "bootstrap" and ours.index.equals(profile.index)
    # residual SD and intercept: close to the profile limits
    for name in ("Residual: sd", "Intercept"):
        np.testing.assert_allclose(ours.loc[name], profile.loc[name], rtol=0.1)
    # batch SD: 6 batches, many singular refits, so the lower percentile is near 0
    sd = ours.loc["Batch: sd(Intercept)"]
    assert 0 <= sd["lower"] < profile.loc["Batch: sd(Intercept)", "lower"]
    assert sd["upper"] == pytest.approx(profile.loc["Batch: sd(Intercept)", "upper"], rel=0.3)
    # confint(method="bootstrap") is the same computation
    via_confint = fitted("dyestuff_reml").confint("bootstrap", nsim=200, seed=1, progress=False)
    pd.testing.assert_frame_equal(via_confint, ours)
    assert "BootstrapIntervals" not in repr(boot) and boot.title in repr(boot)


@cache
def _sleepstudy_lrt():
    ri = fitted("sleepstudy_ri_reml")
    rs = fitted("sleepstudy_rs_reml")
    return mixnb.bootstrap(rs, ri, nsim=40, seed=1, progress=False)  # either order


def test_bootstrap_lrt_random_slope():
    test = _sleepstudy_lrt()
    rows = reference()["lrt"]["rows"]
    # the statistic is the ML likelihood ratio of lme4's anova (REML fits refitted by ML)
    assert test.statistic == pytest.approx(rows[1]["Chisq"], rel=1e-5)
    assert test.df == rows[1]["Df"] == 2
    assert test.p_value_chisq == pytest.approx(rows[1]["p"], rel=1e-3)
    assert test.nsim == 40 and test.statistics.shape == (40,)
    # no simulated statistic comes near 42: p is the smallest possible, 1 / (1 + nsim)
    assert test.p_value == pytest.approx(1 / 41)
    assert test.p_value_pbkrtest <= 1 / 21
    assert np.all(test.statistics > -1e-6)
    assert test.table.loc["parametric bootstrap", "p"] == test.p_value
    assert any("refitted by ML" in note for note in test.notes)


def test_bootstrap_lrt_is_reproducible():
    ri = fitted("sleepstudy_ri_ml")
    rs = fitted("sleepstudy_rs_ml")
    again = mixnb.bootstrap(ri, rs, nsim=10, seed=1, progress=False)
    # REML fits are refitted by ML first, so the two runs agree up to optimiser tolerance
    np.testing.assert_allclose(
        again.statistics, _sleepstudy_lrt().statistics[:10], rtol=1e-4, atol=1e-4
    )


def test_bootstrap_lrt_needs_nested_fits_on_the_same_rows():
    with pytest.raises(ModelError, match="same number of parameters"):
        mixnb.bootstrap(fitted("sleepstudy_rs_ml"), fitted("sleepstudy_rs_reml"), nsim=2)
    with pytest.raises(ModelError, match="different rows"):
        mixnb.bootstrap(fitted("dyestuff_ml"), fitted("sleepstudy_rs_ml"), nsim=2)
