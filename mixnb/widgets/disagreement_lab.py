"""Simulate outcomes of the heart-attack study and see when the two models disagree."""

from __future__ import annotations

import ipywidgets as widgets
import pandas as pd

from mixnb.disagreement import disagreement_rates, disagreement_study
from mixnb.display.report import Report, Table
from mixnb.widgets._common import chart_html, message_html, slider


class DisagreementLab(widgets.VBox):
    """Choose the hospitals' and physicians' SDs, simulate outcomes, fit both models.

    Each run draws ``replicates`` new outcomes for the patients of ``data/ami.csv``
    (:func:`mixnb.simulation.simulate_ami`), fits the traditional logistic model and the
    three-level hierarchical one to each (:func:`mixnb.disagreement.disagreement_study`)
    and adds them to :attr:`study`; the table shows, per factor, how often the two models
    reach different conclusions at the 5% level and how much larger the hierarchical
    model's standard error is.

    Attributes
    ----------
    study : pandas.DataFrame
        Every replicate fitted so far, one row per factor.

    Examples
    --------
    >>> lab = DisagreementLab(replicates=1, n_hospitals=8)
    >>> lab.run()
    >>> sorted(lab.study["term"].unique())
    ['cardiologist', 'severity', 'teaching']
    """

    def __init__(self, replicates: int = 5, n_hospitals: int = 50, seed: int = 2001) -> None:
        style = {"description_width": "170px"}
        wide = widgets.Layout(width="380px")
        self.sd_hospital = slider(
            0.5, 0.0, 1.5, "SD of hospitals", style=style, layout=wide, step=0.05
        )
        self.sd_physician = slider(
            0.6, 0.0, 1.5, "SD of physicians", style=style, layout=wide, step=0.05
        )
        self.replicates = widgets.BoundedIntText(
            value=replicates,
            min=1,
            max=100,
            description="outcomes per run",
            style=style,
            layout=wide,
        )
        self.n_hospitals = n_hospitals
        self._seed = seed
        self._runs = 0
        self._parts: list[pd.DataFrame] = []
        self.run_button = widgets.Button(
            description="Simulate and fit both", button_style="primary"
        )
        self.clear_button = widgets.Button(description="Clear")
        self.message, self.table, self.chart = widgets.HTML(), widgets.HTML(), widgets.HTML()
        self.run_button.on_click(lambda _: self.run())
        self.clear_button.on_click(lambda _: self.clear())
        for control in (self.sd_hospital, self.sd_physician):
            control.observe(lambda _: self.clear(), names="value")
        super().__init__(
            [
                self.sd_hospital,
                self.sd_physician,
                self.replicates,
                widgets.HBox([self.run_button, self.clear_button]),
                self.message,
                self.table,
                self.chart,
            ]
        )
        self.add_class("mixnb-disagreement-lab")

    @property
    def study(self) -> pd.DataFrame:
        return pd.concat(self._parts, ignore_index=True) if self._parts else pd.DataFrame()

    def run(self) -> None:
        """Simulate and fit ``replicates`` more outcomes at the chosen SDs."""
        try:
            part = disagreement_study(
                sd_hospital=[float(self.sd_hospital.value)],
                sd_physician=[float(self.sd_physician.value)],
                replicates=int(self.replicates.value),
                seed=self._seed + 100_000 * self._runs,
                n_hospitals=self.n_hospitals,
            )
        except Exception as exc:  # shown in the widget, never a traceback
            self.message.value = message_html(f"The simulation could not be fitted: {exc}")
            return
        self._runs += 1
        self._parts.append(part)
        self.message.value = ""
        self._show()

    def clear(self) -> None:
        """Forget the fitted outcomes (done when a SD changes)."""
        self._parts, self._runs = [], 0
        self.table.value = self.chart.value = self.message.value = ""

    def report(self) -> Report:
        """Per factor: share of disagreeing outcomes and the mean SE ratio."""
        rates = disagreement_rates(self.study).set_index("term")
        frame = rates[["disagree", "se_ratio", "replicates"]]
        table = Table(
            frame,
            {"disagree": "fixed:2", "se_ratio": "fixed:2", "replicates": "int"},
            index="factor",
        )
        return Report(
            title=(
                f"SD of hospitals {self.sd_hospital.value:g}, of physicians "
                f"{self.sd_physician.value:g}: {int(frame['replicates'].iloc[0])} outcome(s)"
            ),
            tables=[table],
            notes=[
                "disagree: the share of outcomes where one model calls the factor significant "
                "at 5% and the other does not; se_ratio: the hierarchical model's SE over the "
                "traditional model's."
            ],
        )

    def _show(self) -> None:
        from mixnb.charts.comparison import p_value_agreement
        from mixnb.display.rich import to_html

        self.table.value = to_html(self.report())
        self.chart.value = chart_html(p_value_agreement(self.study, "teaching"))
