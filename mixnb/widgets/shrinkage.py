"""How much a random intercept pulls a group's mean toward the grand mean, and why."""

from __future__ import annotations

import html

import altair as alt
import ipywidgets as widgets
import pandas as pd

from mixnb.simulation import shrinkage_demo
from mixnb.widgets._common import INFO_STYLE, chart_html, slider


def shrinkage_chart(data: pd.DataFrame) -> alt.LayerChart:
    """Raw group means (open) pulled to the shrunken means (filled), grand mean dashed."""
    order = data.sort_values("raw_mean", kind="stable")["group"].tolist()[::-1]
    grand = data.attrs.get("grand_mean", float(data["raw_mean"].mean()))
    y = alt.Y("group:N", title="group", sort=order)
    base = alt.Chart(data)
    x = alt.X("raw_mean:Q", title="group mean", scale=alt.Scale(zero=False))
    return alt.layer(
        alt.Chart(pd.DataFrame({"grand": [grand]}))
        .mark_rule(color="black", strokeDash=[6, 3])
        .encode(x="grand:Q"),
        base.mark_rule(color="#999", strokeWidth=1.5).encode(x=x, x2="shrunken_mean:Q", y=y),
        base.mark_tick(color="#2ca02c", thickness=2, size=12, opacity=0.8).encode(
            x="true_mean:Q", y=y
        ),
        base.mark_point(shape="circle", filled=False, size=60, color="#4c78a8").encode(x=x, y=y),
        base.mark_point(shape="circle", filled=True, size=60, color="#d62728").encode(
            x="shrunken_mean:Q", y=y
        ),
    ).properties(
        width=380,
        height=280,
        title=alt.Title(
            f"Shrinkage factor {data.attrs.get('factor', float('nan')):.3f}",
            subtitle=[
                "open blue: raw group mean · red: mixed-model estimate",
                "green tick: true group mean · dashed: grand mean",
            ],
        ),
    )


class ShrinkageExplorer(widgets.VBox):
    """Sliders for group size ``n`` and the variances ``s0^2`` and ``se^2``; see the shrinkage.

    A random-intercept model estimates a group's deviation from the grand mean as its raw
    deviation times ``n s0^2 / (n s0^2 + se^2)`` (the seed's slide 7): small groups, noisy
    data or similar groups mean strong pulling toward the grand mean.

    Attributes
    ----------
    factor : float
        The current shrinkage factor.
    data : pandas.DataFrame
        The groups' true, raw and shrunken means at the current settings.

    Examples
    --------
    >>> explorer = ShrinkageExplorer(n=10, between_variance=4.0, residual_variance=40.0)
    >>> explorer.factor
    0.5
    >>> explorer.n.value = 90
    >>> round(explorer.factor, 2)
    0.9
    """

    def __init__(
        self,
        n: int = 5,
        between_variance: float = 25.0,
        residual_variance: float = 100.0,
        n_groups: int = 12,
    ) -> None:
        self.n_groups = n_groups
        style = {"description_width": "190px"}
        layout = widgets.Layout(width="460px")
        self.n = slider(n, 1, 100, "group size n", style=style, layout=layout)
        self.between = slider(
            between_variance,
            0.0,
            100.0,
            "between-group variance s0²",
            style=style,
            layout=layout,
            step=0.5,
        )
        self.residual = slider(
            residual_variance,
            0.5,
            400.0,
            "residual variance se²",
            style=style,
            layout=layout,
            step=0.5,
        )
        self.explanation = widgets.HTML()
        self.chart = widgets.HTML()
        for control in (self.n, self.between, self.residual):
            control.observe(self._update, names="value")
        super().__init__([self.n, self.between, self.residual, self.explanation, self.chart])
        self.add_class("mixnb-shrinkage-explorer")
        self._update()

    @property
    def factor(self) -> float:
        return float(self.data.attrs["factor"])

    def _update(self, change: dict | None = None) -> None:
        n, s0, se = self.n.value, self.between.value, self.residual.value
        self.data = shrinkage_demo(n, s0, se, n_groups=self.n_groups)
        factor = self.factor
        self.explanation.value = (
            '<div style="font-size: 13px; margin: 6px 0;">'
            f"shrinkage factor = n s0² / (n s0² + se²) = {n}·{s0:g} / ({n}·{s0:g} + {se:g}) "
            f"= <b>{factor:.3f}</b><br>"
            f'<span style="{INFO_STYLE}">'
            + html.escape(
                f"Each group keeps {100 * factor:.0f}% of its raw distance from the grand "
                f"mean and gives up {100 * (1 - factor):.0f}%. Larger groups or more different "
                "groups keep more; noisier data give up more."
            )
            + "</span></div>"
        )
        self.chart.value = chart_html(shrinkage_chart(self.data))
