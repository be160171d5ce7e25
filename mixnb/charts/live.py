"""Live charts: Vega-Lite parameters bound to sliders, so a chart responds without Python.

A widget needs a running kernel; on the static tutorials site it can only show the state it
had when the notebook ran. These charts carry their data and a few formulas as Vega
expressions, and vega recomputes them in the page as a slider moves: in JupyterLab, on the
offline site and in any page that loads vega. Outside a browser (and in the stored notebook)
they render as SVG at the sliders' starting values (:mod:`mixnb.charts.render`).

=============================  ========================================================
:func:`live_pooling`           a random-intercept fit's lines per group, from complete to
                               no pooling as the between-group variance moves
:func:`live_shrinkage`         the shrinkage factor and simulated group means for chosen
                               ``n``, ``s0^2`` and ``se^2`` (:class:`mixnb.ShrinkageExplorer`
                               without a kernel)
:func:`live_sampling`          precomputed estimates of a slope, filtered by a slider on the
                               number of groups (:func:`mixnb.simulation.slope_sampling`)
:func:`live_t_reference`       a t statistic against t distributions whose degrees of freedom
                               a slider sets, the two-sided p-value printed
=============================  ========================================================

The one formula these charts evaluate in the page is the random-intercept shrinkage factor
``n s0^2 / (n s0^2 + se^2)`` (:func:`mixnb.estimation.by_group.shrinkage_factor` in Python;
:data:`SHRINKAGE_FACTOR` here, as a Vega expression). At a fit's own variances
:func:`live_pooling` draws exactly the fit's lines (``tests/test_charts.py`` checks the
labels it prints against ``fit.coef``).
"""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from mixnb.charts._data import factor_name, group_labels, model_frame, response_name
from mixnb.charts._limits import MAX_LINES, add_notes, sample_groups, sample_rows
from mixnb.charts.lines import _levels
from mixnb.errors import ModelError
from mixnb.simulation import shrinkage_draws

#: The shrinkage factor as a Vega expression of the fields/parameters n, s0 and se.
SHRINKAGE_FACTOR = "{n} * {s0} / ({n} * {s0} + {se})"

_WIDTH = 420
_HEIGHT = 280


def _slider(name: str, value: float, low: float, high: float, step: float, label: str):
    return alt.param(
        name=name,
        value=value,
        bind=alt.binding_range(min=low, max=high, step=step, name=label),
    )


def _nice_max(value: float) -> float:
    """A round slider end of about four times ``value``."""
    if value <= 0:
        return 1.0
    top = 4 * value
    magnitude = 10 ** np.floor(np.log10(top))
    return float(np.ceil(top / magnitude) * magnitude)


def live_pooling(fit: Any, factor: str | None = None) -> alt.VConcatChart:
    """Complete, partial and no pooling of a random-intercept model, with a slider.

    The data of each group, the group's own line (no pooling: the group's mean moved along
    the model's slope, :meth:`mixnb.LmmResult.group_alone_estimates`), the population line
    (complete pooling: the fixed effects) and the mixed model's line for the group (partial
    pooling), whose intercept is the population's plus the shrinkage factor
    ``n_j s0^2 / (n_j s0^2 + se^2)`` times the group's own deviation. The slider moves the
    between-group variance ``s0^2`` with the residual variance and the slope held at the
    fit's: at 0 every group gets the population line, for large values its own line, and at
    the fit's estimate (the slider's start) exactly the fit's lines (``fit.coef``).

    Parameters
    ----------
    fit
        A fitted random-intercept model with one numeric predictor, e.g.
        ``mixnb.lmm("y ~ x + (1 | g)", data)``.
    factor
        The grouping factor; the first one by default.

    Examples
    --------
    >>> import mixnb, mixnb.charts
    >>> fit = mixnb.lmm("return ~ use + (1 | center)", mixnb.load_dataset("treatment_centers"))
    >>> chart = mixnb.charts.live_pooling(fit)
    >>> [p.name for p in chart.params]
    ['s0']
    """
    name = factor_name(fit, factor)
    if list(fit.random_effects[name].columns) != ["Intercept"]:
        raise ModelError(
            f"live_pooling draws a random-intercept model, (1 | {name}); this fit has random "
            f"{', '.join(fit.random_effects[name].columns)} for {name!r}."
        )
    fixed = fit.fixed_effects["estimate"]
    slopes = [t for t in fixed.index if t != "Intercept"]
    frame = model_frame(fit)
    if len(slopes) != 1 or slopes[0] not in frame.columns:
        raise ModelError(
            "live_pooling needs a model with an intercept and one numeric predictor, "
            f"y ~ x + (1 | {name}); this fit's fixed effects are {', '.join(fixed.index)}."
        )
    xname, yname = slopes[0], response_name(fit)
    vc = fit.variance_components
    s0 = float(vc.loc[(vc["group"] == name) & (vc["term1"] == "Intercept"), "estimate"].iloc[0])
    se = float(vc.loc[vc["group"] == "Residual", "estimate"].iloc[0])
    own, _ = fit.group_alone_estimates(name)
    labels = group_labels(fit, name)
    x = frame[xname].to_numpy(dtype=float)
    points = pd.DataFrame({"x": x, "y": fit.design.y, "group": labels.to_numpy()})
    # a big fit: at most MAX_LINES groups and MAX_ROWS points (the subtitle says so)
    levels, group_note = sample_groups(_levels(labels), MAX_LINES)
    if group_note:
        points = points[points["group"].isin(levels)].reset_index(drop=True)
    span = points.groupby("group")["x"].agg(["min", "max"])
    points, row_note = sample_rows(points)
    lines = pd.DataFrame(
        [
            {
                "group": g,
                "x": end,
                "n": int(own.loc[own.index.astype(str) == g, "n"].iloc[0]),
                "own": float(own.loc[own.index.astype(str) == g, "Intercept"].iloc[0]),
                "last": bool(k == 1),
            }
            for g in levels
            for k, end in enumerate((span.loc[g, "min"], span.loc[g, "max"]))
        ]
    )
    pop, slope = float(fixed["Intercept"]), float(fixed[xname])
    lines["population"] = pop + slope * lines["x"]
    lines["own_line"] = lines["own"] + slope * lines["x"]
    high = _nice_max(s0)
    s0_param = _slider("s0", round(s0, 1), 0.0, high, high / 400, f"between-{name} variance s0² ")
    factor_expr = SHRINKAGE_FACTOR.format(n="datum.n", s0="s0", se=str(se))
    partial = (
        alt.Chart(lines)
        .transform_calculate(lam=factor_expr)
        .transform_calculate(
            intercept=f"{pop!r} + datum.lam * (datum.own - {pop!r})",
        )
        .transform_calculate(partial=f"datum.intercept + {slope!r} * datum.x")
    )
    color = alt.Color("group:N", title=name, sort=levels)
    x_enc = alt.X("x:Q", title=xname, scale=alt.Scale(zero=False))
    y_title = alt.Y("y:Q", title=yname, scale=alt.Scale(zero=False))
    lines_chart = alt.layer(
        alt.Chart(points)
        .mark_circle(size=45, opacity=0.55)
        .encode(x=x_enc, y=y_title, color=color),
        alt.Chart(lines)
        .mark_line(strokeDash=[4, 3], strokeWidth=1.5)
        .encode(x="x:Q", y="own_line:Q", color=color, detail="group:N"),
        alt.Chart(lines)
        .mark_line(color="black", strokeWidth=1.5)
        .encode(x="x:Q", y="population:Q", detail="group:N"),
        partial.mark_line(strokeWidth=3, opacity=0.75).encode(x="x:Q", y="partial:Q", color=color),
    ).properties(width=_WIDTH, height=_HEIGHT)
    table = (
        partial.transform_filter("datum.last")
        .transform_calculate(
            label=f"'{name} ' + datum.group + ': λ = ' + format(datum.lam, '.3f')"
            " + ', intercept ' + format(datum.intercept, '.1f')"
            " + ' (alone ' + format(datum.own, '.1f') + ')'"
        )
        .mark_text(align="left", fontSize=12)
        .encode(
            y=alt.Y("group:N", sort=levels, axis=None),
            x=alt.value(0),
            color=alt.Color("group:N", sort=levels, legend=None),
            text="label:N",
        )
        .properties(
            width=_WIDTH,
            height=22 * len(levels),
            view=alt.ViewConfig(stroke=None),
            title=alt.Title(f"all {name}s: intercept {pop:.1f}", fontSize=12, anchor="start"),
        )
    )
    # the table under the chart: the whole fits a phone-width page at a readable size
    chart = alt.vconcat(lines_chart, table, spacing=12).add_params(s0_param)
    title = alt.Title(
        f"From complete to no pooling: {yname} by {name}",
        subtitle=[
            f"thick: mixed model (partial pooling) · dashed: each {name} alone (no pooling)",
            "black: one line for all (complete pooling)",
            f"s0² = 0 is complete pooling; the slider starts at the fit's {s0:.1f};",
            f"se² = {se:.2f} and the slope {slope:.2f} are held at the fit's",
        ],
    )
    title = add_notes(title, [group_note, row_note])
    return chart.properties(title=title)


def live_shrinkage(
    n: int = 5,
    between_variance: float = 25.0,
    residual_variance: float = 100.0,
    n_groups: int = 12,
    grand_mean: float = 50.0,
    seed: int = 2007,
) -> alt.LayerChart:
    """The shrinkage factor for chosen ``n``, ``s0^2`` and ``se^2``, and what it does.

    :class:`mixnb.ShrinkageExplorer` as a chart that needs no kernel: the same simulated
    groups (:func:`mixnb.simulation.shrinkage_draws`; true mean ``grand + s0 z_j``, raw mean
    ``+ (se / sqrt(n)) w_j``), each group's raw mean (no pooling), its shrunken mean (the
    random-intercept model, partial pooling) and the grand mean (complete pooling), with the
    factor ``n s0^2 / (n s0^2 + se^2)`` printed above. Three sliders: ``n``, ``s0^2`` and
    ``se^2``, starting at the arguments.

    Examples
    --------
    >>> import mixnb.charts
    >>> chart = mixnb.charts.live_shrinkage(n=10, between_variance=4, residual_variance=40)
    >>> [p.name for p in chart.params]
    ['n', 's0', 'se']
    """
    draws = shrinkage_draws(n_groups, seed)
    params = [
        _slider("n", n, 1, 100, 1, "group size n "),
        _slider("s0", between_variance, 0, 100, 0.5, "between-group variance s0² "),
        _slider("se", residual_variance, 0.5, 400, 0.5, "residual variance se² "),
    ]
    order = draws.sort_values("z")["group"].tolist()[::-1]
    base = (
        alt.Chart(draws)
        .transform_calculate(
            true=f"{grand_mean!r} + sqrt(s0) * datum.z",
        )
        .transform_calculate(raw="datum.true + sqrt(se / n) * datum.w")
        .transform_joinaggregate(ybar="mean(raw)")
        .transform_calculate(lam=SHRINKAGE_FACTOR.format(n="n", s0="s0", se="se"))
        .transform_calculate(shrunken="datum.ybar + datum.lam * (datum.raw - datum.ybar)")
    )
    y = alt.Y("group:N", sort=order, title="simulated group (by true mean)")
    x_scale = alt.Scale(zero=False)
    x = alt.X("raw:Q", title="group mean", scale=x_scale)
    chart = alt.layer(
        base.mark_rule(color="#999", strokeDash=[5, 3]).encode(x="mean(ybar):Q"),
        base.mark_rule(color="#d62728", opacity=0.6).encode(y=y, x=x, x2="shrunken:Q"),
        base.mark_tick(color="#2ca02c", thickness=2, size=14).encode(y=y, x="true:Q"),
        base.mark_point(size=70, color="#1f77b4", filled=False).encode(y=y, x=x),
        base.mark_point(size=70, color="#d62728", filled=True).encode(y=y, x="shrunken:Q"),
        base.transform_aggregate(lam="mean(lam)")
        .transform_calculate(
            label="'shrinkage factor n s0² / (n s0² + se²) = ' + format(datum.lam, '.3f')"
            " + ': each group keeps ' + format(100 * datum.lam, '.0f') + '% of its distance'"
        )
        .mark_text(align="left", baseline="bottom", fontSize=12, fontWeight="bold")
        .encode(x=alt.value(0), y=alt.value(-6), text="label:N"),
    ).add_params(*params)
    title = alt.Title(
        "Shrinkage: raw group means pulled toward the grand mean",
        subtitle=[
            "open blue: raw mean (no pooling) · red: mixed model (partial pooling)",
            "green tick: true mean · dashed: grand mean (complete pooling)",
        ],
        offset=22,
    )
    return chart.properties(width=_WIDTH, height=_HEIGHT, title=title)


def live_sampling(
    draws: pd.DataFrame, truth: float, parameter: str = "slope", groups_name: str = "groups"
) -> alt.LayerChart:
    """Estimates of a parameter over simulated data sets, for a number of groups on a slider.

    ``draws`` has one row per data set with ``groups``, ``estimate``, ``se`` and
    ``share_below_zero`` (:func:`mixnb.simulation.slope_sampling`); the chart shows the
    histogram of the estimates for the slider's number of groups, the truth, and the
    standard error and share of negative estimates printed above.

    Examples
    --------
    >>> import mixnb.charts, mixnb.simulation
    >>> draws = mixnb.simulation.slope_sampling([0, 1, 2, 3], 1.0, 0.5, 1.0, n_groups=[4, 8])
    >>> [p.name for p in mixnb.charts.live_sampling(draws, truth=1.0).params]
    ['groups']
    """
    needed = {"groups", "estimate", "se", "share_below_zero"}
    if not needed <= set(draws.columns):
        raise ModelError(
            f"live_sampling needs columns {sorted(needed)} (mixnb.simulation.slope_sampling); "
            f"got {sorted(draws.columns)}."
        )
    counts = sorted(int(g) for g in draws["groups"].unique())
    steps = np.diff(counts)
    if len(counts) < 2 or (steps != steps[0]).any():
        raise ModelError(
            "live_sampling's slider needs evenly spaced numbers of groups (e.g. 4, 8, ..., 40);"
            f" got {counts}."
        )
    data = draws[["groups", "estimate", "se", "share_below_zero"]].copy()
    spread = float(data.loc[data["groups"] == counts[0], "estimate"].std())
    low, high = np.floor(truth - 4 * spread), np.ceil(truth + 4 * spread)
    data["estimate"] = data["estimate"].clip(low, high)
    step = (high - low) / 40
    tallest = max(
        np.histogram(data.loc[data["groups"] == g, "estimate"], bins=40, range=(low, high))[0].max()
        for g in counts
    )
    param = _slider(
        "groups", counts[0], counts[0], counts[-1], int(steps[0]), f"number of {groups_name} "
    )
    base = alt.Chart(data).transform_filter(f"datum.groups == {param.name}")
    bins = alt.Bin(extent=[float(low), float(high)], step=float(step))
    chart = alt.layer(
        base.mark_bar(color="#4c78a8", opacity=0.8).encode(
            x=alt.X(
                "estimate:Q",
                bin=bins,
                title=f"estimated {parameter}",
                axis=alt.Axis(values=list(np.arange(low, high + 0.5))),
            ),
            y=alt.Y("count():Q", title="data sets", scale=alt.Scale(domain=[0, int(tallest)])),
        ),
        alt.Chart(pd.DataFrame({"truth": [truth]}))
        .mark_rule(color="black", strokeDash=[5, 3], strokeWidth=2)
        .encode(x="truth:Q"),
        alt.Chart(pd.DataFrame({"zero": [0.0]}))
        .mark_rule(color="#d62728")
        .encode(x="zero:Q")
        .transform_filter(f"{float(low)!r} < 0 && 0 < {float(high)!r}"),
        base.transform_aggregate(
            se="mean(se)", below="mean(share_below_zero)", sets="count()", groups="mean(groups)"
        )
        .transform_calculate(
            label="format(datum.sets, 'd') + ' data sets of ' + format(datum.groups, 'd')"
            f" + ' {groups_name}: standard error ' + format(datum.se, '.2f')"
            " + ', ' + format(100 * datum.below, '.0f') + '% of estimates below 0'"
        )
        .mark_text(align="left", baseline="bottom", fontSize=12, fontWeight="bold")
        .encode(x=alt.value(0), y=alt.value(-6), text="label:N"),
    ).add_params(param)
    title = alt.Title(
        f"Sampling distribution of the {parameter} as the number of {groups_name} grows",
        subtitle=f"dashed: the true {parameter} {truth:g} · red: zero",
        offset=22,
    )
    return chart.properties(width=_WIDTH, height=_HEIGHT, title=title)


def live_t_reference(
    statistic: float,
    df_values: Any = range(1, 41),
    start: float | None = None,
    marks: dict[str, float] | None = None,
) -> alt.LayerChart:
    """A t statistic against the t distribution on a slider's degrees of freedom.

    The densities and two-sided p-values are drawn from ``scipy.stats.t`` for each value of
    ``df_values`` when the chart is made (the page only picks one); the standard normal
    density is drawn dashed for comparison, the tails beyond ``|statistic|`` shaded.

    Parameters
    ----------
    statistic
        The observed t statistic.
    df_values
        Evenly spaced degrees of freedom the slider offers.
    start
        The slider's starting value (the nearest offered); the first by default.
    marks
        Named degrees of freedom to list under the title, e.g. ``{"Satterthwaite": 2.9}``,
        each with its own p-value.

    Examples
    --------
    >>> import mixnb.charts
    >>> [p.name for p in mixnb.charts.live_t_reference(-1.05, range(1, 11)).params]
    ['df']
    """
    from scipy import stats

    dfs = sorted(int(d) for d in df_values)
    steps = np.diff(dfs)
    if len(dfs) < 2 or (steps != steps[0]).any() or dfs[0] < 1:
        raise ModelError(
            "live_t_reference's slider needs evenly spaced degrees of freedom of at least 1 "
            f"(e.g. range(1, 41)); got {dfs}."
        )
    t_abs = abs(float(statistic))
    edge = max(5.0, np.ceil(t_abs + 1))
    grid = np.unique(np.r_[np.linspace(-edge, edge, 101), -t_abs, t_abs])
    curves = pd.concat(
        [pd.DataFrame({"df": d, "x": grid, "density": stats.t.pdf(grid, d)}) for d in dfs],
        ignore_index=True,
    )
    curves["tail"] = np.where(curves["x"] <= -t_abs, "left", "")
    curves.loc[curves["x"] >= t_abs, "tail"] = "right"
    p_values = pd.DataFrame({"df": dfs, "p": [2 * stats.t.sf(t_abs, d) for d in dfs]})
    normal = pd.DataFrame({"x": grid, "density": stats.norm.pdf(grid)})
    first = dfs[0] if start is None else min(dfs, key=lambda d: abs(d - start))
    param = _slider("df", first, dfs[0], dfs[-1], int(steps[0]), "degrees of freedom ")
    chosen = f"datum.df == {param.name}"
    x = alt.X("x:Q", title="t", scale=alt.Scale(domain=[-edge, edge]))
    y = alt.Y("density:Q", title="density", scale=alt.Scale(domain=[0, 0.42]))
    chart = alt.layer(
        alt.Chart(curves)
        .transform_filter(chosen)
        .transform_filter("datum.tail != ''")
        .mark_area(color="#d62728", opacity=0.35)
        .encode(x=x, y=alt.Y("density:Q", stack=None), detail="tail:N"),
        alt.Chart(normal).mark_line(color="#777", strokeDash=[5, 3]).encode(x=x, y=y),
        alt.Chart(curves)
        .transform_filter(chosen)
        .mark_line(color="#1f4e79", strokeWidth=2.5)
        .encode(x=x, y=y),
        alt.Chart(pd.DataFrame({"t": [float(statistic)]}))
        .mark_rule(color="#d62728", strokeWidth=2)
        .encode(x="t:Q"),
        alt.Chart(p_values)
        .transform_filter(chosen)
        .transform_calculate(
            label="'t = ' + format("
            + repr(float(statistic))
            + ", '.2f') + ' on ' + format(datum.df, 'd') + ' df: two-sided p = '"
            " + format(datum.p, '.3f') + ' (shaded)'"
        )
        .mark_text(align="left", baseline="bottom", fontSize=12, fontWeight="bold")
        .encode(x=alt.value(0), y=alt.value(-6), text="label:N"),
    ).add_params(param)
    p_normal = 2 * stats.norm.sf(t_abs)
    named = [f"normal (dashed): p = {p_normal:.3f}"] + [
        f"{name} ({d:.3g} df): p = {2 * stats.t.sf(t_abs, d):.3f}"
        for name, d in (marks or {}).items()
    ]
    title = alt.Title(
        f"The t statistic {statistic:.2f} against t distributions",
        subtitle=" · ".join(named),
        offset=22,
    )
    return chart.properties(width=_WIDTH, height=_HEIGHT - 40, title=title)


__all__ = [
    "SHRINKAGE_FACTOR",
    "live_pooling",
    "live_sampling",
    "live_shrinkage",
    "live_t_reference",
]


def live_disagreement(
    study: pd.DataFrame, term: str = "teaching", level: float = 0.05
) -> alt.LayerChart:
    """A disagreement study's p-values for ``term``, for the hospital SD on a slider.

    ``study`` is :func:`mixnb.disagreement.disagreement_study`'s table (or
    ``mixnb.load_dataset("ami_disagreement")``): each point is one simulated outcome, its
    p-value under the traditional model against the hierarchical one, red where one is
    below ``level`` and the other not; the share of such outcomes is printed above.

    Examples
    --------
    >>> import mixnb, mixnb.charts
    >>> study = mixnb.load_dataset("ami_disagreement")
    >>> [p.name for p in mixnb.charts.live_disagreement(study).params]
    ['sd_hospital']
    """
    needed = {"sd_hospital", "sd_physician", "term", "traditional_p", "hierarchical_p"}
    if not needed <= set(study.columns):
        raise ModelError(
            f"live_disagreement needs a disagreement study's columns {sorted(needed)} "
            f"(mixnb.disagreement.disagreement_study); got {sorted(study.columns)}."
        )
    data = study[study["term"] == term]
    if data.empty:
        raise ModelError(f"The study has no rows for {term!r}.")
    data = data[["sd_hospital", "sd_physician", "traditional_p", "hierarchical_p"]].copy()
    floor = 1e-8  # p-values below it are drawn on the chart's edge
    for column in ("traditional_p", "hierarchical_p"):
        data[column] = data[column].clip(lower=floor)
    data["differ"] = ((data["traditional_p"] < level) != (data["hierarchical_p"] < level)).astype(
        int
    )
    values = sorted(float(v) for v in data["sd_hospital"].unique())
    steps = np.diff(values)
    if len(values) < 2 or not np.allclose(steps, steps[0]):
        raise ModelError(
            f"live_disagreement's slider needs evenly spaced hospital SDs; got {values}."
        )
    param = _slider(
        "sd_hospital",
        values[len(values) // 2],
        values[0],
        values[-1],
        float(steps[0]),
        "SD of hospitals ",
    )
    base = alt.Chart(data).transform_filter(f"abs(datum.sd_hospital - {param.name}) < 1e-9")
    axis = alt.Scale(type="log", domain=[floor, 1])
    cut = pd.DataFrame({"v": [level]})
    chart = alt.layer(
        base.mark_point(filled=True, size=45, opacity=0.75).encode(
            x=alt.X("traditional_p:Q", scale=axis, title="p, traditional model"),
            y=alt.Y("hierarchical_p:Q", scale=axis, title="p, hierarchical model"),
            color=alt.Color(
                "differ:N",
                scale=alt.Scale(domain=[0, 1], range=["#4c78a8", "#e45756"]),
                legend=alt.Legend(
                    title="conclusions", labelExpr="datum.value ? 'differ' : 'agree'"
                ),
            ),
            shape=alt.Shape("sd_physician:N", title="SD of physicians"),
        ),
        alt.Chart(cut).mark_rule(strokeDash=[4, 4], color="gray").encode(x="v:Q"),
        alt.Chart(cut).mark_rule(strokeDash=[4, 4], color="gray").encode(y="v:Q"),
        base.transform_aggregate(share="mean(differ)", outcomes="count()")
        .transform_calculate(
            label="'the models differ on ' + format(100 * datum.share, '.0f') + '% of '"
            " + format(datum.outcomes, 'd') + ' simulated outcomes'"
        )
        .mark_text(align="left", baseline="bottom", fontSize=12, fontWeight="bold")
        .encode(x=alt.value(0), y=alt.value(-6), text="label:N"),
    ).add_params(param)
    title = alt.Title(
        f"p-values for {term}: traditional against hierarchical model",
        subtitle=f"one point per simulated outcome · dashed: p = {level:g}",
        offset=22,
    )
    return chart.properties(width=320, height=320, title=title)
