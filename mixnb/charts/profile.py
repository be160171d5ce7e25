"""Likelihood profiles: how the deviance rises as one parameter moves from its estimate."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from mixnb.charts._data import factor_name, subtitle
from mixnb.charts.effects import Z_95


def profile(fit: Any, columns: int = 3) -> alt.FacetChart:
    """Each parameter's likelihood profile (lme4's ``xyplot(profile(fit))``).

    For every parameter, ``zeta`` (the signed square root of the deviance's rise when the
    parameter is held at ``value`` and the rest re-estimated) against ``value``. A straight
    line means a quadratic log-likelihood, where Wald intervals are fine; a bent one (often
    for standard deviations) is why profile intervals are asymmetric. Where the curve
    crosses the dashed lines at ±1.96 lie the 95% profile limits (``fit.confint()``).

    Parameters
    ----------
    fit
        A fitted mixed model; ``fit.profile()`` is computed (once) if needed.
    columns
        Panels per row.

    Examples
    --------
    >>> import mixnb, mixnb.charts
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    >>> mixnb.charts.profile(fit).title.text
    'Likelihood profiles of Yield'
    """
    factor_name(fit)  # a mixed model, or a plain-words error
    table = fit.profile()
    order = [str(p) for p in table["parameter"].cat.categories]
    data = pd.DataFrame(
        {
            "parameter": table["parameter"].astype(str).to_numpy(),
            "value": table["value"].to_numpy(),
            "zeta": table["zeta"].to_numpy(),
        }
    )
    estimates = table.attrs.get("estimates", {})
    data["estimate"] = data["parameter"].map(estimates)
    base = alt.Chart()
    panel = alt.layer(
        base.mark_rule(color="#999").encode(y=alt.datum(0)),
        base.mark_rule(color="#d62728", strokeDash=[5, 3]).encode(y=alt.datum(Z_95)),
        base.mark_rule(color="#d62728", strokeDash=[5, 3]).encode(y=alt.datum(-Z_95)),
        base.mark_rule(color="#999", strokeDash=[2, 2]).encode(x="mean(estimate):Q"),
        base.mark_line(color="#4c78a8", strokeWidth=2, point=alt.OverlayMarkDef(size=18)).encode(
            x=alt.X("value:Q", title=None, scale=alt.Scale(zero=False)),
            y=alt.Y("zeta:Q", title="zeta"),
            order="value:Q",
        ),
        data=data,
    ).properties(width=200, height=170)
    notes = [str(n) for n in table.attrs.get("notes", [])]
    return (
        panel.facet(facet=alt.Facet("parameter:N", title=None, sort=order), columns=columns)
        .resolve_scale(x="independent")
        .properties(
            title=alt.Title(
                f"Likelihood profiles of {fit.design.response_name}",
                subtitle=[subtitle(fit), "dashed red: zeta = ±1.96 (95% profile limits)", *notes],
            )
        )
    )
