"""Bad input gets a clear mixnb error naming the problem and the fix; nothing is lost."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixnb
from mixnb.results.mixed import LmmResult


def test_missing_column_names_it_and_near_matches(sleep):
    with pytest.raises(mixnb.DataError, match=r"'Reacton' that is not in the data") as err:
        mixnb.lmm("Reacton ~ Days + (1 | Subject)", sleep)
    assert "Did you mean 'Reaction'" in str(err.value)
    with pytest.raises(mixnb.DataError, match=r"'subject'.*Did you mean 'Subject'"):
        mixnb.lmm("Reaction ~ Days + (1 | subject)", sleep)
    with pytest.raises(mixnb.DataError, match=r"'Dys'.*Did you mean 'Days'"):
        mixnb.ols("Reaction ~ Dys", sleep)


def test_non_numeric_response(sleep):
    data = sleep.assign(Reaction=sleep["Reaction"].map(lambda v: "fast" if v < 300 else "slow"))
    with pytest.raises(mixnb.DataError, match=r"response 'Reaction' must be numeric.*to_numeric"):
        mixnb.lmm("Reaction ~ Days + (1 | Subject)", data)


def test_infinite_values_are_refused(sleep):
    data = sleep.assign(Days=sleep["Days"].astype(float))
    data.loc[3, "Days"] = np.inf
    with pytest.raises(mixnb.DataError, match=r"'Days' has 1 infinite value"):
        mixnb.lmm("Reaction ~ Days + (1 | Subject)", data)


def test_grouping_factor_needs_two_levels(sleep):
    data = sleep.assign(site="A")
    with pytest.raises(mixnb.ModelError, match=r"'site' has 1 level .*at least 2 groups"):
        mixnb.lmm("Reaction ~ Days + (1 | site)", data)


def test_grouping_factor_with_a_level_per_row_is_refused(sleep):
    data = sleep.assign(row=np.arange(len(sleep)))
    with pytest.raises(mixnb.ModelError, match=r"180 random effects .* only 180 observations"):
        mixnb.lmm("Reaction ~ Days + (1 | row)", data)


def test_rank_deficient_fixed_effects_drop_aliased_columns(sleep):
    data = sleep.assign(Days2=2 * sleep["Days"])
    with pytest.warns(mixnb.RankDeficiencyWarning, match=r"'Days2'"):
        fit = mixnb.lmm("Reaction ~ Days + Days2 + (1 | Subject)", data)
    assert fit.dropped_fixed_effects == ["Days2"]
    assert list(fit.fixed_effects.index) == ["Intercept", "Days"]
    assert "Days2" in fit.summary()
    with pytest.warns(mixnb.RankDeficiencyWarning):
        ols = mixnb.ols("Reaction ~ Days + Days2", data)
    assert list(ols.coefficients.index) == ["Intercept", "Days"]


@pytest.mark.parametrize(
    "formula, message",
    [
        ("Reaction ~ Days + (Days | )", r"grouping"),
        ("Reaction ~ Days + ( | Subject)", r"left"),
        ("Reaction ~ Days + (Days | Subject", r"[Uu]nbalanced|[Uu]nclosed|never closed"),
        ("Reaction ~ Days + Days | Subject)", r"[Uu]nbalanced|[Uu]nexpected|[Uu]nmatched"),
        ("Reaction Days + (1 | Subject)", r"~"),
    ],
)
def test_malformed_formulas(sleep, formula, message):
    with pytest.raises(mixnb.FormulaError, match=message):
        mixnb.lmm(formula, sleep)


def test_model_kind_mismatch(sleep):
    with pytest.raises(mixnb.FormulaError, match=r"no random-effect term.*mixnb.ols"):
        mixnb.lmm("Reaction ~ Days", sleep)
    with pytest.raises(mixnb.FormulaError, match=r"mixnb.lmm"):
        mixnb.ols("Reaction ~ Days + (1 | Subject)", sleep)


def test_data_must_be_a_data_frame(sleep):
    with pytest.raises(mixnb.DataError, match="pandas DataFrame"):
        mixnb.lmm("Reaction ~ Days + (1 | Subject)", sleep.to_dict())


def test_missing_values_are_dropped_counted_and_reported(sleep):
    data = sleep.assign(Days=sleep["Days"].astype(float))
    data.loc[[0, 5, 9], "Reaction"] = np.nan
    data.loc[[5, 20], "Days"] = np.nan
    data["unused"] = np.nan  # not in the formula: must not drop anything
    with pytest.warns(mixnb.MissingDataWarning, match=r"4 of 180 rows were dropped"):
        fit = mixnb.lmm("Reaction ~ Days + (1 | Subject)", data)
    assert fit.nobs == 176
    assert fit.n_dropped == 4
    assert any("4 of 180 rows were dropped" in note for note in fit.notes)
    assert "4 of 180 rows were dropped" in fit.summary()
    assert len(fit.fitted()) == 176
    assert 0 not in fit.fitted().index


def test_odd_column_names_work_through_backticks(sleep):
    data = sleep.rename(columns={"Reaction": "reaction time (ms)", "Subject": "subject id"})
    fit = mixnb.lmm("`reaction time (ms)` ~ Days + (Days | `subject id`)", data)
    reference = mixnb.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    assert fit.reml_criterion == pytest.approx(reference.reml_criterion, abs=1e-8)
    assert "subject id" in fit.random_effects


def test_callers_data_frame_is_never_modified(sleep):
    data = sleep.copy()
    data.loc[2, "Reaction"] = np.nan
    data["Subject"] = data["Subject"].astype(str)
    before = data.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.MixnbWarning)
        fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", data)
        fit.predict(data)
        mixnb.ols("Reaction ~ Days * Subject", data)
    pd.testing.assert_frame_equal(data, before)


def test_singular_fit_is_flagged_and_explained():
    data = mixnb.load_dataset("dyestuff2")
    with pytest.warns(mixnb.SingularFitWarning, match=r"variance .* Batch .* zero"):
        fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", data)
    assert fit.is_singular
    assert any("differ no more than the residual noise" in note for note in fit.notes)


def test_convergence_trouble_is_explained_in_plain_words():
    fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    troubled = LmmResult(
        fit.design,
        dataclasses.replace(
            fit.estimates,
            converged=False,
            problems=["likelihood_still_changing"],
        ),
        fit.formula,
    )
    note = troubled.notes[-1]
    assert note.startswith("Convergence trouble: the likelihood was still changing")
    assert "gradient" not in note and "Hessian" not in note


def test_prediction_for_unseen_groups_falls_back_and_says_so(sleep):
    fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    new = pd.DataFrame({"Days": [0.0, 5.0, 5.0], "Subject": [308, 999, 308]})
    with pytest.warns(mixnb.UnseenLevelWarning, match=r"Subject: 999"):
        pred = fit.predict(new)
    assert pred.attrs["unseen_levels"] == {"Subject": [999]}
    population = fit.predict(new, include_random=False)
    assert pred.iloc[1] == pytest.approx(population.iloc[1])
    coef = fit.coef["Subject"].loc[308]
    assert pred.iloc[2] == pytest.approx(coef["Intercept"] + 5 * coef["Days"])
    assert pred.iloc[0] == pytest.approx(fit.fitted().iloc[0])


def test_new_data_missing_a_predictor(sleep):
    fit = mixnb.lmm("Reaction ~ Days + (1 | Subject)", sleep)
    with pytest.raises(mixnb.DataError, match=r"'Days'"):
        fit.predict(pd.DataFrame({"Subject": [308]}))


DATA = Path(__file__).parent / "data"


def test_a_false_stop_on_the_boundary_is_escaped():
    """The default start leads L-BFGS-B to a point with both variances at zero; the fit must
    search again and find the lower deviance that RIGLS (an independent algorithm) reaches."""
    data = pd.read_csv(DATA / "false_boundary_stop.csv", dtype={"g": str, "h": str})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.MixnbWarning)
        fit = mixnb.lmm("y ~ x + (x | g)", data)
        rigls = mixnb.lmm("y ~ x + (x | g)", data, method="RIGLS")
    assert fit.reml_criterion == pytest.approx(rigls.reml_criterion, abs=1e-6)


def test_a_correlation_of_one_gives_missing_standard_errors_not_a_crash():
    data = pd.read_csv(DATA / "near_perfect_correlation.csv")
    with pytest.warns(mixnb.MixnbWarning):
        fit = mixnb.lmm("y ~ x + (x | g)", data, reml=False)
    vc = fit.variance_components.set_index("group")
    assert vc.loc["g", "sd_corr"].iloc[2] > 0.999
    assert vc.loc["g", "std_error"].isna().all()
    assert np.isfinite(vc.loc["Residual", "std_error"])


def test_prediction_for_an_unseen_level_of_a_fixed_factor_is_refused():
    cake = mixnb.load_dataset("cake")
    fit = mixnb.ols("angle ~ recipe * temp", cake)
    new = pd.DataFrame({"recipe": ["A", "Z"], "temp": [200.0, 200.0]})
    with pytest.raises(mixnb.DataError, match=r"level of a categorical predictor.*Z"):
        fit.predict(new)
