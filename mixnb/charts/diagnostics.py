"""Residual diagnostics: residuals against fitted values, and normal quantile plots."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from mixnb.charts._data import is_mixed, response_name, subtitle
from mixnb.charts._limits import MAX_ROWS, add_notes, sample_rows

_PANEL = 300


def _normal_qq(data: pd.DataFrame, value_title: str, by: str | None = None) -> alt.LayerChart:
    """Sorted values against standard normal quantiles at ``(rank - 0.5) / n``, in Vega."""
    groupby = [by] if by else []
    base = (
        alt.Chart()
        .transform_window(rank="row_number()", sort=[alt.SortField("value")], groupby=groupby)
        .transform_joinaggregate(
            count="count()", mean="mean(value)", sd="stdev(value)", groupby=groupby
        )
        .transform_calculate(
            theoretical="quantileNormal((datum.rank - 0.5) / datum.count)",
            reference="datum.mean + datum.sd * quantileNormal((datum.rank - 0.5) / datum.count)",
        )
    )
    # whole-number quantiles: "-2.5" and "-2.0" side by side collide in a 200 px panel
    x = alt.X("theoretical:Q", title="standard normal quantile", axis=alt.Axis(tickMinStep=1))
    return alt.layer(
        base.mark_line(color="#999", strokeDash=[5, 3]).encode(x=x, y="reference:Q"),
        base.mark_circle(size=26, opacity=0.6, color="#4c78a8").encode(
            x=x, y=alt.Y("value:Q", title=value_title, scale=alt.Scale(zero=False))
        ),
        data=data,
    )


def residual_diagnostics(fit: Any) -> alt.VConcatChart:
    """Residuals against fitted values, and normal QQ plots of residuals and random effects.

    Left: residuals against fitted values with a zero line and a LOESS smooth (curvature or
    a funnel shape mean the model misses something). Right: a normal quantile plot of the
    residuals (points near the dashed line: roughly normal). For a mixed model, a row of
    normal quantile plots of each random effect follows. Fitted values and residuals
    include the random effects (conditional on the groups). A big fit draws a random sample
    of its rows (and of each term's random effects), as the subtitle says.

    Examples
    --------
    >>> import mixnb, mixnb.charts
    >>> fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", mixnb.load_dataset("sleepstudy"))
    >>> mixnb.charts.residual_diagnostics(fit).title.text
    'Residual diagnostics: Reaction'
    """
    yname = response_name(fit)
    data = pd.DataFrame({"fitted": fit.fitted().to_numpy(), "value": fit.residuals().to_numpy()})
    data, row_note = sample_rows(data)
    notes = [row_note]
    base = alt.Chart(data)
    x = alt.X("fitted:Q", title=f"fitted {yname}", scale=alt.Scale(zero=False))
    y = alt.Y("value:Q", title="residual")
    spread = alt.layer(
        alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="#999").encode(y="zero:Q"),
        base.mark_circle(size=26, opacity=0.55, color="#4c78a8").encode(x=x, y=y),
        base.transform_loess("fitted", "value")
        .mark_line(color="#d62728", strokeWidth=2)
        .encode(x="fitted:Q", y="value:Q"),
    ).properties(width=_PANEL, height=_PANEL * 0.8, title="Residuals against fitted values")
    qq = _normal_qq(data, "residual").properties(
        width=_PANEL, height=_PANEL * 0.8, title="Normal QQ plot of the residuals"
    )
    rows: list[Any] = [alt.hconcat(spread, qq)]
    if is_mixed(fit):
        effects = []
        for factor, modes in fit.random_effects.items():
            for term in modes.columns:
                effects.append(pd.DataFrame({"effect": f"{factor}: {term}", "value": modes[term]}))
        per_effect = max(MAX_ROWS // len(effects), 100)
        sampled = [sample_rows(e.reset_index(drop=True), per_effect) for e in effects]
        frame = pd.concat([e for e, _ in sampled], ignore_index=True)
        if any(note for _, note in sampled):
            notes.append(f"random effects: at most {per_effect:,} groups of each term drawn")
        order = list(dict.fromkeys(frame["effect"]))
        rows.append(
            _normal_qq(frame, "random effect (BLUP)", by="effect")
            .properties(width=200, height=170)
            .facet(
                facet=alt.Facet(
                    "effect:N", title="Normal QQ plots of the random effects", sort=order
                ),
                columns=3,
            )
            .resolve_scale(x="independent", y="independent")
        )
    title = alt.Title(f"Residual diagnostics: {yname}", subtitle=subtitle(fit))
    return alt.vconcat(*rows).properties(title=add_notes(title, notes))
