"""mixnb.glm against R's glm (tests/reference/glm_reference.R, tight convergence).

Tolerances: coefficients and standard errors 1e-7 relative, deviances and
log-likelihoods 1e-8 absolute (IRLS to a relative deviance change of 1e-12 on both sides).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixnb
from mixnb.errors import ConvergenceWarning, FormulaError, MixnbError

REFERENCE = Path(__file__).parent / "reference"
CASES = json.loads((REFERENCE / "glm_reference.json").read_text())["cases"]


def _data(name: str) -> pd.DataFrame:
    if name == "ohio_table":
        return pd.read_csv(REFERENCE / "ohio_table.csv")
    return mixnb.load_dataset(name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_r_glm(name):
    ref = CASES[name]
    data = _data(ref["data"])
    before = data.copy()
    fit = mixnb.glm(
        ref["formula"], data, family=ref["family"], link=ref["link"], weights=ref["weights"]
    )
    pd.testing.assert_frame_equal(data, before)
    co = fit.coefficients
    np.testing.assert_allclose(co["estimate"], ref["estimate"], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(co["std_error"], ref["std_error"], rtol=1e-7)
    stat = "t" if ref["family"] == "gaussian" else "z"
    np.testing.assert_allclose(co[stat], ref["statistic"], rtol=1e-7)
    # log p: a tiny p (1e-126) moves by z^2 times the relative change of z
    floor = np.finfo(float).tiny  # p underflows to 0 on both sides beyond it
    np.testing.assert_allclose(
        np.log(np.maximum(co["p"], floor)), np.log(np.maximum(ref["p"], floor)), rtol=1e-6
    )
    assert fit.deviance == pytest.approx(ref["deviance"], abs=1e-8, rel=1e-10)
    assert fit.null_deviance == pytest.approx(ref["null_deviance"], abs=1e-8, rel=1e-10)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-8, rel=1e-10)
    assert fit.aic == pytest.approx(ref["aic"], abs=1e-8, rel=1e-10)
    assert fit.df_resid == ref["df_resid"]
    assert fit.dispersion == pytest.approx(ref["dispersion"], rel=1e-8)
    assert fit.converged


def test_odds_ratios_are_exp_of_the_wald_interval():
    fit = mixnb.glm("resp ~ age + smoke", mixnb.load_dataset("ohio"))
    co, ratios = fit.coefficients, fit.ratios()
    np.testing.assert_allclose(ratios["odds_ratio"], np.exp(co["estimate"]))
    np.testing.assert_allclose(ratios["ci_lower"], np.exp(co["ci_lower"]))
    assert (ratios["ci_lower"] < ratios["odds_ratio"]).all()
    with pytest.raises(MixnbError, match="logit link"):
        mixnb.glm("resp ~ age", mixnb.load_dataset("ohio"), link="probit").ratios()


def test_predictions_and_residuals():
    epil = mixnb.load_dataset("epil")
    fit = mixnb.glm("y ~ trt + lage + offset(lbase)", epil, family="poisson")
    np.testing.assert_allclose(fit.predict(epil), fit.fitted(), rtol=1e-12)
    np.testing.assert_allclose(fit.predict(epil, scale="link"), np.log(fit.fitted()), rtol=1e-12)
    deviance = (fit.residuals("deviance") ** 2).sum()
    assert deviance == pytest.approx(fit.deviance, rel=1e-10)
    np.testing.assert_allclose(fit.residuals("response"), epil["y"] - fit.fitted())
    with pytest.raises(MixnbError, match="deviance"):
        fit.residuals("raw")


def test_complete_separation_is_explained():
    data = pd.DataFrame({"y": [0, 0, 0, 0, 1, 1, 1, 1], "x": [1.0, 2, 3, 4, 5, 6, 7, 8]})
    with pytest.warns(ConvergenceWarning, match="separates the outcomes"):
        fit = mixnb.glm("y ~ x", data)
    assert "fitted_probability_boundary" in fit.problems
    assert any("separates" in note for note in fit.notes)


def test_bad_input_gets_mixnb_errors():
    ohio = mixnb.load_dataset("ohio")
    with pytest.raises(FormulaError, match="mixnb.glmm"):
        mixnb.glm("resp ~ age + (1 | id)", ohio)
    with pytest.raises(MixnbError, match="Unknown family"):
        mixnb.glm("resp ~ age", ohio, family="gamma")
    with pytest.raises(MixnbError, match="outside"):
        mixnb.glm("age ~ smoke", ohio)


def test_summary_layouts_and_escaping():
    ohio = mixnb.load_dataset("ohio").rename(columns={"smoke": "<b>smoke</b>"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = mixnb.glm("resp ~ age + `<b>smoke</b>`", ohio)
    text = str(fit.summary())
    assert "Residual deviance" in text and "Fisher Scoring iterations" in text
    html = fit.summary()._repr_html_()
    assert "<b>smoke</b>" not in html and "&lt;b&gt;smoke&lt;/b&gt;" in html
    assert "Odds ratios" in html
