"""The result of a least-squares fit, as tidy pandas tables."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from mixnb.design import Design, linear_predictor
from mixnb.estimation.least_squares import LeastSquaresEstimates
from mixnb.results.base import Displayable, view
from mixnb.results.explain import design_notes


class OlsResult(Displayable):
    """A least-squares fit: the traditional approach.

    Attributes
    ----------
    coefficients : pandas.DataFrame
        One row per term: ``estimate``, ``std_error``, ``t``, ``p``.
    rsquared, rsquared_adj : float
        Coefficient of determination and its adjusted version.
    sigma : float
        Residual standard error.
    f_test : tuple
        Overall F statistic, its two degrees of freedom and the p-value.
    """

    def __init__(self, design: Design, estimates: LeastSquaresEstimates, formula: str) -> None:
        self.design = design
        self.estimates = estimates
        self.formula = formula

    @property
    def nobs(self) -> int:
        return self.design.nobs

    @property
    def n_dropped(self) -> int:
        return self.design.n_dropped

    @property
    def dropped_fixed_effects(self) -> list[str]:
        return list(self.design.fixed.dropped)

    @property
    def df_resid(self) -> int:
        return self.estimates.df_resid

    @property
    def rsquared(self) -> float:
        return self.estimates.rsquared

    @property
    def rsquared_adj(self) -> float:
        return self.estimates.rsquared_adj

    @property
    def sigma(self) -> float:
        """Residual standard error, ``sqrt(RSS / (n - p))``."""
        return float(np.sqrt(self.estimates.sigma2))

    @property
    def rss(self) -> float:
        return self.estimates.rss

    @property
    def f_test(self) -> tuple[float, int, int, float]:
        return self.estimates.overall_f()

    @property
    def loglik(self) -> float:
        """Gaussian log-likelihood at the ML variance ``RSS / n``."""
        return self.estimates.loglik

    @property
    def n_parameters(self) -> int:
        """Coefficients plus the residual variance."""
        return len(self.estimates.beta) + 1

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        return -2 * self.loglik + self.n_parameters * float(np.log(self.nobs))

    @cached_property
    def coefficients(self) -> pd.DataFrame:
        est = self.estimates
        se = np.sqrt(np.diag(est.vcov_beta))
        t = est.beta / se
        p = 2 * stats.t.sf(np.abs(t), est.df_resid)
        return pd.DataFrame(
            {"estimate": est.beta, "std_error": se, "t": t, "p": p},
            index=pd.Index(self.design.fixed.columns, name="term"),
        )

    @cached_property
    def vcov(self) -> pd.DataFrame:
        names = self.design.fixed.columns
        return pd.DataFrame(self.estimates.vcov_beta, index=names, columns=names)

    def fitted(self) -> pd.Series:
        values = self.design.fixed.matrix @ self.estimates.beta
        return pd.Series(values, index=self.design.row_index, name="fitted")

    def residuals(self) -> pd.Series:
        resid = self.design.y - self.fitted().to_numpy()
        return pd.Series(resid, index=self.design.row_index, name="residual")

    def predict(self, newdata: pd.DataFrame) -> pd.Series:
        """Predictions for new rows, encoded as in fitting (NaN where a predictor is missing)."""
        values = linear_predictor(self.design, newdata, self.estimates.beta)
        return pd.Series(values, index=newdata.index, name="predicted")

    @cached_property
    def residual_quantiles(self) -> pd.Series:
        q = np.quantile(self.residuals().to_numpy(), [0, 0.25, 0.5, 0.75, 1])
        return pd.Series(q, index=["Min", "1Q", "Median", "3Q", "Max"])

    @property
    def notes(self) -> list[str]:
        return design_notes(self.design)

    def equation(self, form: str = "combined", estimates: bool = False):
        """The model as a LaTeX equation, with symbols or ``estimates=True``.

        Examples
        --------
        >>> import mixnb
        >>> fit = mixnb.ols("Reaction ~ Days", mixnb.load_dataset("sleepstudy"))
        >>> "e_{i}" in fit.equation().latex
        True
        """
        return view("equation")(self, form=form, estimates=estimates)
