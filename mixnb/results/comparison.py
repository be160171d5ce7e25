"""Comparisons of nested models."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixnb.errors import ModelError
from mixnb.estimation.least_squares import nested_f_test
from mixnb.results.base import Displayable
from mixnb.results.least_squares import OlsResult


class LeastSquaresComparison(Displayable):
    """F test of nested least-squares models (R's ``anova(small, big)``).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model: ``df_resid``, ``rss``, and for the bigger model the extra
        ``df``, ``sum_sq``, ``F`` and ``p``.
    """

    def __init__(self, small: OlsResult, big: OlsResult) -> None:
        _check_nested(small, big)
        test = nested_f_test(small.estimates, big.estimates)
        self.formulas = [small.formula, big.formula]
        self.table = pd.DataFrame(
            {
                "df_resid": [small.df_resid, big.df_resid],
                "rss": [small.rss, big.rss],
                "df": [np.nan, test["df"]],
                "sum_sq": [np.nan, test["sum_sq"]],
                "F": [np.nan, test["F"]],
                "p": [np.nan, test["p"]],
            },
            index=pd.Index([1, 2], name="model"),
        )

    @property
    def f(self) -> float:
        return float(self.table["F"].iloc[1])

    @property
    def p(self) -> float:
        return float(self.table["p"].iloc[1])

    def __repr__(self) -> str:
        from mixnb.display.text import comparison_text

        return comparison_text(self)


def _check_nested(small: OlsResult, big: OlsResult) -> None:
    if not small.design.row_index.equals(big.design.row_index):
        raise ModelError(
            "The two models were fitted to different rows (different data, or different rows "
            "dropped for missing values), so their fits cannot be compared. Fit both to the "
            "same rows, e.g. drop missing values from the data first."
        )
    if small.df_resid <= big.df_resid:
        raise ModelError(
            f"The first model ({small.formula}) must be the smaller one: it has "
            f"{small.df_resid} residual df, the second {big.df_resid}. Swap them."
        )
    x_small, x_big = small.design.fixed.matrix, big.design.fixed.matrix
    coef, *_ = np.linalg.lstsq(x_big, x_small, rcond=None)
    leftover = np.linalg.norm(x_small - x_big @ coef) / max(np.linalg.norm(x_small), 1.0)
    if leftover > 1e-8:
        raise ModelError(
            f"The model {small.formula!r} is not nested in {big.formula!r}: the bigger model "
            "must contain every term of the smaller one. An F test needs nested models."
        )
