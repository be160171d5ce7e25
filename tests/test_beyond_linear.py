"""Chapter 5's tools: marginal against conditional coefficients, the disagreement study,
its widget and charts."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixnb
import mixnb.charts
from mixnb.disagreement import disagreement_rates, disagreement_study
from mixnb.results.marginal import LOGIT_C2, expected_attenuation

CONTRACEPTION = "use ~ age + urban"


@pytest.fixture(scope="module")
def contraception_fits():
    data = mixnb.load_dataset("contraception")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conditional = mixnb.glmm(f"{CONTRACEPTION} + (1 | district)", data)
    marginal = mixnb.gee(
        CONTRACEPTION, data, groups="district", family="binomial", correlation="exchangeable"
    )
    return marginal, conditional


def test_expected_attenuation_formulas():
    assert LOGIT_C2 == pytest.approx((16 * np.sqrt(3) / (15 * np.pi)) ** 2)
    assert expected_attenuation("logit", 0.0) == 1.0
    assert expected_attenuation("probit", 3.0) == pytest.approx(0.5)
    assert expected_attenuation("log", 2.0) == 1.0
    assert np.isnan(expected_attenuation("cloglog", 1.0))


def test_marginal_vs_conditional_table(contraception_fits):
    marginal, conditional = contraception_fits
    versus = mixnb.marginal_vs_conditional(marginal, conditional)
    table = versus.table
    assert list(table.index) == ["Intercept", "age", "urban"]
    np.testing.assert_allclose(table["ratio"], table["marginal"] / table["conditional"])
    variance = conditional.variance_components["estimate"].sum()
    assert versus.variance == pytest.approx(variance)
    assert table.loc["urban", "expected_ratio"] == pytest.approx(
        1 / np.sqrt(1 + LOGIT_C2 * variance)
    )
    assert np.isnan(table.loc["Intercept", "expected_ratio"])
    # the population-averaged urban effect is the smaller one, near the expected factor
    assert abs(table.loc["urban", "marginal"]) < abs(table.loc["urban", "conditional"])
    assert table.loc["urban", "ratio"] == pytest.approx(
        table.loc["urban", "expected_ratio"], abs=0.1
    )
    text = str(versus.summary())
    assert "Zeger" in text and "urban" in text


def test_marginal_vs_conditional_refuses_mismatches(contraception_fits):
    marginal, conditional = contraception_fits
    with pytest.raises(mixnb.MixnbError, match="needs a GLMM"):
        mixnb.marginal_vs_conditional(marginal, marginal)
    probit = mixnb.glm(CONTRACEPTION, mixnb.load_dataset("contraception"), link="probit")
    with pytest.raises(mixnb.MixnbError, match="different families or links"):
        mixnb.marginal_vs_conditional(probit, conditional)


@pytest.fixture(scope="module")
def small_study():
    return disagreement_study(
        sd_hospital=[0.0, 1.0], sd_physician=[0.5], replicates=2, n_hospitals=10
    )


def test_disagreement_study_rows(small_study):
    study = small_study
    assert len(study) == 2 * 2 * 3  # settings x replicates x terms
    assert set(study["term"]) == {"teaching", "cardiologist", "severity"}
    differ = (study["traditional_p"] < 0.05) != (study["hierarchical_p"] < 0.05)
    pd.testing.assert_series_equal(study["disagree"], differ, check_names=False)
    again = disagreement_study(sd_hospital=[1.0], sd_physician=[0.5], replicates=1, n_hospitals=10)
    first = study[(study["sd_hospital"] == 1.0) & (study["replicate"] == 0)]
    # settings use their own seeds: the same setting in another study draws differently
    assert not np.allclose(
        first["traditional_estimate"].to_numpy(), again["traditional_estimate"].to_numpy()
    )


def test_disagreement_rates_and_charts(small_study):
    rates = disagreement_rates(small_study)
    assert set(rates.columns) >= {"term", "sd_hospital", "disagree", "se_ratio", "replicates"}
    assert (rates["replicates"] == 2).all()
    assert rates["disagree"].between(0, 1).all()
    chart = mixnb.charts.disagreement(rates)
    assert chart.layer[0].mark.type == "line"
    assert mixnb.charts.to_svg(chart).startswith("<svg")
    scatter = mixnb.charts.p_value_agreement(small_study, "teaching")
    assert mixnb.charts.to_svg(scatter).startswith("<svg")
    with pytest.raises(mixnb.MixnbError, match="no rows"):
        mixnb.charts.disagreement(rates, term="age")


def test_coefficient_comparison_chart(contraception_fits):
    marginal, conditional = contraception_fits
    chart = mixnb.charts.coefficient_comparison({"GEE": marginal, "GLMM": conditional})
    data = chart.layer[1].data
    assert set(data["term"]) == {"age", "urban"} and set(data["model"]) == {"GEE", "GLMM"}
    assert (data["lower"] < data["estimate"]).all() and (data["estimate"] < data["upper"]).all()
    with pytest.raises(mixnb.MixnbError, match="Not every fit"):
        mixnb.charts.coefficient_comparison({"GEE": marginal}, terms=["livch"])


def test_disagreement_lab_runs_and_clears():
    lab = mixnb.DisagreementLab(replicates=1, n_hospitals=8)
    lab.run()
    assert len(lab.study) == 3 and "teaching" in lab.table.value and "<svg" in lab.chart.value
    lab.run()
    assert lab.study["replicate"].tolist().count(0) == 6  # two runs of one replicate
    lab.sd_hospital.value = 1.0  # a new setting forgets the old outcomes
    assert lab.study.empty and lab.table.value == ""
