"""The result of a generalised linear model (no random effects), as tidy pandas tables."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixnb.design import Design, linear_predictor
from mixnb.errors import MixnbError
from mixnb.estimation.glm import GlmEstimates
from mixnb.families import Family
from mixnb.offset import OffsetSpec
from mixnb.results.base import Displayable
from mixnb.results.explain import design_notes
from mixnb.results.problems import describe_all

#: What ``exp(coefficient)`` is called, by link.
RATIO_NAMES = {"logit": "odds_ratio", "log": "rate_ratio"}


class GlmResult(Displayable):
    """A generalised linear model: the traditional logistic or Poisson regression.

    It ignores any grouping of the rows, which is exactly what the seed's traditional
    model does; set it beside :func:`mixnb.glmm` (conditional) and :func:`mixnb.gee`
    (population-averaged) fits of the same data.

    Attributes
    ----------
    coefficients : pandas.DataFrame
        ``estimate``, ``std_error``, ``z`` (``t`` for the Gaussian family, on the
        residual df), ``p``, ``ci_lower``, ``ci_upper`` (Wald, 95%).
    deviance, null_deviance, loglik, aic, bic : float
        As R's ``glm`` reports them.
    """

    def __init__(
        self,
        design: Design,
        estimates: GlmEstimates,
        formula: str,
        family: Family,
        *,
        weights: np.ndarray | None = None,
        offset_spec: OffsetSpec | None = None,
        extra_notes: list[str] | None = None,
    ) -> None:
        self.design = design
        self.estimates = estimates
        self.formula = formula
        self.family = family
        self.prior_weights = weights
        self.offset_spec = offset_spec or OffsetSpec()
        self._extra_notes = list(extra_notes or [])

    # ------------------------------------------------------------------ sizes
    @property
    def nobs(self) -> int:
        return self.design.nobs

    @property
    def n_dropped(self) -> int:
        return self.design.n_dropped

    @property
    def df_resid(self) -> int:
        return self.estimates.df_resid

    @property
    def converged(self) -> bool:
        return self.estimates.converged

    @property
    def problems(self) -> list[str]:
        return list(self.estimates.problems)

    # ------------------------------------------------------------------ fit
    @property
    def deviance(self) -> float:
        return self.estimates.deviance

    @property
    def null_deviance(self) -> float:
        return self.estimates.null_deviance

    @property
    def loglik(self) -> float:
        return self.estimates.loglik

    @property
    def dispersion(self) -> float:
        return self.estimates.dispersion

    @property
    def n_parameters(self) -> int:
        """Coefficients, plus the dispersion when it is estimated (Gaussian)."""
        return len(self.estimates.beta) + (0 if self.family.scale_fixed else 1)

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        return -2 * self.loglik + self.n_parameters * float(np.log(self.nobs))

    # ------------------------------------------------------------------ tables
    def coefficient_table(self, level: float = 0.95) -> pd.DataFrame:
        """Estimates with Wald tests and ``level`` confidence intervals."""
        beta = self.estimates.beta
        se = np.sqrt(np.diag(self.estimates.vcov_beta))
        gaussian = not self.family.scale_fixed
        dist = stats.t(self.df_resid) if gaussian else stats.norm()
        q = dist.ppf(0.5 + level / 2)
        stat = beta / se
        return pd.DataFrame(
            {
                "estimate": beta,
                "std_error": se,
                "t" if gaussian else "z": stat,
                "p": 2 * dist.sf(np.abs(stat)),
                "ci_lower": beta - q * se,
                "ci_upper": beta + q * se,
            },
            index=pd.Index(self.design.fixed.columns, name="term"),
        )

    @cached_property
    def coefficients(self) -> pd.DataFrame:
        return self.coefficient_table()

    def ratios(self, level: float = 0.95) -> pd.DataFrame:
        """``exp`` of the coefficients and their interval: odds ratios (logit link) or
        rate ratios (log link)."""
        name = RATIO_NAMES.get(self.family.link.name)
        if name is None:
            raise MixnbError(
                f"exp(coefficient) has no ratio meaning for the {self.family.label} model; "
                "odds ratios need the logit link and rate ratios the log link."
            )
        table = self.coefficient_table(level)
        return pd.DataFrame(
            {
                name: np.exp(table["estimate"]),
                "ci_lower": np.exp(table["ci_lower"]),
                "ci_upper": np.exp(table["ci_upper"]),
            }
        )

    @cached_property
    def vcov(self) -> pd.DataFrame:
        names = self.design.fixed.columns
        return pd.DataFrame(self.estimates.vcov_beta, index=names, columns=names)

    # ------------------------------------------------------------------ rows
    def fitted(self) -> pd.Series:
        """Fitted means (response scale), in the data's row order."""
        return pd.Series(self.estimates.mu, index=self.design.row_index, name="fitted")

    def residuals(self, kind: str = "deviance") -> pd.Series:
        """``"deviance"`` (R's default), ``"pearson"`` or ``"response"`` residuals."""
        values = self.family.residuals(kind, self.design.y, self.estimates.mu, self.prior_weights)
        return pd.Series(values, index=self.design.row_index, name="residual")

    def predict(
        self, newdata: pd.DataFrame, scale: str = "response", offset: Any = None
    ) -> pd.Series:
        """Predictions for new rows: means (``scale="response"``) or ``eta`` (``"link"``).

        The formula's ``offset()`` terms are evaluated on ``newdata``; an ``offset=``
        column of the fit is read from it, or given here as ``offset``.
        """
        if scale not in ("response", "link"):
            raise MixnbError(f"Unknown scale {scale!r}: use 'response' or 'link'.")
        eta = linear_predictor(self.design, newdata, self.estimates.beta)
        eta = eta + self.offset_spec.for_new_rows(newdata, self.design.context, offset)
        out = eta if scale == "link" else self.family.link.inverse(eta)
        return pd.Series(out, index=newdata.index, name="predicted")

    # ------------------------------------------------------------------ words
    @property
    def notes(self) -> list[str]:
        return design_notes(self.design) + self._extra_notes + describe_all(self.problems)
