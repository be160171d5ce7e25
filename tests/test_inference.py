"""Inference for mixed models against lmerTest 3.1-3, pbkrtest 0.5.2 and lme4 (reference JSON).

Tolerances (issue 3): denominator df 1e-3 relative; standard errors 1e-4 relative.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixnb
from conftest import fitted, python_term, reference

DF_RTOL = 1e-3
SE_RTOL = 1e-4


def _table(ref_block: dict) -> pd.DataFrame:
    frame = pd.DataFrame(ref_block).T
    frame.index = [python_term(i) for i in frame.index]
    return frame


def test_satterthwaite_matches_lmertest(fit_key):
    ref = _table(reference()["fits"][fit_key]["satterthwaite"])
    ours = fitted(fit_key).fixed_effects
    np.testing.assert_allclose(ours["df"], ref["df"].astype(float), rtol=DF_RTOL)
    np.testing.assert_allclose(ours["std_error"], ref["se"].astype(float), rtol=SE_RTOL)
    np.testing.assert_allclose(ours["t"], ref["t"].astype(float), rtol=SE_RTOL)
    _check_p_values(ours, ref)


def _check_p_values(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    """p from our t on the reference df equals the reference p (df are checked separately:
    far in the tail a df difference within tolerance moves p by more than 1e-3)."""
    from scipy import stats

    p = 2 * stats.t.sf(np.abs(ours["t"]), ref["df"].astype(float))
    np.testing.assert_allclose(p, ref["p"].astype(float), rtol=1e-3, atol=1e-300)


@pytest.mark.parametrize("key", [k for k, v in reference()["fits"].items() if v["reml"]])
def test_kenward_roger_matches_pbkrtest(key):
    ref = _table(reference()["fits"][key]["kenward_roger"])
    ours = fitted(key).test_fixed("kenward-roger")
    np.testing.assert_allclose(ours["df"], ref["df"].astype(float), rtol=DF_RTOL)
    np.testing.assert_allclose(ours["std_error"], ref["se"].astype(float), rtol=SE_RTOL)
    _check_p_values(ours, ref)


def test_kenward_roger_refuses_ml_fits():
    with pytest.raises(mixnb.MixnbError, match="REML fits only"):
        fitted("sleepstudy_rs_ml").test_fixed("kenward-roger")


@pytest.mark.parametrize("ddf, key", [("satterthwaite", "anova_satterthwaite"), ("kr", "anova_kr")])
def test_type3_anova_matches_lmertest(ddf, key):
    ref = pd.DataFrame(reference()["fits"]["cake_reml"][key]).T
    ours = fitted("cake_reml").anova(ddf=ddf).table
    assert list(ours.index) == list(ref.index)
    np.testing.assert_allclose(ours["F"], ref["F"].astype(float), rtol=1e-4)
    np.testing.assert_allclose(ours["numdf"], ref["numdf"].astype(float))
    np.testing.assert_allclose(ours["dendf"], ref["dendf"].astype(float), rtol=DF_RTOL)
    np.testing.assert_allclose(ours["sum_sq"], ref["sum_sq"].astype(float), rtol=1e-3)
    np.testing.assert_allclose(ours["p"], ref["p"].astype(float), rtol=1e-3)


@pytest.mark.parametrize(
    "ddf, key", [("satterthwaite", "contest_satterthwaite"), ("kr", "contest_kr")]
)
def test_multivariate_wald_test_matches_contest(ddf, key):
    spec = reference()["fits"]["cake_reml"]
    ref = spec[key]
    fit = fitted("cake_reml")
    by_matrix = fit.wald_test(np.array(spec["contest_L"], dtype=float), ddf=ddf)
    by_name = fit.wald_test("recipe", ddf=ddf)
    for result in (by_matrix, by_name):
        assert result.f == pytest.approx(ref["F"], rel=1e-4)
        assert result.table["numdf"].iloc[0] == ref["numdf"]
        assert result.table["dendf"].iloc[0] == pytest.approx(ref["dendf"], rel=DF_RTOL)
        assert result.p == pytest.approx(ref["p"], rel=1e-3)
        assert result.table["chisq"].iloc[0] == pytest.approx(2 * ref["F"], rel=1e-4)


def test_wald_test_rejects_dependent_rows_and_unknown_names():
    fit = fitted("sleepstudy_rs_reml")
    with pytest.raises(mixnb.MixnbError, match="linearly dependent"):
        fit.wald_test([[0, 1], [0, 2]])
    with pytest.raises(mixnb.MixnbError, match="neither a model term"):
        fit.wald_test("Dayz")


def test_likelihood_ratio_table_matches_lme4_anova():
    ref = reference()["lrt"]["rows"]
    table = mixnb.compare(fitted("sleepstudy_ri_ml"), fitted("sleepstudy_rs_ml")).table
    for ours, theirs in zip(table.itertuples(), ref):
        assert ours.npar == theirs["npar"]
        assert ours.aic == pytest.approx(theirs["AIC"], abs=2e-3)
        assert ours.bic == pytest.approx(theirs["BIC"], abs=2e-3)
        assert ours.loglik == pytest.approx(theirs["logLik"], abs=1e-3)
        assert ours.deviance == pytest.approx(theirs["deviance"], abs=2e-3)
    assert table["chisq"].iloc[1] == pytest.approx(ref[1]["Chisq"], abs=2e-3)
    assert table["df"].iloc[1] == ref[1]["Df"]
    assert table["p"].iloc[1] == pytest.approx(ref[1]["p"], rel=1e-3)


def test_boundary_mixture_halves_the_p_value_for_one_variance():
    data = mixnb.load_dataset("sleepstudy")
    ri = mixnb.lmm("Reaction ~ Days + (1 | Subject)", data, reml=False)
    ols = mixnb.ols("Reaction ~ Days", data)
    result = mixnb.compare(ols, ri)
    row = result.table.iloc[1]
    assert row["df"] == 1
    assert row["p_mixture"] == pytest.approx(row["p"] / 2, rel=1e-12)
    assert any("Self & Liang" in n for n in result.notes)
    # random slope added to a random intercept: 50:50 mixture of chi2(1) and chi2(2)
    rs = mixnb.lmm("Reaction ~ Days + (Days | Subject)", data, reml=False)
    from scipy import stats

    row = mixnb.compare(ri, rs).table.iloc[1]
    expected = 0.5 * stats.chi2.sf(row["chisq"], 1) + 0.5 * stats.chi2.sf(row["chisq"], 2)
    assert row["p_mixture"] == pytest.approx(expected, rel=1e-12)


def test_reml_fits_with_different_fixed_parts_are_refitted_by_ml():
    data = mixnb.load_dataset("sleepstudy")
    big = mixnb.lmm("Reaction ~ Days + (1 | Subject)", data)
    small = mixnb.lmm("Reaction ~ 1 + (1 | Subject)", data)
    result = mixnb.compare(small, big)
    assert any("refitted by maximum likelihood" in n for n in result.notes)
    ml_big = mixnb.lmm("Reaction ~ Days + (1 | Subject)", data, reml=False)
    assert result.table["loglik"].iloc[1] == pytest.approx(ml_big.loglik, abs=1e-6)
    # same fixed part: the REML likelihoods are compared as they are
    reml_rs = mixnb.lmm("Reaction ~ Days + (Days | Subject)", data)
    same = mixnb.compare(big, reml_rs)
    assert "REML" in same.title
    assert same.table["loglik"].iloc[0] == pytest.approx(big.loglik)


def test_fits_to_different_data_are_refused():
    data = mixnb.load_dataset("sleepstudy")
    a = mixnb.lmm("Reaction ~ Days + (1 | Subject)", data, reml=False)
    b = mixnb.lmm("Reaction ~ Days + (1 | Subject)", data.iloc[:170], reml=False)
    with pytest.raises(mixnb.ModelError, match="different data"):
        mixnb.compare(a, b)


def _players(seed: int = 0) -> pd.DataFrame:
    """20 players x (10 day + 10 night games): the shape of the seed's SAS example."""
    rng = np.random.default_rng(seed)
    player = np.repeat(np.arange(1, 21), 20)
    night = np.tile(np.repeat([0, 1], 10), 20)
    average = 0.285 - 0.0045 * night + rng.normal(0, 0.023, 20)[player - 1]
    average = average + rng.normal(0, 0.010, 400)
    return pd.DataFrame({"player": player, "day": np.where(night, "N", "D"), "average": average})


@pytest.mark.parametrize("method", ["between-within", "containment"])
def test_sas_df_methods_reproduce_19_and_379(method):
    fit = mixnb.lmm("average ~ day + (1 | player)", _players())
    table = fit.test_fixed(method)
    assert table["df"].tolist() == [19.0, 379.0]
    assert table.attrs["ddf"] == method


def test_residual_and_normal_df():
    fit = mixnb.lmm("average ~ day + (1 | player)", _players())
    assert fit.test_fixed("residual")["df"].tolist() == [398.0, 398.0]
    normal = fit.test_fixed("normal")
    assert np.isinf(normal["df"]).all()
    from scipy import stats

    assert normal["p"].iloc[1] == pytest.approx(2 * stats.norm.sf(abs(normal["t"].iloc[1])))


def test_homogeneity_test_equals_one_way_anova_on_balanced_data():
    """Random intercept, balanced groups: chisq = (J - 1) F of the one-way ANOVA."""
    data = mixnb.load_dataset("dyestuff")
    fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", data)
    row = fit.homogeneity_test().table.loc["Intercept"]
    f_anova = mixnb.ols("Yield ~ C(Batch)", data).f_test[0]
    assert row["df"] == 5
    assert row["chisq"] == pytest.approx(5 * f_anova, rel=1e-10)


def test_homogeneity_test_matches_a_direct_per_group_loop():
    data = mixnb.load_dataset("sleepstudy")
    fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", data)
    table = fit.homogeneity_test().table
    beta = fit.fixed_effects["estimate"].to_numpy()
    own, var, rss, dof = [], [], 0.0, 0
    for _, group in data.groupby("Subject"):
        d = np.column_stack([np.ones(len(group)), group["Days"]])
        coef, res, *_ = np.linalg.lstsq(d, group["Reaction"].to_numpy(), rcond=None)
        own.append(coef)
        var.append(np.diag(np.linalg.inv(d.T @ d)))
        rss += float(res[0])
        dof += len(group) - 2
    sigma2 = rss / dof
    chisq = (((np.array(own) - beta) ** 2) / (sigma2 * np.array(var))).sum(axis=0)
    np.testing.assert_allclose(table["chisq"], chisq, rtol=1e-10)
    assert table["df"].tolist() == [17.0, 17.0]
    tau = fit.variance_components.set_index("term1")["estimate"]
    reliability = (tau["Days"] / (tau["Days"] + sigma2 * np.array(var)[:, 1])).mean()
    assert table.loc["Days", "reliability"] == pytest.approx(reliability, rel=1e-10)


def _direct_homogeneity(data, group, response, level1, tested, beta_of, tau):
    """Bryk & Raudenbush by a plain loop: each group's OLS on (1, level-1 columns)."""
    own, var, predicted, rss, dof = [], [], [], 0.0, 0
    for _, rows in data.groupby(group):
        d = np.column_stack([np.ones(len(rows))] + [rows[c] for c in level1])
        coef, res, *_ = np.linalg.lstsq(d, rows[response].to_numpy(), rcond=None)
        own.append(coef[: len(tested)])
        var.append(np.diag(np.linalg.inv(d.T @ d))[: len(tested)])
        predicted.append(beta_of(rows))
        rss += float(res[0])
        dof += len(rows) - d.shape[1]
    sigma2 = rss / dof
    var = sigma2 * np.array(var)
    chisq = ((np.array(own) - np.array(predicted)) ** 2 / var).sum(axis=0)
    return chisq, (tau / (tau + var)).mean(axis=0)


@pytest.mark.parametrize(
    ("dataset", "formula", "group", "covariate"),
    [
        ("sleepstudy", "Reaction ~ Days + (1 | Subject)", "Subject", "Days"),
        ("treatment_centers", "return ~ use + (1 | center)", "center", "use"),
    ],
)
def test_homogeneity_test_puts_level1_covariates_in_each_groups_regression(
    dataset, formula, group, covariate
):
    """Issue 10, item 7: the per-group fits include the fixed level-1 covariate (Bryk and
    Raudenbush), so the intercepts compared are each group's own, at covariate 0."""
    data = mixnb.load_dataset(dataset)
    fit = mixnb.lmm(formula, data)
    result = fit.homogeneity_test()
    row = result.table.loc["Intercept"]
    beta = fit.fixed_effects["estimate"]
    tau = fit.variance_components.set_index("group").loc[group, "estimate"]
    chisq, reliability = _direct_homogeneity(
        data,
        group,
        fit.design.response_name,
        [covariate],
        ["Intercept"],
        lambda rows: [beta["Intercept"]],
        tau,
    )
    assert row["chisq"] == pytest.approx(chisq[0], rel=1e-10)
    assert row["reliability"] == pytest.approx(reliability[0], rel=1e-10)
    assert row["df"] == data[group].nunique() - 1
    assert any(f"level-1 covariate(s) {covariate}" in note for note in result.notes)


def test_homogeneity_test_with_level1_covariate_and_level2_predictor():
    """Days is a level-1 covariate, z predicts the intercept (df J - 2) and Days:z is a
    cross-level interaction on the fixed Days slope, not a level-1 column."""
    data = mixnb.load_dataset("sleepstudy")
    data = data.assign(z=(data["Subject"] % 2).astype(float))
    fit = mixnb.lmm("Reaction ~ Days * z + (1 | Subject)", data)
    row = fit.homogeneity_test().table.loc["Intercept"]
    beta = fit.fixed_effects["estimate"]
    tau = fit.variance_components.set_index("group").loc["Subject", "estimate"]
    chisq, _ = _direct_homogeneity(
        data,
        "Subject",
        "Reaction",
        ["Days"],
        ["Intercept"],
        lambda rows: [beta["Intercept"] + beta["z"] * rows["z"].iloc[0]],
        tau,
    )
    assert row["chisq"] == pytest.approx(chisq[0], rel=1e-10)
    assert row["df"] == 18 - 2


def test_homogeneity_test_counts_level2_predictors():
    data = mixnb.load_dataset("sleepstudy")
    data = data.assign(z=(data["Subject"] % 2).astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.MixnbWarning)
        fit = mixnb.lmm("Reaction ~ Days * z + (Days | Subject)", data)
    assert fit.homogeneity_test().table["df"].tolist() == [16.0, 16.0]


def test_seed_batting_example_in_sas_layout_with_between_within_df():
    """The seed's SAS output: DF 19 and 379, t 54.77 and -4.38, on the batting data."""
    fit = mixnb.lmm("average ~ day + (1 | player)", mixnb.load_dataset("batting"))
    table = fit.test_fixed("between-within")
    assert table["df"].tolist() == [19.0, 379.0]
    assert [round(t, 2) for t in table["t"]] == [54.77, -4.38]
    text = fit.summary(style="sas", ddf="between-within")
    assert "Between-Within" in text
    solution = text.split("Solution for Fixed Effects")[1]
    assert "   19 " in solution and "  379 " in solution
