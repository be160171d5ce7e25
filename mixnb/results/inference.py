"""Result types for tests: Wald F tests, type III tables, likelihood-ratio comparisons.

Each holds a tidy ``table``, a ``title`` and plain-words ``notes``; display is written once
for all of them in :mod:`mixnb.display` (``summary()`` and ``repr()`` give the text).
"""

from __future__ import annotations

import pandas as pd

from mixnb.results.base import Displayable


class TestResult(Displayable):
    """A table of test results with a title and notes."""

    __test__ = False  # not a pytest test class

    def __init__(self, title: str, table: pd.DataFrame, notes: list[str] | None = None) -> None:
        self.title = title
        self.table = table
        self.notes = list(notes or [])


class WaldTest(TestResult):
    """A multivariate Wald test ``H0: L beta = 0`` (F and chi-square forms).

    Attributes
    ----------
    contrasts : pandas.DataFrame
        The contrast matrix ``L`` (rows: hypotheses; columns: fixed effects).
    table : pandas.DataFrame
        One row: ``F``, ``numdf``, ``dendf``, ``p`` and ``chisq``, ``chisq_df``, ``chisq_p``.
        Kenward-Roger tests add ``F_scaling``, pbkrtest's scale factor: ``F`` is the Wald F
        from the adjusted covariance times it (as ``KRmodcomp``), ``chisq`` is unscaled.
    notes : list of str
        The restrictions tested and, in plain words, anything that makes the df unreliable.
    """

    def __init__(self, title, table, contrasts: pd.DataFrame, ddf: str, notes=None) -> None:
        super().__init__(title, table, notes)
        self.contrasts = contrasts
        self.ddf = ddf

    @property
    def f(self) -> float:
        return float(self.table["F"].iloc[0])

    @property
    def p(self) -> float:
        return float(self.table["p"].iloc[0])

    @property
    def f_scaling(self) -> float:
        """Kenward-Roger's F scaling (1 for the other df methods)."""
        return float(self.table["F_scaling"].iloc[0]) if "F_scaling" in self.table else 1.0


class AnovaTable(TestResult):
    """Type III F tests, one row per model term (lmerTest's ``anova`` layout)."""


class LikelihoodRatioTable(TestResult):
    """Nested models compared by deviance (lme4's ``anova(m1, m2, ...)`` layout).

    Columns: ``formula``, ``npar``, ``aic``, ``bic``, ``loglik``, ``deviance``, ``chisq``,
    ``df``, ``p``
    and, where a variance is tested on its boundary, ``p_mixture`` (chi-bar-square).
    """

    @property
    def p(self) -> float:
        """The last comparison's p-value (the mixture p where it applies)."""
        row = self.table.iloc[-1]
        if "p_mixture" in self.table and pd.notna(row.get("p_mixture")):
            return float(row["p_mixture"])
        return float(row["p"])


class HomogeneityTest(TestResult):
    """Bryk & Raudenbush's chi-square tests that a coefficient is the same in every group."""
