"""Least squares (the traditional approach) against R's lm and anova (reference JSON)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixnb
from conftest import python_term, reference

RTOL = 1e-8  # least squares is closed-form: R and mixnb agree to rounding


def _fit(key: str) -> mixnb.OlsResult:
    spec = reference()["least_squares"][key]
    return mixnb.ols(spec["formula"], mixnb.load_dataset(spec["dataset"]))


@pytest.mark.parametrize("key", sorted(reference()["least_squares"]))
def test_coefficients_and_fit_statistics_match_r(key):
    ref, fit = reference()["least_squares"][key], _fit(key)
    co = fit.coefficients
    assert list(co.index) == [python_term(n) for n in ref["coefficients"]]
    for column, r_column in [("estimate", "estimate"), ("std_error", "se"), ("t", "t")]:
        expected = [v[r_column] for v in ref["coefficients"].values()]
        np.testing.assert_allclose(co[column], expected, rtol=RTOL)
    np.testing.assert_allclose(
        co["p"], [v["p"] for v in ref["coefficients"].values()], rtol=1e-6, atol=1e-300
    )
    assert fit.rsquared == pytest.approx(ref["r_squared"], rel=RTOL, abs=1e-12)
    assert fit.rsquared_adj == pytest.approx(ref["adj_r_squared"], rel=RTOL, abs=1e-12)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=RTOL)
    assert fit.df_resid == ref["df_resid"]
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    np.testing.assert_allclose(fit.fitted().iloc[:10], ref["fitted_head"], rtol=RTOL)
    if ref["fstatistic"] is not None:
        f, df1, df2, p = fit.f_test
        assert f == pytest.approx(ref["fstatistic"]["value"], rel=RTOL)
        assert (df1, df2) == (ref["fstatistic"]["numdf"], ref["fstatistic"]["dendf"])
        assert p == pytest.approx(ref["fstatistic"]["p"], rel=1e-6)


@pytest.mark.parametrize("name", sorted(reference()["least_squares_comparisons"]))
def test_nested_f_test_matches_r_anova(name):
    ref = reference()["least_squares_comparisons"][name]
    result = mixnb.compare(_fit(ref["small"]), _fit(ref["big"]))
    table = result.table
    np.testing.assert_allclose(table["df_resid"], ref["res_df"])
    np.testing.assert_allclose(table["rss"], ref["rss"], rtol=RTOL)
    assert table["df"].iloc[1] == ref["df"]
    assert table["sum_sq"].iloc[1] == pytest.approx(ref["sum_sq"], rel=1e-6)
    assert result.f == pytest.approx(ref["F"], rel=1e-6)
    assert result.p == pytest.approx(ref["p"], rel=1e-6)
    assert "Res.Df" in repr(result)


def test_reference_level_can_be_chosen():
    cake = mixnb.load_dataset("cake")
    default = mixnb.ols("angle ~ recipe", cake)
    base_c = mixnb.ols("angle ~ C(recipe, contr.treatment(base='C'))", cake)
    assert default.coefficients.index[1] == "recipe[T.B]"
    assert any("[T.A]" in name for name in base_c.coefficients.index)
    # same model, different parametrisation: identical fit
    assert base_c.rsquared == pytest.approx(default.rsquared, rel=1e-12)
    ordered = cake.assign(recipe=pd.Categorical(cake["recipe"], categories=["B", "A", "C"]))
    assert mixnb.ols("angle ~ recipe", ordered).coefficients.index[1] == "recipe[T.A]"


def test_compare_refuses_models_that_are_not_nested():
    data = mixnb.load_dataset("cake")
    with pytest.raises(mixnb.MixnbError, match="not nested"):
        mixnb.compare(
            mixnb.ols("angle ~ temp", data), mixnb.ols("angle ~ recipe + replicate", data)
        )
    with pytest.raises(mixnb.MixnbError, match="smaller one"):
        mixnb.compare(mixnb.ols("angle ~ recipe * temp", data), mixnb.ols("angle ~ temp", data))


def test_ols_summary_has_r_layout():
    text = _fit("cake_interaction").summary()
    for piece in ["Coefficients:", "Pr(>|t|)", "Residual standard error:", "Multiple R-squared"]:
        assert piece in text


def test_ols_predicts_new_data_with_training_encoding():
    data = mixnb.load_dataset("cake")
    fit = mixnb.ols("angle ~ recipe * temp", data)
    new = pd.DataFrame({"recipe": ["C", "A"], "temp": [200.0, np.nan]})
    pred = fit.predict(new)
    b = fit.coefficients["estimate"]
    expected = b["Intercept"] + b["recipe[T.C]"] + (b["temp"] + b["recipe[T.C]:temp"]) * 200
    assert pred.iloc[0] == pytest.approx(expected)
    assert np.isnan(pred.iloc[1])
