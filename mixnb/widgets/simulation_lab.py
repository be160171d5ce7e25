"""Simulate data from a known model, fit it, and repeat to see sampling variability."""

from __future__ import annotations

import warnings
from typing import Any

import altair as alt
import ipywidgets as widgets
import numpy as np
import pandas as pd

from mixnb.display.report import Report, Table
from mixnb.simulation import PARAMETERS, estimates_of, simulate_groups
from mixnb.widgets._common import chart_html, message_html, slider

LABELS = {
    "intercept": "intercept b0",
    "slope": "slope b1",
    "sd_intercept": "SD of intercepts s0",
    "sd_slope": "SD of slopes s1",
    "sd_residual": "residual SD se",
}


def estimates_chart(estimates: pd.DataFrame, truth: dict[str, float]) -> alt.FacetChart:
    """One panel per parameter: every replicate's estimate (ticks) and the truth (red line)."""
    long = estimates.melt(id_vars="replicate", var_name="parameter", value_name="estimate")
    long["label"] = long["parameter"].map(LABELS)
    long["truth"] = long["parameter"].map(truth)
    order = [LABELS[p] for p in PARAMETERS if p in set(long["parameter"])]
    base = alt.Chart()
    panel = alt.layer(
        base.mark_tick(thickness=2, size=26, opacity=0.55, color="#4c78a8").encode(
            x=alt.X("estimate:Q", title=None, scale=alt.Scale(zero=False))
        ),
        base.mark_rule(color="#d62728", strokeWidth=2.5).encode(x="mean(truth):Q"),
        data=long,
    ).properties(width=240, height=30)
    return (
        panel.facet(
            row=alt.Row(
                "label:N",
                title=None,
                sort=order,
                header=alt.Header(labelAngle=0, labelAlign="left"),
            ),
        )
        .resolve_scale(x="independent")
        .properties(
            title=alt.Title(
                f"Estimates from {len(estimates)} simulated data set(s)",
                subtitle="blue ticks: estimates · red line: the truth",
            )
        )
    )


class SimulationLab(widgets.VBox):
    """Choose the true model, simulate a data set, fit it, compare; repeat to see variability.

    The true model is the seed's random-slope model
    ``y_ij = (b0 + u0j) + (b1 + u1j) x_ij + e_ij``. "Simulate and fit" draws one data set and
    fits ``y ~ x + (x | group)`` (or ``(1 | group)`` without random slopes); "Repeat" does it
    ``repeats`` more times, accumulating every estimate in :attr:`estimates`.

    Attributes
    ----------
    estimates : pandas.DataFrame
        One row per simulated data set (``replicate`` and each parameter's estimate).
    truth : dict
        The current true parameters.
    last_fit
        The latest fit (:class:`~mixnb.LmmResult`), or None.

    Examples
    --------
    >>> lab = SimulationLab(seed=1)
    >>> lab.simulate_and_fit()
    >>> lab.repeat(2)
    >>> len(lab.estimates)
    3
    """

    def __init__(self, seed: int | None = 2007, repeats: int = 10) -> None:
        self._rng = np.random.default_rng(seed)
        self._rows: list[dict[str, float]] = []
        self.last_fit: Any = None
        self.last_data: pd.DataFrame | None = None
        style = {"description_width": "150px"}
        wide = widgets.Layout(width="360px")

        def float_slider(value: float, low: float, high: float, step: float, text: str) -> Any:
            return slider(value, low, high, text, style=style, layout=wide, step=step)

        self.intercept = widgets.FloatText(
            value=50.0, description="intercept b0", style=style, layout=wide
        )
        self.slope = widgets.FloatText(value=2.0, description="slope b1", style=style, layout=wide)
        self.sd_intercept = float_slider(5.0, 0.0, 20.0, 0.5, "SD of intercepts s0")
        self.sd_slope = float_slider(1.0, 0.0, 5.0, 0.1, "SD of slopes s1")
        self.sd_residual = float_slider(3.0, 0.5, 20.0, 0.5, "residual SD se")
        self.n_groups = slider(10, 3, 50, "groups", style=style, layout=wide)
        self.n_per_group = slider(6, 2, 30, "rows per group", style=style, layout=wide)
        self.random_slope = widgets.Checkbox(
            value=True, description="fit random slopes", indent=False
        )
        self.repeats = widgets.BoundedIntText(
            value=repeats,
            min=1,
            max=200,
            description="repeats",
            style={"description_width": "60px"},
            layout=widgets.Layout(width="140px"),
        )
        self.simulate_button = widgets.Button(
            description="Simulate and fit", button_style="primary"
        )
        self.repeat_button = widgets.Button(description="Repeat")
        self.clear_button = widgets.Button(description="Clear")
        self.message = widgets.HTML()
        self.table = widgets.HTML()
        self.chart = widgets.HTML()
        self.simulate_button.on_click(lambda _: self.simulate_and_fit())
        self.repeat_button.on_click(lambda _: self.repeat())
        self.clear_button.on_click(lambda _: self.clear())
        for control in (
            self.intercept,
            self.slope,
            self.sd_intercept,
            self.sd_slope,
            self.sd_residual,
            self.n_groups,
            self.n_per_group,
            self.random_slope,
        ):
            control.observe(lambda _: self.clear(), names="value")
        truth_box = widgets.VBox(
            [self.intercept, self.slope, self.sd_intercept, self.sd_slope, self.sd_residual]
        )
        design_box = widgets.VBox(
            [
                self.n_groups,
                self.n_per_group,
                self.random_slope,
                widgets.HBox(
                    [self.simulate_button, self.repeat_button, self.repeats, self.clear_button]
                ),
            ]
        )
        super().__init__(
            [
                widgets.HBox([truth_box, design_box], layout=widgets.Layout(flex_flow="row wrap")),
                self.message,
                widgets.HBox(
                    [self.table, self.chart],
                    layout=widgets.Layout(flex_flow="row wrap", grid_gap="16px"),
                ),
            ]
        )
        self.add_class("mixnb-simulation-lab")

    @property
    def estimates(self) -> pd.DataFrame:
        """One row per simulated data set: the estimate of each parameter."""
        return pd.DataFrame(self._rows, columns=["replicate", *PARAMETERS])

    @property
    def truth(self) -> dict[str, float]:
        return {
            "intercept": float(self.intercept.value),
            "slope": float(self.slope.value),
            "sd_intercept": float(self.sd_intercept.value),
            "sd_slope": float(self.sd_slope.value),
            "sd_residual": float(self.sd_residual.value),
        }

    @property
    def formula(self) -> str:
        return "y ~ x + (x | group)" if self.random_slope.value else "y ~ x + (1 | group)"

    def _one(self) -> None:
        import mixnb

        data = simulate_groups(
            self.n_groups.value, self.n_per_group.value, **self.truth, seed=self._rng
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = mixnb.lmm(self.formula, data)
        self._rows.append({"replicate": len(self._rows) + 1, **estimates_of(fit)})
        self.last_fit, self.last_data = fit, data

    def _run(self, times: int) -> None:
        try:
            for _ in range(times):
                self._one()
        except Exception as exc:  # shown in the widget, never a traceback
            self.message.value = message_html(f"The simulation could not be fitted: {exc}")
            return
        self.message.value = ""
        self._show()

    def simulate_and_fit(self) -> None:
        """Draw one new data set from the truth and fit it."""
        self._run(1)

    def repeat(self, times: int | None = None) -> None:
        """Draw and fit ``times`` more data sets (the ``repeats`` box by default)."""
        self._run(int(times or self.repeats.value))

    def clear(self) -> None:
        """Forget every estimate (done automatically when the truth or design changes)."""
        self._rows = []
        self.last_fit = self.last_data = None
        self.table.value = self.chart.value = self.message.value = ""

    def comparison(self) -> Report:
        """Truth, latest estimate, and the mean and SD of all estimates, per parameter."""
        est = self.estimates[list(PARAMETERS)]
        frame = pd.DataFrame(
            {
                "truth": pd.Series(self.truth),
                "latest": est.iloc[-1] if len(est) else np.nan,
                "mean": est.mean(),
                "SD": est.std(ddof=1) if len(est) > 1 else np.nan,
            }
        ).rename(index=LABELS)
        table = Table(frame, dict.fromkeys(frame.columns, "sig:4"), title="", index="parameter")
        notes = []
        if not self.random_slope.value and self.truth["sd_slope"] > 0:
            notes.append(
                "The fitted model has no random slopes, but the truth does: the slope "
                "variation ends up in the residual and the standard errors."
            )
        return Report(
            title=f"{len(est)} simulated data set(s): {self.formula}",
            facts=[],
            tables=[table],
            notes=notes,
        )

    def _show(self) -> None:
        from mixnb.display.rich import to_html

        self.table.value = to_html(self.comparison())
        self.chart.value = chart_html(estimates_chart(self.estimates, self.truth))
