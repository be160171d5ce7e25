"""Widgets driven from code: set controls, read the formula, the fit and the messages."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import mixnb
from mixnb.simulation import estimates_of, shrinkage_demo, simulate_groups
from mixnb.widgets import ModelBuilder, ShrinkageExplorer, SimulationLab, build_formula
from mixnb.widgets._common import Debouncer


@pytest.fixture
def builder(sleep) -> ModelBuilder:
    return ModelBuilder(sleep)


# --------------------------------------------------------------------------- formulas


def test_build_formula_quotes_odd_names():
    assert build_formula("y", ["hours slept", "x"], ["g"]) == "y ~ `hours slept` + x + (1 | g)"
    assert build_formula("y", [], ["a", "b"]) == "y ~ 1 + (1 | a) + (1 | b)"
    assert build_formula("y", ["x"], []) == "y ~ x"


def test_exported_lazily_from_mixnb():
    assert mixnb.ModelBuilder is ModelBuilder
    assert mixnb.ShrinkageExplorer is ShrinkageExplorer
    assert mixnb.SimulationLab is SimulationLab
    with pytest.raises(AttributeError):
        mixnb.NoSuchWidget  # noqa: B018


# --------------------------------------------------------------------------- ModelBuilder


def test_builder_starts_from_the_null_model_with_a_guessed_group(builder):
    assert builder.response.value == "Reaction"
    assert builder.groups.value == ("Subject",)
    assert builder.formula == "Reaction ~ 1 + (1 | Subject)"
    assert isinstance(builder.result, mixnb.LmmResult)
    assert builder.error is None and builder.message.value == ""
    assert "Linear mixed model fit by REML" in builder.summary.value
    assert "<svg" in builder.chart.value
    assert "Reaction ~ 1 + (1 | Subject)" in builder.formula_html.value
    assert "fitted in" in builder.formula_html.value


def test_builder_refits_as_choices_change(builder):
    builder.fixed.value = ("Days",)
    assert builder.slopes.options == ("Days",)
    builder.slopes.value = ("Days",)
    assert builder.formula == "Reaction ~ Days + (Days | Subject)"
    fit = builder.result
    assert fit.formula == builder.formula and fit.reml
    assert fit.fixed_effects.loc["Days", "estimate"] == pytest.approx(10.467, abs=1e-3)

    builder.correlated.value = False
    assert builder.formula == "Reaction ~ Days + (Days || Subject)"
    assert len(builder.result.variance_components) == 3  # no covariance row

    builder.method.value = "ML"
    assert not builder.result.reml
    assert "fit by maximum likelihood" in builder.summary.value

    builder.method.value = "REML"
    builder.correlated.value = True
    assert builder.result is fit  # fits are cached: going back is instant


def test_builder_without_groups_fits_least_squares(builder):
    builder.fixed.value = ("Days",)
    builder.groups.value = ()
    assert builder.formula == "Reaction ~ Days"
    assert isinstance(builder.result, mixnb.OlsResult)
    assert "Least-squares fit" in builder.summary.value
    assert "least squares" in builder.formula_html.value
    assert "<svg" in builder.chart.value


def test_slopes_follow_the_fixed_effects(builder):
    builder.fixed.value = ("Days",)
    builder.slopes.value = ("Days",)
    builder.fixed.value = ()
    assert builder.slopes.options == () and builder.slopes.value == ()
    assert builder.formula == "Reaction ~ 1 + (1 | Subject)"


def test_changing_the_response_removes_it_from_the_predictors(sleep):
    builder = ModelBuilder(sleep, fixed=["Days"])
    builder.response.value = "Days"
    assert "Days" not in builder.fixed.options and builder.fixed.value == ()
    assert builder.formula == "Days ~ 1 + (1 | Subject)"


def test_invalid_choices_show_a_message_not_a_traceback(builder):
    builder.fixed.value = ("Subject",)
    assert builder.result is None
    assert "both as a fixed effect and as a grouping factor" in builder.error
    assert 'class="mixnb-message"' in builder.message.value
    assert builder.summary.value == "" and builder.chart.value == ""

    builder.fixed.value = ()
    assert builder.result is not None and builder.message.value == ""


def test_a_model_that_cannot_be_fitted_shows_why(sleep):
    data = sleep.assign(row=[f"r{i}" for i in range(len(sleep))])
    builder = ModelBuilder(data, groups=["row"])
    assert builder.result is None
    assert builder.error.startswith("This model cannot be fitted:")
    assert "random effects" in builder.error
    assert "mixnb-message" in builder.message.value
    assert "Traceback" not in builder.message.value


def test_messages_and_summaries_escape_names(sleep):
    evil = "<script>alert(1)</script>"
    data = sleep.rename(columns={"Days": evil})
    builder = ModelBuilder(data, fixed=[evil])
    assert builder.formula == f"Reaction ~ `{evil}` + (1 | Subject)"
    assert isinstance(builder.result, mixnb.LmmResult)
    assert "<script>" not in builder.summary.value + builder.formula_html.value
    builder.groups.value = ("Subject", evil)
    assert "<script>" not in builder.message.value
    assert "&lt;script&gt;" in builder.message.value


def test_builder_chart_depends_on_the_model(sleep):
    dyes = ModelBuilder(mixnb.load_dataset("dyestuff"))
    assert dyes.formula == "Yield ~ 1 + (1 | Batch)"
    assert "Random effects of Batch" in dyes.chart.value  # caterpillar without a numeric x
    builder = ModelBuilder(sleep, fixed=["Days"])
    assert "data and the model" in builder.chart.value  # spaghetti


def test_builder_rejects_what_is_not_a_data_frame():
    with pytest.raises(TypeError, match="pandas DataFrame"):
        ModelBuilder([[1, 2]])


# --------------------------------------------------------------------------- debouncing


def test_debouncer_runs_at_once_without_an_event_loop():
    calls = []
    debounced = Debouncer(lambda: calls.append(1), delay=0.5)
    debounced()
    assert calls == [1] and not debounced.pending


def test_debouncer_collapses_a_burst_inside_an_event_loop():
    calls = []

    async def burst() -> None:
        debounced = Debouncer(lambda: calls.append(len(calls)), delay=0.05)
        for _ in range(5):
            debounced()
        assert debounced.pending and calls == []
        await asyncio.sleep(0.2)
        assert not debounced.pending

    asyncio.run(burst())
    assert calls == [0]


def test_builder_in_an_event_loop_refits_once_after_the_changes(sleep):
    async def session() -> None:
        builder = ModelBuilder(sleep, debounce=0.05)
        first = builder._result
        builder.fixed.value = ("Days",)
        builder.slopes.value = ("Days",)
        assert builder._result is first  # not refitted yet
        assert "fitting" in builder.formula_html.value
        await asyncio.sleep(0.3)
        assert builder._result.formula == "Reaction ~ Days + (Days | Subject)"

        builder.method.value = "ML"
        assert builder.result.reml is False  # .result runs a pending refit at once

    asyncio.run(session())


# --------------------------------------------------------------------------- ShrinkageExplorer


def test_shrinkage_explorer_shows_the_factor():
    explorer = ShrinkageExplorer(n=10, between_variance=4.0, residual_variance=40.0)
    assert explorer.factor == 0.5
    assert "<b>0.500</b>" in explorer.explanation.value
    assert "keeps 50%" in explorer.explanation.value
    assert "<svg" in explorer.chart.value and "Shrinkage factor 0.500" in explorer.chart.value

    explorer.n.value = 40
    assert explorer.factor == pytest.approx(160 / 200)
    explorer.between.value = 0.0
    assert explorer.factor == 0.0
    data = explorer.data
    assert data["shrunken_mean"].tolist() == pytest.approx([data.attrs["grand_mean"]] * 12)


def test_shrinkage_demo_pulls_toward_the_grand_mean():
    demo = shrinkage_demo(n=5, between_variance=25, residual_variance=100, n_groups=8)
    factor, grand = demo.attrs["factor"], demo.attrs["grand_mean"]
    assert factor == pytest.approx(125 / 225)
    assert grand == pytest.approx(demo["raw_mean"].mean())
    assert (demo["shrunken_mean"] - grand).tolist() == pytest.approx(
        (factor * (demo["raw_mean"] - grand)).tolist()
    )
    same = shrinkage_demo(n=50, between_variance=25, residual_variance=100, n_groups=8)
    assert same["true_mean"].tolist() == demo["true_mean"].tolist()  # same draws, rescaled


# --------------------------------------------------------------------------- SimulationLab


def test_simulate_groups_has_the_truth():
    data = simulate_groups(n_groups=5, n_per_group=4, intercept=10, slope=-1, seed=3)
    assert data.shape == (20, 3)
    assert data.attrs["truth"]["slope"] == -1
    assert data["x"].tolist()[:4] == [0.0, 1.0, 2.0, 3.0]
    again = simulate_groups(n_groups=5, n_per_group=4, intercept=10, slope=-1, seed=3)
    assert again.equals(data)


def test_estimates_recover_the_truth_from_a_large_sample():
    data = simulate_groups(n_groups=200, n_per_group=10, sd_residual=1.0, seed=11)
    est = estimates_of(mixnb.lmm("y ~ x + (x | group)", data))
    truth = data.attrs["truth"]
    assert est["intercept"] == pytest.approx(truth["intercept"], abs=1.0)
    assert est["slope"] == pytest.approx(truth["slope"], abs=0.3)
    assert est["sd_intercept"] == pytest.approx(truth["sd_intercept"], rel=0.2)
    assert est["sd_residual"] == pytest.approx(truth["sd_residual"], rel=0.1)


def test_simulation_lab_accumulates_estimates():
    lab = SimulationLab(seed=5, repeats=3)
    lab.simulate_button.click()
    assert len(lab.estimates) == 1 and lab.last_fit is not None
    lab.repeat_button.click()
    assert lab.estimates["replicate"].tolist() == [1, 2, 3, 4]
    assert lab.estimates["intercept"].std() > 0  # different data each time
    assert "4 simulated data set(s)" in lab.table.value
    assert "intercept b0" in lab.table.value
    assert "Estimates from 4 simulated data set(s)" in lab.chart.value

    report = lab.comparison()
    frame = report.tables[0].frame
    assert frame.loc["slope b1", "truth"] == 2.0
    assert frame.loc["slope b1", "mean"] == pytest.approx(lab.estimates["slope"].mean())

    lab.slope.value = 3.0  # a new truth: old estimates no longer belong to it
    assert lab.estimates.empty and lab.table.value == ""


def test_simulation_lab_is_reproducible():
    first, second = SimulationLab(seed=9), SimulationLab(seed=9)
    first.repeat(2)
    second.repeat(2)
    assert np.allclose(first.estimates.to_numpy(float), second.estimates.to_numpy(float))


def test_simulation_lab_without_random_slopes_says_so():
    lab = SimulationLab(seed=1)
    lab.random_slope.value = False
    lab.simulate_and_fit()
    assert lab.formula == "y ~ x + (1 | group)"
    assert lab.estimates["sd_slope"].tolist() == [0.0]
    assert "no random slopes, but the truth does" in lab.table.value


def test_simulation_lab_shows_fitting_problems(monkeypatch):
    def broken(*args, **kwargs):
        raise mixnb.ModelError("the optimiser gave up")

    monkeypatch.setattr(mixnb, "lmm", broken)
    lab = SimulationLab(seed=1)
    lab.simulate_and_fit()
    assert "the optimiser gave up" in lab.message.value
    assert lab.estimates.empty
