"""Charts: titles, encodings and data of every chart, and the offline SVG renderer."""

from __future__ import annotations

import html
import json
import re
import warnings
from collections.abc import Iterator

import altair as alt
import numpy as np
import pandas as pd
import pytest

import mixnb
import mixnb.charts as charts
import mixnb.simulation as simulation
from mixnb.charts.render import (
    FONT,
    LIVE_MIMETYPE,
    RENDERER,
    _prefix_ids,
    describe,
    spec_to_svg,
    svg_renderer,
    to_svg,
)
from mixnb.estimation.by_group import per_group_least_squares, shrinkage_factor


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
    bundle, metadata = svg_renderer(chart.to_dict())
    assert bundle["image/svg+xml"] == first
    assert "Random effects of Subject" in bundle["text/plain"]
    assert metadata["image/svg+xml"]["alt"].startswith("Chart: Random effects of Subject")


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


# --------------------------------------------------------------------------- text and alt text


def test_svg_text_uses_the_metric_compatible_font(line):
    """vl-convert measures with Liberation Sans; the SVG names the families a browser draws
    with the same widths (titles are not clipped by a wider fallback font)."""
    svg = to_svg(charts.scatter_with_line(line))
    families = set(re.findall(r'font-family="([^"]+)"', svg))
    assert families == {FONT}
    assert FONT.startswith("Liberation Sans, Arimo, Arial, Helvetica")


def test_alt_text_names_title_panels_and_axes(sleep):
    fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    text = describe(charts.residual_diagnostics(fit).to_dict())
    assert text.startswith("Chart: Residual diagnostics: Reaction (Reaction ~ Days")
    assert "Normal QQ plot of the residuals" in text
    assert "x axis: fitted Reaction" in text and "y axis: residual" in text
    assert describe({"description": "Given.", "mark": "point"}) == "Given."


def test_svg_carries_its_alt_text_escaped():
    """Inlined (as the widgets inline it) the SVG is a named image: role, aria-label, title."""
    chart = alt.Chart(pd.DataFrame({"x": [1.0]}), title='<b> & "c"').mark_point().encode(x="x")
    svg = to_svg(chart)
    head = svg.split(">", 1)[0]
    text = html.escape(describe(chart.to_dict()), quote=True)
    assert text.startswith("Chart: &lt;b&gt; &amp; &quot;c&quot;")
    assert f'role="img" aria-label="{text}"' in head
    assert f"<title>{text}</title>" in svg and "<b>" not in svg


def test_qq_axes_use_whole_number_quantiles(line):
    spec = charts.residual_diagnostics(line).to_dict()
    x = [v.get("encoding", {}).get("x", {}) for v in views(spec)]
    axes = [e.get("axis", {}) for e in x if e.get("field") == "theoretical"]
    assert axes and all(a.get("tickMinStep") == 1 for a in axes)


# --------------------------------------------------------------------------- live charts


@pytest.fixture(scope="module")
def centers_ri() -> mixnb.LmmResult:
    return mixnb.lmm("return ~ use + (1 | center)", mixnb.load_dataset("treatment_centers"))


def sliders(spec: dict) -> dict[str, dict]:
    return {p["name"]: p for p in spec.get("params", []) if "bind" in p}


def svg_labels(spec: dict) -> list[str]:
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", spec_to_svg(spec))]


def with_values(spec: dict, **values: float) -> dict:
    spec = json.loads(json.dumps(spec))
    for param in spec["params"]:
        if param["name"] in values:
            param["value"] = values[param["name"]]
    return spec


def test_live_charts_bind_sliders_and_render_as_vega_lite(centers_ri):
    draws = simulation.slope_sampling([0.0, 1, 2, 3], 1.0, 0.5, 1.0, n_groups=[4, 8], replicates=5)
    for chart, names in (
        (charts.live_pooling(centers_ri), {"s0"}),
        (charts.live_shrinkage(), {"n", "s0", "se"}),
        (charts.live_sampling(draws, truth=1.0), {"groups"}),
    ):
        spec = chart.to_dict()
        bound = sliders(spec)
        assert set(bound) == names
        assert all(p["bind"]["input"] == "range" and p["bind"]["name"] for p in bound.values())
        bundle, metadata = svg_renderer(spec)
        live = bundle[LIVE_MIMETYPE]
        assert live["$schema"].endswith("/v5.json") and live["config"]["font"] == FONT
        assert set(sliders(live)) == names
        assert bundle["image/svg+xml"].startswith("<svg")
        assert metadata[LIVE_MIMETYPE]["alt"].endswith("sliders below the chart change it.")
        assert metadata[LIVE_MIMETYPE]["embed_options"] == {"renderer": "svg", "actions": False}


def test_live_pooling_draws_the_fits_lines_and_complete_pooling(centers_ri):
    spec = charts.live_pooling(centers_ri).to_dict()
    fixed = centers_ri.fixed_effects.loc["Intercept", "estimate"]
    s0 = centers_ri.variance_components.set_index("group").loc["center", "estimate"]
    assert sliders(spec)["s0"]["value"] == round(s0, 1)
    se = centers_ri.variance_components.set_index("group").loc["Residual", "estimate"]
    own, _ = centers_ri.group_alone_estimates("center")
    coef = centers_ri.coef["center"]["Intercept"]
    # at the slider's start: the fit's own lines (fit.coef), lambda from the Python formula
    at_fit = [t for t in svg_labels(spec) if t.startswith("center ")]
    assert at_fit == [
        f"center {c}: λ = {shrinkage_factor(own.loc[c, 'n'], round(s0, 1), se):.3f}, "
        f"intercept {v:.1f} (alone {own.loc[c, 'Intercept']:.1f})"
        for c, v in coef.items()
    ]
    # s0^2 = 0: complete pooling, every center on the population line
    pooled = [t for t in svg_labels(with_values(spec, s0=0)) if t.startswith("center ")]
    assert [t.split(" (alone")[0] for t in pooled] == [
        f"center {c}: λ = 0.000, intercept {fixed:.1f}" for c in coef.index
    ]


def test_live_shrinkage_factor_is_the_python_formula():
    spec = charts.live_shrinkage().to_dict()
    for n, s0, se in [(5, 25.0, 100.0), (10, 4.0, 40.0), (37, 12.5, 250.0)]:
        label = [t for t in svg_labels(with_values(spec, n=n, s0=s0, se=se)) if "factor" in t]
        assert len(label) == 1
        assert f"= {shrinkage_factor(n, s0, se):.3f}:" in label[0]


def test_live_sampling_filters_the_slider_groups():
    draws = simulation.slope_sampling([0.0, 1, 2, 3, 4], -1.0, 1.0, 2.0, n_groups=[4, 8, 12])
    spec = charts.live_sampling(draws, truth=-1.0, groups_name="centers").to_dict()
    assert (
        sliders(spec)["groups"]["bind"] | {"min": 4, "max": 12, "step": 4}
        == sliders(spec)["groups"]["bind"]
    )
    for groups in (4, 12):
        se = draws.loc[draws["groups"] == groups, "se"].iloc[0]
        label = [t for t in svg_labels(with_values(spec, groups=groups)) if "standard error" in t]
        assert label == [
            f"400 data sets of {groups} centers: standard error {se:.2f}, "
            f"{100 * (draws.loc[draws['groups'] == groups, 'estimate'] < 0).mean():.0f}% of "
            "estimates below 0"
        ]
    with pytest.raises(mixnb.ModelError, match="evenly spaced"):
        uneven = simulation.slope_sampling([0.0, 1], -1.0, 1.0, 2.0, n_groups=[4, 8, 20])
        charts.live_sampling(uneven, truth=-1.0)


def test_slope_sampling_is_the_mixed_models_estimate_and_its_spread():
    """With the same x in every group, lmm's fixed slope is the mean of the groups' own
    least-squares slopes (what slope_sampling averages), and the draws' SD is the stated SE."""
    data = simulation.simulate_groups(n_groups=6, n_per_group=5, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixnb.MixnbWarning)
        fit = mixnb.lmm("y ~ x + (x | group)", data)
    own = [np.polyfit(g["x"], g["y"], 1)[0] for _, g in data.groupby("group")]
    assert fit.fixed_effects.loc["x", "estimate"] == pytest.approx(np.mean(own), rel=1e-6)

    draws = simulation.slope_sampling(
        np.arange(5.0), 2.0, 1.0, 3.0, n_groups=[4, 16], replicates=4000, seed=1
    )
    for groups, frame in draws.groupby("groups"):
        se = np.sqrt((1.0 + 9.0 / 10.0) / groups)  # Sxx of 0..4 is 10
        assert frame["se"].iloc[0] == pytest.approx(se)
        # 4000 draws: the SD within 5% (its sampling SD is about 1.1%), the mean within 4 SEs
        assert frame["estimate"].std() == pytest.approx(se, rel=0.05)
        assert abs(frame["estimate"].mean() - 2.0) < 4 * se / np.sqrt(4000)
    with pytest.raises(mixnb.DataError, match="two different values"):
        simulation.slope_sampling([1.0, 1.0], 1.0, 1.0, 1.0)


def test_live_t_reference_prints_the_t_p_value_for_the_slider_df():
    from scipy import stats

    spec = charts.live_t_reference(-1.05, range(1, 41), start=2.9, marks={"S": 2.9}).to_dict()
    assert sliders(spec)["df"]["value"] == 3
    for df in (1, 3, 38):
        label = [t for t in svg_labels(with_values(spec, df=df)) if "two-sided" in t]
        assert label == [
            f"t = −1.05 on {df} df: two-sided p = {2 * stats.t.sf(1.05, df):.3f} (shaded)"
        ]
    assert f"S (2.9 df): p = {2 * stats.t.sf(1.05, 2.9):.3f}" in spec["title"]["subtitle"]
    with pytest.raises(mixnb.ModelError, match="evenly spaced"):
        charts.live_t_reference(2.0, [1, 2, 5])
