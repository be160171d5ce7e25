"""Models side by side: coefficients of several fits, and how often their conclusions differ."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from mixnb.charts._data import WIDTH
from mixnb.errors import ModelError


def _intervals(fit: Any) -> pd.DataFrame:
    """Estimate and 95% Wald interval per coefficient, as the fit reports them."""
    if hasattr(fit, "confint") and hasattr(fit, "fixed_effects"):
        ci = fit.confint()
        return pd.DataFrame(
            {"estimate": ci["estimate"], "lower": ci["lower"], "upper": ci["upper"]}
        )
    table = fit.coefficients
    if not {"ci_lower", "ci_upper"} <= set(table.columns):
        raise ModelError(f"A {type(fit).__name__} reports no confidence intervals to draw.")
    return pd.DataFrame(
        {"estimate": table["estimate"], "lower": table["ci_lower"], "upper": table["ci_upper"]}
    )


def coefficient_comparison(
    fits: dict[str, Any], terms: list[str] | None = None, title: str | None = None
) -> alt.TopLevelMixin:
    """Each model's estimate and 95% interval per coefficient, one row per term.

    Parameters
    ----------
    fits
        Model name to fitted result (``mixnb.glm``, ``mixnb.glmm``, ``mixnb.gee``, ...).
    terms
        The coefficients to show, in order; by default those all fits share, without the
        intercept.

    Examples
    --------
    >>> import mixnb, mixnb.charts
    >>> ohio = mixnb.load_dataset("ohio")
    >>> fits = {"glm": mixnb.glm("resp ~ age + smoke", ohio),
    ...         "gee": mixnb.gee("resp ~ age + smoke", ohio, family="binomial")}
    >>> mixnb.charts.coefficient_comparison(fits).layer[1].data["model"].unique().tolist()
    ['glm', 'gee']
    """
    if not fits:
        raise ModelError("coefficient_comparison needs at least one fit, as {name: fit}.")
    tables = {str(name): _intervals(fit) for name, fit in fits.items()}
    shared = [
        t for t in next(iter(tables.values())).index if all(t in v.index for v in tables.values())
    ]
    if terms is None:
        terms = [t for t in shared if t != "Intercept"]
    missing = [t for t in terms if t not in shared]
    if missing:
        raise ModelError(f"Not every fit has the coefficient(s) {missing}; shared: {shared}.")
    data = (
        pd.concat([table.loc[terms].assign(model=name) for name, table in tables.items()])
        .rename_axis("term")
        .reset_index()
    )
    order = list(tables)
    base = alt.Chart(data).encode(
        y=alt.Y("term:N", sort=list(terms), title=None),
        yOffset=alt.YOffset("model:N", sort=order),
        color=alt.Color("model:N", sort=order, title="model"),
    )
    rules = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("lower:Q", title="coefficient (log-odds), 95% interval"), x2="upper:Q"
    )
    points = base.mark_point(filled=True, size=60).encode(
        x="estimate:Q",
        tooltip=[
            "model:N",
            "term:N",
            alt.Tooltip("estimate:Q", format=".3f"),
            alt.Tooltip("lower:Q", format=".3f"),
            alt.Tooltip("upper:Q", format=".3f"),
        ],
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4], color="gray")
    return (zero.encode(x="x:Q") + rules + points).properties(
        width=WIDTH,
        height=alt.Step(16),
        title=title or "Coefficients of each model with 95% intervals",
    )


def disagreement(rates: pd.DataFrame, term: str = "teaching", seed_share: float | None = 0.44):
    """How often the two models disagree about ``term`` as the hospitals' SD grows.

    ``rates`` is :func:`mixnb.disagreement.disagreement_rates` of a study: one line per
    physician SD, the share of replicates whose conclusions differ on the y axis; a
    dashed rule marks the seed's 44% when ``seed_share`` is given.

    Examples
    --------
    >>> import pandas as pd, mixnb.charts
    >>> rates = pd.DataFrame({"term": ["teaching"] * 2, "sd_hospital": [0.0, 1.0],
    ...                       "sd_physician": [0.6, 0.6], "disagree": [0.1, 0.5],
    ...                       "se_ratio": [1.1, 1.9], "replicates": [20, 20]})
    >>> mixnb.charts.disagreement(rates).layer[0].mark.type
    'line'
    """
    data = rates[rates["term"] == term]
    if data.empty:
        raise ModelError(
            f"The study has no rows for {term!r}; its terms: {sorted(rates['term'].unique())}."
        )
    lines = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("sd_hospital:Q", title="SD of the hospital random intercepts (logit scale)"),
            y=alt.Y(
                "disagree:Q",
                title="share of outcomes with different conclusions",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color("sd_physician:O", title="SD of physicians"),
            tooltip=[
                alt.Tooltip("sd_hospital:Q", title="SD hospitals"),
                alt.Tooltip("sd_physician:Q", title="SD physicians"),
                alt.Tooltip("disagree:Q", format=".0%", title="disagree"),
                alt.Tooltip(
                    "se_ratio:Q", format=".2f", title="SE ratio (hierarchical / traditional)"
                ),
                alt.Tooltip("replicates:Q"),
            ],
        )
    )
    layers = [lines]
    if seed_share is not None:
        rule = alt.Chart(pd.DataFrame({"y": [seed_share], "label": ["the seed: 44%"]}))
        layers += [
            rule.mark_rule(strokeDash=[4, 4], color="gray").encode(y="y:Q"),
            rule.mark_text(align="left", dx=4, dy=-6, color="gray").encode(
                y="y:Q", x=alt.value(0), text="label:N"
            ),
        ]
    return alt.layer(*layers).properties(
        width=WIDTH,
        height=260,
        title=f"Traditional against hierarchical model: conclusions about {term}",
    )


def p_value_agreement(study: pd.DataFrame, term: str = "teaching", level: float = 0.05):
    """Each simulated outcome's p-value for ``term`` under both models, on log scales.

    Points in the off-diagonal quadrants (one p below ``level``, the other above) are the
    outcomes on which the traditional and the hierarchical model reach different
    conclusions. ``study`` is :func:`mixnb.disagreement.disagreement_study`'s table.
    """
    data = study[study["term"] == term].assign(
        conclusions=lambda d: d["disagree"].map({True: "differ", False: "agree"})
    )
    if data.empty:
        raise ModelError(f"The study has no rows for {term!r}.")
    axis = alt.Scale(type="log", domain=[1e-8, 1], clamp=True)
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=50, opacity=0.8)
        .encode(
            x=alt.X("traditional_p:Q", scale=axis, title="p, traditional model"),
            y=alt.Y("hierarchical_p:Q", scale=axis, title="p, hierarchical model"),
            color=alt.Color(
                "conclusions:N",
                scale=alt.Scale(domain=["agree", "differ"], range=["#4c78a8", "#e45756"]),
            ),
            tooltip=[
                "replicate:Q",
                alt.Tooltip("traditional_p:Q", format=".2g"),
                alt.Tooltip("hierarchical_p:Q", format=".2g"),
            ],
        )
    )
    cut = pd.DataFrame({"v": [level]})
    rules = [
        alt.Chart(cut).mark_rule(strokeDash=[4, 4], color="gray").encode(x="v:Q"),
        alt.Chart(cut).mark_rule(strokeDash=[4, 4], color="gray").encode(y="v:Q"),
    ]
    return alt.layer(points, *rules).properties(
        width=320, height=320, title=f"p-values for {term}: one point per simulated outcome"
    )
