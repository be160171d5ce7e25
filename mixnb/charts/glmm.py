"""Charts of a GLMM: fitted probability (or rate) curves per group, binned residuals.

The caterpillar plot of a GLMM is :func:`mixnb.charts.caterpillar` (its modes are on the
link scale). Every number comes from the result (``fit.predict``,
``fit.binned_residuals``); these functions only lay them out.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from mixnb.charts._data import HEIGHT, WIDTH, factor_name, subtitle
from mixnb.errors import MixnbError


def _response_title(fit: Any) -> str:
    return "probability" if fit.family.name == "binomial" else "expected count"


def fitted_curves(
    fit: Any, x: str, factor: str | None = None, max_groups: int = 12, points: int = 60
) -> alt.LayerChart:
    """Fitted response curves along a numeric predictor ``x``: one per group (up to
    ``max_groups``, the others' predictors held at the group's first row), the typical
    group's (random effects 0) and the population average (``marginal=True``).
    """
    frame = fit.design.frame
    if x not in frame.columns or not pd.api.types.is_numeric_dtype(frame[x]):
        raise MixnbError(f"fitted_curves needs a numeric predictor of the model for x, not {x!r}.")
    name = factor_name(fit, factor)
    block = next(b for b in fit.design.random if b.factor.name == name)
    grid = np.linspace(frame[x].min(), frame[x].max(), points)
    labels = block.factor.labels_of(frame)
    levels = list(dict.fromkeys(labels))[:max_groups]
    first = {lab: frame.loc[labels == lab].iloc[0] for lab in levels}
    rows = []
    for lab in levels:
        base = pd.DataFrame([first[lab]] * points).reset_index(drop=True)
        base[x] = grid
        rows.append(base.assign(_curve=str(lab), _kind="group"))
    typical = pd.DataFrame([frame.iloc[0]] * points).reset_index(drop=True)
    typical[x] = grid
    curves = pd.concat(rows, ignore_index=True)
    curves["value"] = fit.predict(curves).to_numpy()
    typical_curve = typical.assign(
        _curve="typical group (random effects 0)",
        value=fit.predict(typical, include_random=False).to_numpy(),
    )
    marginal_curve = typical.assign(
        _curve="population average", value=fit.predict(typical, marginal=True).to_numpy()
    )
    data = curves[[x, "_curve", "value"]].rename(columns={"_curve": name})
    summary = pd.concat([typical_curve, marginal_curve])[[x, "_curve", "value"]]
    y = alt.Y("value:Q", title=f"fitted {_response_title(fit)}")
    groups = (
        alt.Chart(data)
        .mark_line(strokeWidth=1, opacity=0.55)
        .encode(
            x=alt.X(f"{x}:Q", title=x),
            y=y,
            detail=f"{name}:N",
            color=alt.value("#9ecae1"),
            tooltip=[alt.Tooltip(f"{name}:N"), alt.Tooltip("value:Q", format=".3f")],
        )
    )
    overall = (
        alt.Chart(summary)
        .mark_line(strokeWidth=2.5)
        .encode(
            x=f"{x}:Q",
            y="value:Q",
            color=alt.Color("_curve:N", title=None, scale=alt.Scale(range=["#d62728", "#111"])),
            strokeDash=alt.StrokeDash("_curve:N", title=None),
        )
    )
    return alt.layer(groups, overall).properties(
        width=WIDTH,
        height=HEIGHT,
        title=alt.Title(
            f"Fitted {_response_title(fit)} by {name} (first {len(levels)} groups)",
            subtitle=subtitle(fit),
        ),
    )


def binned_residuals(fit: Any, bins: int | None = None) -> alt.LayerChart:
    """Mean response residual in bins of the fitted values, with +/- 2 SE bounds
    (Gelman and Hill 2007): points outside the bounds show misfit."""
    data = fit.binned_residuals(bins)
    band = data.assign(lower=-data["bound"], upper=data["bound"])
    x = alt.X("fitted:Q", title=f"mean fitted {_response_title(fit)}")
    bounds = (
        alt.Chart(band)
        .mark_area(opacity=0.18, color="#4c78a8")
        .encode(x=x, y=alt.Y("lower:Q", title="mean residual (y - fitted)"), y2="upper:Q")
    )
    zero = (
        alt.Chart(pd.DataFrame({"zero": [0.0]}))
        .mark_rule(color="#888", strokeDash=[3, 3])
        .encode(y="zero:Q")
    )
    dots = (
        alt.Chart(data)
        .mark_circle(size=40, color="#d62728", opacity=1)
        .encode(
            x="fitted:Q",
            y="residual:Q",
            tooltip=[
                alt.Tooltip("n:Q", title="rows"),
                alt.Tooltip("residual:Q", format=".3g"),
                alt.Tooltip("bound:Q", format=".3g"),
            ],
        )
    )
    return alt.layer(bounds, zero, dots).properties(
        width=WIDTH,
        height=HEIGHT,
        title=alt.Title(f"Binned residuals ({len(data)} bins, ± 2 SE)", subtitle=subtitle(fit)),
    )
