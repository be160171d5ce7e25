"""The random effects: caterpillar plots and shrinkage toward the population value."""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from mixnb.charts._data import HEIGHT, WIDTH, factor_name, subtitle
from mixnb.charts._limits import add_notes, sample_groups
from mixnb.errors import ModelError

#: Half-width of the intervals, in conditional standard deviations (95% under normality).
Z_95 = 1.96


def _terms_of(fit: Any, name: str, term: str | None) -> list[str]:
    columns = list(fit.random_effects[name].columns)
    if term is None:
        return columns
    if term not in columns:
        raise ModelError(
            f"The grouping factor {name!r} has no random {term!r}; it has: {', '.join(columns)}."
        )
    return [term]


def caterpillar(fit: Any, factor: str | None = None, term: str | None = None) -> alt.TopLevelMixin:
    """Each group's random effect (BLUP) with an interval of ±1.96 conditional SDs, sorted.

    With more than 60 groups, 60 evenly spaced in the sorted order are drawn (the smallest
    and the largest among them); the subtitle says so.

    Parameters
    ----------
    fit
        A fitted mixed model.
    factor
        The grouping factor; the first one by default.
    term
        One random term (e.g. ``"Days"``); all of the factor's terms side by side by default,
        the groups ordered by the first.

    Examples
    --------
    >>> import mixnb, mixnb.charts
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    >>> mixnb.charts.caterpillar(fit).title.text
    'Random effects of Batch: conditional modes ± 1.96 SD'
    """
    name = factor_name(fit, factor)
    terms = _terms_of(fit, name, term)
    modes = fit.random_effects[name]
    order = modes[terms[0]].sort_values(kind="stable").index.astype(str).tolist()
    order, note = sample_groups(order, spread=True)
    data = fit.random_effect_intervals(name, width=Z_95)
    data = data[data["term"].isin(terms)].reset_index(drop=True)
    if note:
        data = data[data["group"].astype(str).isin(order)].reset_index(drop=True)
    height = min(max(HEIGHT // 2, 14 * len(order)), 1200)
    panels = []
    for t in terms:
        base = alt.Chart(data[data["term"] == t])
        y = alt.Y("group:N", title=name if t == terms[0] else None, sort=order[::-1])
        x_title = f"{t}" if len(terms) > 1 else f"random effect: {t}"
        panels.append(
            alt.layer(
                alt.Chart(pd.DataFrame({"zero": [0.0]}))
                .mark_rule(color="#888", strokeDash=[3, 3])
                .encode(x="zero:Q"),
                base.mark_rule(color="#4c78a8", strokeWidth=1.6).encode(
                    x=alt.X("lower:Q", title=x_title), x2="upper:Q", y=y
                ),
                base.mark_circle(size=42, color="#d62728", opacity=1).encode(
                    x="estimate:Q",
                    y=y,
                    tooltip=[
                        alt.Tooltip("group:N", title=name),
                        alt.Tooltip("estimate:Q", format=".4g"),
                        alt.Tooltip("sd:Q", title="conditional SD", format=".4g"),
                    ],
                ),
            ).properties(width=WIDTH if len(terms) == 1 else 260, height=height)
        )
    chart = panels[0] if len(panels) == 1 else alt.hconcat(*panels)
    title = alt.Title(
        f"Random effects of {name}: conditional modes ± 1.96 SD", subtitle=subtitle(fit)
    )
    return chart.properties(title=add_notes(title, [note]))


def _padded(lo: float, hi: float) -> list[float]:
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return [lo - 0.06 * span, hi + 0.06 * span]


def shrinkage(
    fit: Any, factor: str | None = None, terms: list[str] | None = None
) -> alt.LayerChart:
    """Each group's own estimate, and where the mixed model puts it.

    Open circles: the group fitted alone; arrows: to the mixed model's coefficient for the
    group (fixed effects plus its BLUP); black cross (or dashed line): the population value
    (the fixed effects). Small or noisy groups move furthest. With one random term the
    groups are rows; with two or more, the first two terms span a plane. With more than 60
    groups a seeded random sample of 60 is drawn, as the subtitle says.

    "Alone" is the same model fitted to the group's rows by least squares, with the fixed
    effects that have no random counterpart held at the model's estimates
    (:meth:`mixnb.LmmResult.group_alone_estimates`): for ``y ~ x + (1 | g)`` the
    group's mean moved along the population slope to ``x = 0``, where the intercepts are
    read. That is exactly the estimate the BLUP shrinks, so every arrow points toward the
    population value (with one random term; with two, toward it in the metric of the
    shrinkage). A chart note names the effects held. The group's intercept from its own
    regression on ``x`` would not do: it moves with the group's own noisy slope, and its
    arrow can point away from the population.

    Parameters
    ----------
    fit
        A fitted mixed model.
    factor
        The grouping factor; the first one by default.
    terms
        The one or two random terms to show; the factor's first two by default.

    Examples
    --------
    >>> import mixnb, mixnb.charts
    >>> fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", mixnb.load_dataset("sleepstudy"))
    >>> mixnb.charts.shrinkage(fit).title.text
    'Shrinkage by Subject: own least-squares lines pulled toward the population'
    """
    name = factor_name(fit, factor)
    available = list(fit.random_effects[name].columns)
    terms = list(terms or available[:2])
    unknown = [t for t in terms if t not in available]
    if unknown or not 1 <= len(terms) <= 2:
        raise ModelError(
            f"terms must name one or two random terms of {name!r} ({', '.join(available)}); "
            f"got {terms!r}."
        )
    own, held = fit.group_alone_estimates(name)
    mixed = fit.coef[name]
    fixed = fit.fixed_effects["estimate"]
    population = {t: float(fixed.get(t, 0.0)) for t in terms}
    data = pd.DataFrame({"group": own.index.astype(str), "n": own["n"].to_numpy()})
    for k, t in enumerate(terms):
        data[f"own{k}"] = own[t].to_numpy()
        data[f"mixed{k}"] = mixed.loc[own.index, t].to_numpy()
    dropped = int(data[[f"own{k}" for k in range(len(terms))]].isna().any(axis=1).sum())
    data = data.dropna().reset_index(drop=True)
    shown, group_note = sample_groups(data["group"].tolist())
    if group_note:
        data = data[data["group"].isin(shown)].reset_index(drop=True)
    note = f"; {dropped} group(s) too small to fit alone left out" if dropped else ""
    marker = "black cross" if len(terms) == 2 else "dashed line"
    lines = [
        subtitle(fit),
        f"open circle: group alone · arrow head: mixed model · {marker}: population" + note,
    ]
    if held:
        lines.append(
            "group alone: the model fitted to the group's rows, with "
            + ", ".join(held)
            + " held at the fixed-effect estimate"
            + ("s" if len(held) > 1 else "")
        )
    if group_note:
        lines.append(group_note)
    title = alt.Title(
        f"Shrinkage by {name}: own least-squares "
        + ("lines" if len(terms) == 2 else "estimates")
        + " pulled toward the population",
        subtitle=lines,
    )
    if len(terms) == 1:
        return _shrinkage_1d(data, terms[0], population[terms[0]], name, title)
    return _shrinkage_2d(data, terms, population, name, title)


def _arrow_heads(data: pd.DataFrame, sx: float, sy: float) -> pd.Series:
    """Screen angle (degrees clockwise from up) of each own -> mixed arrow."""
    dx = (data["mixed0"] - data["own0"]) * sx
    dy = (data["mixed1"] - data["own1"]) * sy
    return pd.Series(np.degrees(np.arctan2(dx, dy)), index=data.index)


def _shrinkage_2d(
    data: pd.DataFrame, terms: list[str], population: dict[str, float], name: str, title: Any
) -> alt.LayerChart:
    xs = pd.concat([data["own0"], data["mixed0"], pd.Series([population[terms[0]]])])
    ys = pd.concat([data["own1"], data["mixed1"], pd.Series([population[terms[1]]])])
    xdom, ydom = _padded(xs.min(), xs.max()), _padded(ys.min(), ys.max())
    size = 380
    data = data.assign(
        angle=_arrow_heads(data, size / (xdom[1] - xdom[0]), size / (ydom[1] - ydom[0]))
    )
    x = alt.X("own0:Q", title=terms[0], scale=alt.Scale(domain=xdom, nice=False, zero=False))
    y = alt.Y("own1:Q", title=terms[1], scale=alt.Scale(domain=ydom, nice=False, zero=False))
    base = alt.Chart(data)
    tooltip = [
        alt.Tooltip("group:N", title=name),
        alt.Tooltip("n:Q", title="rows"),
        alt.Tooltip("own0:Q", title=f"{terms[0]} alone", format=".4g"),
        alt.Tooltip("mixed0:Q", title=f"{terms[0]} mixed", format=".4g"),
        alt.Tooltip("own1:Q", title=f"{terms[1]} alone", format=".4g"),
        alt.Tooltip("mixed1:Q", title=f"{terms[1]} mixed", format=".4g"),
    ]
    centre = pd.DataFrame({"x": [population[terms[0]]], "y": [population[terms[1]]]})
    return alt.layer(
        base.mark_rule(color="#999", strokeWidth=1.2).encode(
            x=x, y=y, x2="mixed0:Q", y2="mixed1:Q"
        ),
        base.mark_point(shape="circle", filled=False, size=46, color="#4c78a8").encode(
            x=x, y=y, tooltip=tooltip
        ),
        base.mark_point(shape="triangle", filled=True, size=60, color="#d62728").encode(
            x=alt.X("mixed0:Q", scale=alt.Scale(domain=xdom, nice=False, zero=False)),
            y=alt.Y("mixed1:Q", scale=alt.Scale(domain=ydom, nice=False, zero=False)),
            angle=alt.Angle("angle:Q", scale=None),
            tooltip=tooltip,
        ),
        alt.Chart(centre)
        .mark_point(shape="cross", filled=True, size=220, color="black", angle=45)
        .encode(x="x:Q", y="y:Q"),
    ).properties(width=size, height=size, title=title)


def _shrinkage_1d(
    data: pd.DataFrame, term: str, population: float, name: str, title: Any
) -> alt.LayerChart:
    order = data.sort_values("own0", kind="stable")["group"].tolist()
    data = data.assign(angle=np.where(data["mixed0"] >= data["own0"], 90.0, 270.0))
    values = pd.concat([data["own0"], data["mixed0"]])
    xdom = _padded(min(values.min(), population), max(values.max(), population))
    x = alt.X("own0:Q", title=term, scale=alt.Scale(domain=xdom, nice=False, zero=False))
    y = alt.Y("group:N", title=name, sort=order[::-1])
    base = alt.Chart(data)
    tooltip = [
        alt.Tooltip("group:N", title=name),
        alt.Tooltip("n:Q", title="rows"),
        alt.Tooltip("own0:Q", title="alone", format=".4g"),
        alt.Tooltip("mixed0:Q", title="mixed", format=".4g"),
    ]
    height = min(max(HEIGHT // 2, 16 * len(order)), 1200)
    return alt.layer(
        alt.Chart(pd.DataFrame({"x": [population]}))
        .mark_rule(color="black", strokeDash=[6, 3], strokeWidth=1.5)
        .encode(x="x:Q"),
        base.mark_rule(color="#999", strokeWidth=1.2).encode(x=x, x2="mixed0:Q", y=y),
        base.mark_point(shape="circle", filled=False, size=46, color="#4c78a8").encode(
            x=x, y=y, tooltip=tooltip
        ),
        base.mark_point(shape="triangle", filled=True, size=60, color="#d62728").encode(
            x=alt.X("mixed0:Q", scale=alt.Scale(domain=xdom, nice=False, zero=False)),
            y=y,
            angle=alt.Angle("angle:Q", scale=None),
            tooltip=tooltip,
        ),
    ).properties(width=WIDTH, height=height, title=title)
