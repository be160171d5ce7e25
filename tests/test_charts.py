"""Charts: titles, encodings and data of every chart, and the offline SVG renderer."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import altair as alt
import numpy as np
import pandas as pd
import pytest

import mixnb
import mixnb.charts as charts
from mixnb.charts.render import RENDERER, _prefix_ids, svg_renderer, to_svg
from mixnb.estimation.by_group import per_group_least_squares


@pytest.fixture(scope="module")
def batches() -> mixnb.LmmResult:
    return mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))


@pytest.fixture(scope="module")
def line(sleep) -> mixnb.OlsResult:
    return mixnb.ols("Reaction ~ Days", sleep)


# --------------------------------------------------------------------------- helpers


def views(spec: dict) -> Iterator[dict]:
    """Every unit view (a dict with a mark) in a Vega-Lite specification."""
    if "mark" in spec:
        yield spec
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for child in spec.get(key, []):
            yield from views(child)
    if "spec" in spec:
        yield from views(spec["spec"])


def mark_type(view: dict) -> str:
    mark = view["mark"]
    return mark["type"] if isinstance(mark, dict) else mark


def datasets(chart: alt.TopLevelMixin) -> list[pd.DataFrame]:
    return [pd.DataFrame(rows) for rows in chart.to_dict()["datasets"].values()]


def dataset_with(chart: alt.TopLevelMixin, *columns: str) -> pd.DataFrame:
    """The chart's data sets that have ``columns``, stacked (panels may split one table)."""
    matches = [d for d in datasets(chart) if set(columns) <= set(d.columns)]
    assert matches, f"no dataset with {columns}"
    return pd.concat(matches, ignore_index=True)


def titles(spec: dict) -> set[str]:
    out = set()
    for view in views(spec):
        for channel in view.get("encoding", {}).values():
            if isinstance(channel, dict) and isinstance(channel.get("title"), str):
                out.add(channel["title"])
    return out


# --------------------------------------------------------------------------- lines


def test_scatter_with_line(line, sleep):
    chart = charts.scatter_with_line(line)
    spec = chart.to_dict()
    assert chart.title.text == "Reaction against Days: one least-squares line"
    assert chart.title.subtitle == "Reaction ~ Days"
    marks = [mark_type(v) for v in views(spec)]
    assert marks == ["circle", "line"]
    assert {"Days", "Reaction"} <= titles(spec)
    data = dataset_with(chart, "x", "y", "fitted")
    assert data["x"].tolist() == sleep["Days"].astype(float).tolist()
    assert data["y"].tolist() == pytest.approx(sleep["Reaction"].tolist())
    assert data["fitted"].tolist() == pytest.approx(line.fitted().tolist())


def test_scatter_with_line_of_a_mixed_model_shows_the_population_line(slopes):
    chart = charts.scatter_with_line(slopes)
    assert "population line" in chart.title.text
    data = dataset_with(chart, "fitted")
    assert data["fitted"].tolist() == pytest.approx(slopes.fitted(include_random=False).tolist())


def test_scatter_needs_a_numeric_predictor(batches, line):
    with pytest.raises(mixnb.ModelError, match="needs a numeric predictor"):
        charts.scatter_with_line(batches)
    with pytest.raises(mixnb.ModelError, match="not a numeric column"):
        charts.scatter_with_line(line, x="Subject")


def test_group_lines():
    cake = mixnb.load_dataset("cake")
    fit = mixnb.ols("angle ~ temp * recipe", cake)
    chart = charts.group_lines(fit, "recipe")
    spec = chart.to_dict()
    assert chart.title.text == "angle against temp: one line per recipe"
    assert [mark_type(v) for v in views(spec)] == ["circle", "line"]
    colour = next(views(spec))["encoding"]["color"]
    assert colour["field"] == "group" and colour["title"] == "recipe"
    assert colour["sort"] == ["A", "B", "C"]
    data = dataset_with(chart, "group", "fitted")
    assert sorted(data["group"].unique()) == ["A", "B", "C"]
    assert data["fitted"].tolist() == pytest.approx(fit.fitted().tolist())
    with pytest.raises(mixnb.ModelError, match="not a column the model uses"):
        charts.group_lines(fit, "replicate")


def test_spaghetti(slopes, sleep):
    chart = charts.spaghetti(slopes)
    spec = chart.to_dict()
    assert chart.title.text.startswith("Reaction against Days by Subject")
    assert [mark_type(v) for v in views(spec)] == ["line", "circle", "line", "line"]
    data = dataset_with(chart, "x", "y", "group", "fitted", "population")
    assert data["group"].nunique() == 18
    assert data["fitted"].tolist() == pytest.approx(slopes.fitted().tolist())
    assert data["population"].tolist() == pytest.approx(
        slopes.fitted(include_random=False).tolist()
    )
    # 18 groups: colours separate the lines, the legend would be too long
    colour = next(views(spec))["encoding"]["color"]
    assert colour["legend"] is None


def test_spaghetti_facets_and_strip(slopes, batches):
    facet = charts.spaghetti(slopes, facet=True).to_dict()
    assert facet["facet"]["field"] == "group" and facet["columns"] == 6
    strip = charts.spaghetti(batches)
    spec = strip.to_dict()
    assert [mark_type(v) for v in views(spec)] == ["circle", "tick", "rule"]
    assert next(views(spec))["encoding"]["x"]["sort"] == ["A", "B", "C", "D", "E", "F"]
    with pytest.raises(mixnb.ModelError, match="no grouping factor"):
        charts.spaghetti(slopes, factor="Days")


def test_mixed_model_charts_refuse_least_squares(line):
    for chart in (charts.spaghetti, charts.caterpillar, charts.shrinkage):
        with pytest.raises(mixnb.ModelError, match="needs a mixed model"):
            chart(line)


# --------------------------------------------------------------------------- effects


def test_caterpillar(slopes):
    chart = charts.caterpillar(slopes)
    spec = chart.to_dict()
    assert chart.title.text == "Random effects of Subject: conditional modes ± 1.96 SD"
    assert len(spec["hconcat"]) == 2  # Intercept and Days
    data = dataset_with(chart, "group", "term", "estimate", "lower", "upper")
    modes, sds = slopes.random_effects["Subject"], slopes.random_effects_sd["Subject"]
    days = data[data["term"] == "Days"].set_index("group")
    assert days.loc["308", "estimate"] == pytest.approx(modes.loc[308, "Days"])
    assert days.loc["308", "upper"] == pytest.approx(
        modes.loc[308, "Days"] + 1.96 * sds.loc[308, "Days"]
    )
    # groups sorted by their intercept, largest on top
    y = next(v for v in views(spec) if mark_type(v) == "circle")["encoding"]["y"]
    expected = modes["Intercept"].sort_values().index.astype(str).tolist()[::-1]
    assert y["sort"] == expected


def test_caterpillar_of_one_term(slopes):
    chart = charts.caterpillar(slopes, term="Days")
    assert "hconcat" not in chart.to_dict()
    assert "random effect: Days" in titles(chart.to_dict())
    with pytest.raises(mixnb.ModelError, match="no random 'Age'"):
        charts.caterpillar(slopes, term="Age")


def test_shrinkage_in_two_dimensions(slopes):
    chart = charts.shrinkage(slopes)
    spec = chart.to_dict()
    assert chart.title.text.startswith("Shrinkage by Subject")
    assert [mark_type(v) for v in views(spec)] == ["rule", "point", "point", "point"]
    assert {"Intercept", "Days"} <= titles(spec)
    data = dataset_with(chart, "own0", "own1", "mixed0", "mixed1", "angle")
    own = per_group_least_squares(slopes.design)
    mixed = slopes.coef["Subject"]
    assert data["own1"].tolist() == pytest.approx(own["Days"].tolist())
    assert data["mixed0"].tolist() == pytest.approx(mixed["Intercept"].tolist())
    population = dataset_with(chart, "x", "y")
    assert population["x"].iloc[0] == pytest.approx(
        slopes.fixed_effects.loc["Intercept", "estimate"]
    )
    assert data["angle"].between(-180, 180).all()


def test_shrinkage_in_one_dimension(batches):
    chart = charts.shrinkage(batches)
    data = dataset_with(chart, "own0", "mixed0", "angle")
    # arrow heads point right (90) when the group moves up, left (270) when it moves down
    expected = np.where(data["mixed0"] >= data["own0"], 90, 270)
    assert data["angle"].tolist() == expected.tolist()
    # every group moves toward the population value
    grand = batches.fixed_effects.loc["Intercept", "estimate"]
    assert (abs(data["mixed0"] - grand) <= abs(data["own0"] - grand) + 1e-9).all()
    with pytest.raises(mixnb.ModelError, match="terms must name"):
        charts.shrinkage(batches, terms=["Days"])


@pytest.mark.parametrize(
    ("dataset", "formula", "group", "covariate"),
    [
        ("treatment_centers", "return ~ use + (1 | center)", "center", "use"),
        ("sleepstudy", "Reaction ~ Days + (1 | Subject)", "Subject", "Days"),
    ],
)
def test_shrinkage_arrows_point_toward_the_population(dataset, formula, group, covariate):
    """Issue 10, item 7: with a fixed covariate the group-alone intercept is the group's
    mean moved along the population slope to covariate 0, and every arrow ends between it
    and the population intercept (before, center 1 and subject 309 pointed away)."""
    data = mixnb.load_dataset(dataset)
    fit = mixnb.lmm(formula, data)
    chart = charts.shrinkage(fit)
    shown = dataset_with(chart, "own0", "mixed0").set_index("group")
    beta = fit.fixed_effects["estimate"]
    means = data.groupby(group)[[fit.design.response_name, covariate]].mean()
    direct = means[fit.design.response_name] - beta[covariate] * means[covariate]
    assert shown["own0"].to_numpy() == pytest.approx(direct.to_numpy(), rel=1e-12)
    population = beta["Intercept"]
    own, mixed = shown["own0"] - population, shown["mixed0"] - population
    assert ((mixed * own > 0) & (mixed.abs() < own.abs())).all()
    # the BLUP keeps the share n tau^2 / (n tau^2 + sigma^2) of the group's own deviation
    tau2 = fit.variance_components.set_index("group").loc[group, "estimate"]
    n = data.groupby(group).size().to_numpy()
    kept = n * tau2 / (n * tau2 + fit.sigma**2)
    assert (mixed / own).to_numpy() == pytest.approx(kept, rel=1e-8)
    assert f"with {covariate} held at the fixed-effect estimate" in " ".join(chart.title.subtitle)


# --------------------------------------------------------------------------- diagnostics


def test_residual_diagnostics_of_a_mixed_model(slopes):
    chart = charts.residual_diagnostics(slopes)
    spec = chart.to_dict()
    assert chart.title.text == "Residual diagnostics: Reaction"
    assert len(spec["vconcat"]) == 2
    assert spec["vconcat"][1]["facet"]["field"] == "effect"
    residuals = dataset_with(chart, "fitted", "value")
    assert residuals["value"].tolist() == pytest.approx(slopes.residuals().tolist())
    effects = dataset_with(chart, "effect", "value")
    assert sorted(effects["effect"].unique()) == ["Subject: Days", "Subject: Intercept"]
    assert "quantileNormal" in str(spec)  # normal quantiles computed by Vega, not in Python


def test_residual_diagnostics_of_least_squares(line):
    spec = charts.residual_diagnostics(line).to_dict()
    assert len(spec["vconcat"]) == 1
    assert "fitted Reaction" in titles(spec)


def test_profile(batches):
    chart = charts.profile(batches)
    spec = chart.to_dict()
    assert chart.title.text == "Likelihood profiles of Yield"
    assert spec["facet"]["field"] == "parameter"
    table = batches.profile()
    assert spec["facet"]["sort"] == [str(p) for p in table["parameter"].cat.categories]
    data = dataset_with(chart, "parameter", "value", "zeta", "estimate")
    assert data["zeta"].tolist() == pytest.approx(table["zeta"].tolist())
    centre = data[data["parameter"] == "Intercept"]["estimate"].iloc[0]
    assert centre == pytest.approx(table.attrs["estimates"]["Intercept"])
    rules = [v["encoding"].get("y", {}).get("datum") for v in views(spec) if mark_type(v) == "rule"]
    assert 1.96 in rules and -1.96 in rules
    with pytest.raises(mixnb.ModelError, match="needs a mixed model"):
        charts.profile(mixnb.ols("Yield ~ 1", mixnb.load_dataset("dyestuff")))


# --------------------------------------------------------------------------- rendering


def test_importing_charts_selects_the_offline_renderer():
    assert RENDERER in alt.renderers.names()
    previous = alt.renderers.active
    try:
        charts.enable_offline()
        assert alt.renderers.active == RENDERER
    finally:
        alt.renderers.enable(previous)


def test_offline_svg_is_self_contained_and_deterministic(slopes):
    chart = charts.caterpillar(slopes)
    first, second = to_svg(chart), to_svg(charts.caterpillar(slopes))
    assert first == second
    assert first.startswith("<svg") and "Random effects of Subject" in first
    assert "<script" not in first and "cdn" not in first.lower()
    bundle = svg_renderer(chart.to_dict())
    assert bundle["image/svg+xml"] == first
    assert "Random effects of Subject" in bundle["text/plain"]


def test_mimebundle_through_altair_uses_svg(line):
    previous = alt.renderers.active
    try:
        charts.enable_offline()
        bundle = charts.scatter_with_line(line)._repr_mimebundle_()
        bundle = bundle[0] if isinstance(bundle, tuple) else bundle
        assert "image/svg+xml" in bundle
        assert not any("vegalite" in key for key in bundle)
    finally:
        alt.renderers.enable(previous)


def test_element_ids_get_a_per_chart_prefix():
    svg = (
        '<svg><defs><clipPath id="clip1"><rect/></clipPath><clipPath id="clip12"><rect/>'
        '</clipPath></defs><g clip-path="url(#clip1)"/><g clip-path="url(#clip12)"/>'
        '<use href="#clip1"/></svg>'
    )
    out = _prefix_ids(svg)
    ids = re.findall(r'id="([^"]+)"', out)
    prefix = ids[0].removesuffix("clip1")
    assert prefix.startswith("mixnb-") and ids == [prefix + "clip1", prefix + "clip12"]
    assert f"url(#{prefix}clip1)" in out and f"url(#{prefix}clip12)" in out
    assert f'href="#{prefix}clip1"' in out
    assert _prefix_ids(svg) == out  # deterministic
    other = _prefix_ids(svg.replace("<rect/>", "<circle/>"))
    assert re.findall(r'id="([^"]+)"', other)[0] != ids[0]  # another chart, other ids


def test_a_clipped_chart_renders_with_prefixed_ids():
    data = pd.DataFrame({"x": [0, 1, 2], "y": [0, 5, 1]})
    chart = (
        alt.Chart(data)
        .mark_line(clip=True)
        .encode(x="x:Q", y=alt.Y("y:Q", scale=alt.Scale(domain=[0, 2])))
    )
    svg = to_svg(chart)
    ids = re.findall(r'id="([^"]+)"', svg)
    assert ids and all(i.startswith("mixnb-") for i in ids)
    for ref in re.findall(r"url\(#([^)]+)\)", svg):
        assert ref in ids


def test_charts_of_every_shipped_example_render():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mixnb.lmm("strength ~ 1 + (1 | batch/cask)", mixnb.load_dataset("pastes"))
    for chart in (
        charts.caterpillar(fit, "cask:batch"),
        charts.shrinkage(fit, "batch"),
        charts.spaghetti(fit),
        charts.residual_diagnostics(fit),
    ):
        assert to_svg(chart).startswith("<svg")
