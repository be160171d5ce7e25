"""mixnb.glmm at the edges: separation, bad input, zero variance, overdispersion, and the
result's methods (prediction, comparison, ratios, ICC, display)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixnb
from mixnb.errors import (
    ConvergenceWarning,
    DataError,
    FormulaError,
    MixnbError,
    ModelError,
    SingularFitWarning,
    UnseenLevelWarning,
)

CBPP = "cbind(incidence, size - incidence) ~ C(period) + (1 | herd)"


@pytest.fixture(scope="module")
def cbpp():
    return mixnb.load_dataset("cbpp")


@pytest.fixture(scope="module")
def herds(cbpp):
    return mixnb.glmm(CBPP, cbpp)


def binary_groups(n_groups=30, size=12, sd=1.0, seed=0, slope=0.8):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), size)
    x = rng.normal(size=len(g))
    eta = -0.3 + slope * x + rng.normal(scale=sd, size=n_groups)[g]
    y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k}" for k in g]})


# --------------------------------------------------------------------------- separation


def test_complete_separation_is_detected_and_named():
    data = binary_groups(seed=1)
    data["y"] = (data["x"] > 0).astype(int)
    with pytest.warns(ConvergenceWarning, match="separated.*'x'"):
        fit = mixnb.glmm("y ~ x + (1 | g)", data)
    assert fit.separated == ["x"] or "x" in fit.separated
    assert any("separated" in note for note in fit.notes)


def test_quasi_complete_separation_by_a_category():
    data = binary_groups(seed=2)
    data["site"] = np.where(np.arange(len(data)) % 3 == 0, "a", "b")
    data.loc[data["site"] == "a", "y"] = 0  # site a never has an event
    with pytest.warns(ConvergenceWarning, match="separated"):
        fit = mixnb.glmm("y ~ x + site + (1 | g)", data)
    assert any("site" in c for c in fit.separated)


def test_predictor_scales_are_explained():
    data = binary_groups(seed=8)
    rng = np.random.default_rng(8)
    data["income"] = rng.normal(size=len(data)) * 1e4
    data["w"] = rng.normal(size=len(data)) * 1e-2
    fit = mixnb.glmm("y ~ income + (1 | g)", data)
    assert fit.scale_note() is None  # one varying column
    fit = mixnb.glmm("y ~ income + w + (1 | g)", data)
    assert any("very different scales" in note for note in fit.notes)


def test_no_separation_no_warning(herds):
    assert herds.separated == []


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"family": "gaussian"}, ModelError, "mixnb.lmm"),
        ({"family": "gamma"}, MixnbError, "Unknown family"),
        ({"link": "identity"}, MixnbError, "link"),
        ({"nagq": -1}, ModelError, "whole number"),
        ({"nagq": 2.5}, ModelError, "whole number"),
        ({"nagq": 30}, ModelError, "0 to 25"),
        ({"weights": "nope"}, DataError, "names no column"),
    ],
)
def test_bad_arguments(cbpp, kwargs, error, words):
    with pytest.raises(error, match=words):
        mixnb.glmm(CBPP, cbpp, **kwargs)


def test_bad_responses(cbpp):
    with pytest.raises(DataError, match="outside"):
        mixnb.glmm("size ~ C(period) + (1 | herd)", cbpp)
    with pytest.raises(DataError, match="negative"):
        mixnb.glmm("y ~ C(period) + (1 | herd)", cbpp.assign(y=-cbpp["size"]), family="poisson")
    with pytest.raises(FormulaError, match="binomial"):
        mixnb.glmm(CBPP, cbpp, family="poisson")
    with pytest.raises(FormulaError, match="two arguments"):
        mixnb.glmm("cbind(incidence) ~ C(period) + (1 | herd)", cbpp)
    with pytest.raises(DataError, match="not a column"):
        mixnb.glmm("cbind(incidence, sizes - incidence) ~ C(period) + (1 | herd)", cbpp)
    with pytest.raises(DataError, match="negative"):
        mixnb.glmm("cbind(incidence, incidence - size) ~ C(period) + (1 | herd)", cbpp)
    three = cbpp.assign(r=np.resize(["a", "b", "c"], len(cbpp)))
    with pytest.raises(DataError, match="two outcomes"):
        mixnb.glmm("r ~ C(period) + (1 | herd)", three)
    with pytest.raises(DataError, match="positive"):
        mixnb.glmm("incidence ~ (1 | herd)", cbpp, family="poisson", weights=-cbpp["size"])
    with pytest.raises(DataError, match="DataFrame"):
        mixnb.glmm(CBPP, cbpp.to_dict())
    with pytest.raises(FormulaError, match="no random-effect term"):
        mixnb.glmm("cbind(incidence, size - incidence) ~ C(period)", cbpp)


def test_quadrature_needs_a_scalar_or_nested_random_effect():
    data = binary_groups(seed=3)
    with pytest.raises(ModelError, match="single scalar"):
        mixnb.glmm("y ~ x + (x | g)", data, nagq=5)
    crossed = data.assign(h=np.resize(["h1", "h2", "h3", "h4"], len(data)))
    with pytest.raises(ModelError, match="crossed"):
        mixnb.glmm("y ~ x + (1 | g) + (1 | h)", crossed, nagq=5)


def test_two_labels_are_a_binary_response():
    data = binary_groups(seed=4)
    labelled = data.assign(y=np.where(data["y"] == 1, "yes", "no"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = mixnb.glmm("y ~ x + (1 | g)", labelled)
        b = mixnb.glmm("y ~ x + (1 | g)", data)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-8)
    assert any("'yes' counts as a success" in n for n in a.notes)


def test_missing_values_are_dropped_and_reported(cbpp):
    data = cbpp.astype({"incidence": float}).copy()
    data.loc[3, "incidence"] = np.nan
    with pytest.warns(mixnb.MissingDataWarning):
        fit = mixnb.glmm(CBPP, data)
    assert fit.nobs == len(cbpp) - 1


# --------------------------------------------------------------------------- boundaries


def test_zero_variance_is_a_singular_fit():
    rng = np.random.default_rng(5)
    data = binary_groups(seed=5, sd=0.0, n_groups=20, size=30)
    data["y"] = rng.binomial(1, 0.4, size=len(data))  # no group effect at all
    with pytest.warns(SingularFitWarning):
        fit = mixnb.glmm("y ~ x + (1 | g)", data)
    assert fit.is_singular
    assert fit.theta[0] == pytest.approx(0.0, abs=1e-4)
    assert np.all(np.isfinite(fit.fixed_effects["std_error"]))
    # with no random effect left, the fixed effects are the logistic regression's
    glm = mixnb.glmm("y ~ x + (1 | g)", data, nagq=0)
    np.testing.assert_allclose(
        fit.fixed_effects["estimate"], glm.fixed_effects["estimate"], atol=1e-4
    )


def test_poisson_overdispersion_is_flagged():
    rng = np.random.default_rng(6)
    n_groups, size = 25, 16
    g = np.repeat(np.arange(n_groups), size)
    lam = np.exp(1.0 + rng.normal(scale=0.3, size=n_groups)[g])
    counts = rng.negative_binomial(2, 2 / (2 + lam))  # variance lam + lam^2 / 2
    data = pd.DataFrame({"y": counts, "g": g, "obs": np.arange(len(g))})
    fit = mixnb.glmm("y ~ 1 + (1 | g)", data, family="poisson")
    check = fit.overdispersion()
    assert check["ratio"] > 1.5 and check["p"] < 0.01
    assert any("overdispersed" in note for note in fit.notes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        olre = mixnb.glmm("y ~ 1 + (1 | g) + (1 | obs)", data, family="poisson")
    assert olre.loglik > fit.loglik + 10  # the observation-level effect absorbs it
    assert not any("overdispersed" in note for note in olre.notes)


# --------------------------------------------------------------------------- methods


def test_predictions(herds, cbpp):
    fitted = herds.fitted()
    np.testing.assert_allclose(herds.predict(cbpp), fitted.to_numpy(), rtol=1e-10)
    link = herds.predict(cbpp, scale="link", include_random=False)
    np.testing.assert_allclose(link, herds.response.x @ herds.estimates.beta, rtol=1e-12)
    marginal = herds.predict(cbpp, marginal=True)
    typical = herds.predict(cbpp, include_random=False)
    # averaging over the herds pulls probabilities below 1/2 up (Jensen), towards 1/2
    assert np.all(marginal > typical) and np.all(marginal < 0.5)
    # the population average by brute force for one row
    sd = np.sqrt(herds.variance_components["estimate"].iloc[0])
    grid = np.linspace(-10, 10, 20001)
    dens = np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi)
    brute = np.sum(1 / (1 + np.exp(-(link[0] + sd * grid))) * dens) * (grid[1] - grid[0])
    assert marginal.iloc[0] == pytest.approx(brute, abs=1e-10)
    new = cbpp.head(2).assign(herd=[99, 100])
    with pytest.warns(UnseenLevelWarning):
        out = herds.predict(new)
    np.testing.assert_allclose(out, herds.predict(new, include_random=False))


def test_compare_is_a_likelihood_ratio_test(herds, cbpp):
    small = mixnb.glmm("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp)
    table = herds.compare(small, names=["period", "null"]).table
    assert list(table.index) == ["null", "period"]
    row = table.loc["period"]
    assert row["chisq"] == pytest.approx(2 * (herds.loglik - small.loglik))
    assert row["df"] == 3 and 0 < row["p"] < 1e-3
    with pytest.raises(ModelError, match="different rows"):
        herds.compare(mixnb.glmm(CBPP, cbpp.iloc[:-4]))
    via_api = mixnb.compare(small, herds)
    assert via_api.table["chisq"].iloc[1] == pytest.approx(row["chisq"])
    assert "Likelihood-ratio" in str(via_api.summary())


def test_ratios_icc_and_intervals(herds):
    ratios = herds.ratios()
    ci = herds.confint()
    np.testing.assert_allclose(ratios["ratio"], np.exp(herds.fixed_effects["estimate"]))
    np.testing.assert_allclose(np.log(ratios["lower"]), ci["lower"])
    icc = herds.icc()
    var = herds.variance_components["estimate"].iloc[0]
    assert icc["icc"].iloc[0] == pytest.approx(var / (var + np.pi**2 / 3))
    with pytest.raises(MixnbError, match="wald"):
        herds.confint(method="profile")
    intervals = herds.random_effect_intervals()
    assert len(intervals) == 15 and np.all(intervals["lower"] < intervals["upper"])


def test_display(herds):
    text = str(herds.summary())
    assert "Family: binomial  ( logit )" in text
    assert "Odds ratios" in text and "z value" in text
    html = herds._repr_html_()
    assert "Odds ratio" in html and "Intraclass correlation" in html
    markdown = herds.to_markdown()
    assert "| herd" in markdown


def test_user_strings_are_escaped_in_html():
    data = binary_groups(seed=7).rename(columns={"g": "<b>grp</b>"})
    fit = mixnb.glmm("y ~ x + (1 | `<b>grp</b>`)", data)
    html = fit._repr_html_()
    assert "<b>grp</b>" not in html and "&lt;b&gt;grp&lt;/b&gt;" in html


# --------------------------------------------------------------------------- charts


def test_charts_are_altair_and_read_the_result(herds):
    import altair as alt

    import mixnb.charts as charts

    contra = mixnb.load_dataset("contraception")
    fit = mixnb.glmm("use ~ age + urban + (1 | district)", contra)
    cat = charts.caterpillar(fit)
    assert isinstance(cat, alt.TopLevelMixin)
    curves = charts.fitted_curves(fit, "age", max_groups=5)
    data = curves.layer[0].data
    assert data["district"].nunique() == 5 and data["value"].between(0, 1).all()
    binned = fit.binned_residuals(10)
    assert len(binned) == 10 and binned["n"].sum() == fit.nobs
    np.testing.assert_allclose(
        (binned["residual"] * binned["n"]).sum(), fit.residuals("response").sum(), atol=1e-9
    )
    assert isinstance(charts.binned_residuals(fit, 10), alt.LayerChart)
    assert charts.to_svg(charts.binned_residuals(herds)).startswith("<svg")
    with pytest.raises(MixnbError, match="numeric predictor"):
        charts.fitted_curves(fit, "nope")


# --------------------------------------------------------------------------- GEE beside GLMM


@pytest.fixture(scope="module")
def ohio():
    return mixnb.load_dataset("ohio")


def test_marginal_beside_conditional_probit_is_exact(ohio):
    kw = {"groups": "id", "family": "binomial", "link": "probit", "correlation": "exchangeable"}
    gee = mixnb.gee("resp ~ age + smoke", ohio, **kw)
    glmm = mixnb.glmm("resp ~ age + smoke + (1 | id)", ohio, link="probit")
    table = mixnb.marginal_vs_conditional(gee, glmm).table
    variance = glmm.variance_components["estimate"].iloc[0]
    exact = glmm.fixed_effects["estimate"] / np.sqrt(1 + variance)
    np.testing.assert_allclose(table["implied_marginal"], exact, rtol=1e-8)
    np.testing.assert_allclose(table["marginal"], gee.coefficients["estimate"])
    np.testing.assert_allclose(table["ratio"], table["marginal"] / table["conditional"])


def test_marginal_beside_conditional_logit_and_poisson(ohio):
    gee = mixnb.gee(
        "resp ~ age + smoke", ohio, groups="id", family="binomial", correlation="exchangeable"
    )
    glmm = mixnb.glmm("resp ~ age + smoke + (1 | id)", ohio)
    comparison = mixnb.marginal_vs_conditional(gee, glmm)
    table = comparison.table
    # attenuation: the marginal coefficients are smaller, and the GLMM's implied ones are
    # close to the GEE's (within a robust SE)
    assert np.all(np.abs(table["marginal"]) < np.abs(table["conditional"]))
    assert np.all(np.abs(table["implied_marginal"] - table["marginal"]) < table["marginal_se"])
    assert "attenuated" in str(comparison.summary())
    epil = mixnb.load_dataset("epil")
    pg = mixnb.gee(
        "y ~ lbase + trt", epil, groups="subject", family="poisson", correlation="exchangeable"
    )
    pm = mixnb.glmm("y ~ lbase + trt + (1 | subject)", epil, family="poisson")
    implied = mixnb.marginal_vs_conditional(pg, pm).table["implied_marginal"]
    conditional = pm.fixed_effects["estimate"]
    variance = pm.variance_components["estimate"].iloc[0]
    np.testing.assert_allclose(implied.iloc[1:], conditional.iloc[1:], atol=1e-9)
    assert implied.iloc[0] == pytest.approx(conditional.iloc[0] + variance / 2, abs=1e-9)
    with pytest.raises(ModelError, match="different families or links"):
        mixnb.marginal_vs_conditional(pg, glmm)


def test_parametric_bootstrap(herds):
    boot = herds.bootstrap(n=20, seed=1)
    reps = boot.attrs["replicates"]
    assert reps.shape == (20, 5) and boot.attrs["not_converged"] <= 2
    assert np.all(boot["lower"] < boot["upper"])
    # the bootstrap SEs of the fixed effects are of the size of the Wald ones
    ratio = boot["bootstrap_se"].iloc[:4].to_numpy() / herds.fixed_effects["std_error"].to_numpy()
    assert np.all((ratio > 0.4) & (ratio < 2.5))
    again = herds.confint(method="bootstrap", n=20, seed=1)
    np.testing.assert_allclose(again["lower"], boot["lower"])  # reproducible with a seed
    with pytest.raises(MixnbError, match="replicates"):
        herds.bootstrap(n=1)
