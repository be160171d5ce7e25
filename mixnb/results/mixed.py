"""The result of a linear mixed-model fit, as tidy pandas tables."""

from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import pandas as pd

from mixnb.design import Design, check_new_data
from mixnb.errors import UnseenLevelWarning
from mixnb.estimation.covariance import entry_order
from mixnb.estimation.lmm import LmmEstimates, information_criteria
from mixnb.results.base import Displayable


class LmmResult(Displayable):
    """A fitted linear mixed model.

    Attributes
    ----------
    fixed_effects : pandas.DataFrame
        One row per fixed-effect term: ``estimate``, ``std_error``, ``t``.
    variance_components : pandas.DataFrame
        One row per variance or covariance (``group``, ``term1``, ``term2``, ``estimate``,
        ``sd_corr``, ``std_error``); the residual variance is the row with group ``Residual``.
    random_effects, random_effects_sd : dict of pandas.DataFrame
        Per grouping factor, the conditional modes (BLUPs) of the random effects and their
        conditional standard deviations; index: level, columns: term.
    """

    def __init__(self, design: Design, estimates: LmmEstimates, formula: str) -> None:
        self.design = design
        self.estimates = estimates
        self.formula = formula

    # ------------------------------------------------------------------ scalars

    @property
    def reml(self) -> bool:
        return self.estimates.reml

    @property
    def method(self) -> str:
        return "REML" if self.reml else "ML"

    @property
    def nobs(self) -> int:
        return self.design.nobs

    @property
    def n_dropped(self) -> int:
        """Rows of the data dropped because a variable the model uses was missing."""
        return self.design.n_dropped

    @property
    def dropped_fixed_effects(self) -> list[str]:
        """Fixed-effect columns dropped as linear combinations of earlier ones."""
        return list(self.design.fixed.dropped)

    @property
    def converged(self) -> bool:
        return self.estimates.converged

    @property
    def is_singular(self) -> bool:
        return bool(self.estimates.singular_terms)

    @property
    def sigma(self) -> float:
        """Residual standard deviation."""
        return float(np.sqrt(self.estimates.sigma2))

    @property
    def theta(self) -> np.ndarray:
        """The relative covariance factor's parameters at the optimum (lme4's ``theta``)."""
        return self.estimates.theta.copy()

    @property
    def loglik(self) -> float:
        """Log-likelihood at the estimates (the REML log-likelihood for REML fits)."""
        return self.estimates.loglik

    @property
    def deviance(self) -> float:
        """``-2 * loglik``."""
        return -2.0 * self.loglik

    @property
    def reml_criterion(self) -> float | None:
        """The REML criterion at the optimum (REML fits only; ``None`` for ML)."""
        return self.estimates.objective if self.reml else None

    @property
    def n_parameters(self) -> int:
        """Fixed effects, covariance parameters and the residual variance."""
        return self.estimates.n_parameters

    @property
    def aic(self) -> float:
        return information_criteria(self.loglik, self.n_parameters, self.nobs)[0]

    @property
    def bic(self) -> float:
        return information_criteria(self.loglik, self.n_parameters, self.nobs)[1]

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor."""
        return {b.factor.name: b.factor.n_levels for b in self.design.random}

    # ------------------------------------------------------------------ tables

    @cached_property
    def fixed_effects(self) -> pd.DataFrame:
        est = self.estimates
        se = np.sqrt(np.diag(est.vcov_beta))
        table = pd.DataFrame(
            {"estimate": est.beta, "std_error": se, "t": est.beta / se},
            index=pd.Index(self.design.fixed.columns, name="term"),
        )
        return table

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effect estimates."""
        names = self.design.fixed.columns
        return pd.DataFrame(self.estimates.vcov_beta, index=names, columns=names)

    @cached_property
    def fixed_effects_correlation(self) -> pd.DataFrame:
        """Correlations of the fixed-effect estimates (lme4's "Correlation of Fixed Effects")."""
        v = self.vcov.to_numpy()
        sd = np.sqrt(np.diag(v))
        return pd.DataFrame(v / np.outer(sd, sd), index=self.vcov.index, columns=self.vcov.columns)

    @cached_property
    def variance_components(self) -> pd.DataFrame:
        est = self.estimates
        se = np.sqrt(np.diag(est.parameter_covariance))
        rows, position = [], 0
        for block, cov in zip(self.design.random, est.covariances):
            sd = np.sqrt(np.diag(cov))
            for i, j in zip(*entry_order(cov)):
                is_var = i == j
                corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
                rows.append(
                    {
                        "group": block.factor.name,
                        "term1": block.columns[j],
                        "term2": block.columns[i],
                        "estimate": cov[i, j],
                        "sd_corr": sd[i] if is_var else corr,
                        "std_error": se[position],
                    }
                )
                position += 1
        rows.append(
            {
                "group": "Residual",
                "term1": "",
                "term2": "",
                "estimate": est.sigma2,
                "sd_corr": np.sqrt(est.sigma2),
                "std_error": se[position],
            }
        )
        return pd.DataFrame(rows)

    def _by_factor(self, per_term: list[np.ndarray]) -> dict[str, pd.DataFrame]:
        out: dict[str, pd.DataFrame] = {}
        for block, values in zip(self.design.random, per_term):
            name = block.factor.name
            frame = pd.DataFrame(values, index=block.factor.levels, columns=block.columns)
            out[name] = pd.concat([out[name], frame], axis=1) if name in out else frame
        return out

    @cached_property
    def random_effects(self) -> dict[str, pd.DataFrame]:
        """Conditional modes (BLUPs, the seed's "shrunken residuals") per grouping factor."""
        return self._by_factor(self.estimates.modes)

    @cached_property
    def random_effects_cov(self) -> dict[str, pd.DataFrame]:
        """Conditional covariance of each level's random effects (index: level, term)."""
        out = {}
        for name, covs in self.estimates.conditional_covariances.items():
            columns = self.random_effects[name].columns
            levels = self.random_effects[name].index
            index = pd.MultiIndex.from_product([levels, columns], names=[name, "term"])
            out[name] = pd.DataFrame(covs.reshape(-1, covs.shape[2]), index=index, columns=columns)
        return out

    @cached_property
    def random_effects_sd(self) -> dict[str, pd.DataFrame]:
        """Conditional standard deviations of the random effects (lme4's condVar)."""
        out = {}
        for name, covs in self.estimates.conditional_covariances.items():
            modes = self.random_effects[name]
            sd = np.sqrt(np.diagonal(covs, axis1=1, axis2=2))
            out[name] = pd.DataFrame(sd, index=modes.index, columns=modes.columns)
        return out

    @cached_property
    def coef(self) -> dict[str, pd.DataFrame]:
        """Per-group coefficients: fixed effects plus that group's random effects."""
        fixed = self.fixed_effects["estimate"]
        out = {}
        for name, modes in self.random_effects.items():
            table = pd.DataFrame(
                np.tile(fixed.to_numpy(), (len(modes), 1)), index=modes.index, columns=fixed.index
            )
            for column in modes.columns:
                if column in table.columns:
                    table[column] = table[column] + modes[column].to_numpy()
                else:
                    table[column] = modes[column].to_numpy()
            out[name] = table
        return out

    # ------------------------------------------------------------------ predictions

    def fitted(self, include_random: bool = True) -> pd.Series:
        """Fitted values, ``X b`` plus (by default) ``Z u``, indexed like the data rows used."""
        values = self.design.fixed.matrix @ self.estimates.beta
        if include_random:
            for block, modes in zip(self.design.random, self.estimates.modes):
                values = values + np.einsum("ij,ij->i", block.matrix, modes[block.factor.codes])
        return pd.Series(values, index=self.design.row_index, name="fitted")

    def residuals(self, include_random: bool = True) -> pd.Series:
        """Observed minus fitted values."""
        resid = self.design.y - self.fitted(include_random).to_numpy()
        return pd.Series(resid, index=self.design.row_index, name="residual")

    def scaled_residuals(self) -> pd.Series:
        """Residuals divided by the residual standard deviation."""
        return (self.residuals() / self.sigma).rename("scaled_residual")

    def predict(self, newdata: pd.DataFrame, include_random: bool = True) -> pd.Series:
        """Predictions for new rows.

        Levels of a grouping factor not seen in fitting get no random effect: their
        prediction is the population line. A :class:`~mixnb.errors.UnseenLevelWarning`
        says how many rows that concerns, and the returned Series lists them in
        ``.attrs["unseen_levels"]`` (factor name to the unseen level labels). Rows with a
        missing predictor get NaN.
        """
        check_new_data(self.design, newdata)
        complete = newdata[self.design.predictor_columns].notna().all(axis=1).to_numpy()
        rows = newdata.loc[complete]
        values = self.design.fixed.for_new_data(rows) @ self.estimates.beta
        unseen: dict[str, list] = {}
        if include_random:
            for block, modes in zip(self.design.random, self.estimates.modes):
                z = block.spec.get_model_matrix(rows, na_action="ignore")[block.columns]
                codes = block.factor.codes_for(rows)
                known = codes >= 0
                values[known] += np.einsum(
                    "ij,ij->i", np.asarray(z, dtype=float)[known], modes[codes[known]]
                )
                if not known.all():
                    labels = block.factor.labels_of(rows)[~known]
                    unseen[block.factor.name] = sorted(set(labels.tolist()), key=str)
        predicted = np.full(len(newdata), np.nan)
        predicted[complete] = values
        result = pd.Series(predicted, index=newdata.index, name="predicted")
        if unseen:
            detail = "; ".join(f"{name}: {', '.join(map(str, lv))}" for name, lv in unseen.items())
            warnings.warn(
                f"Some rows belong to groups not seen when fitting ({detail}). Their random "
                "effects are unknown, so they were predicted from the population line "
                "(fixed effects only).",
                UnseenLevelWarning,
                stacklevel=2,
            )
        result.attrs["unseen_levels"] = unseen
        return result

    @cached_property
    def residual_quantiles(self) -> pd.Series:
        """Min, quartiles and max of the scaled residuals (lme4's summary header)."""
        q = np.quantile(self.scaled_residuals().to_numpy(), [0, 0.25, 0.5, 0.75, 1])
        return pd.Series(q, index=["Min", "1Q", "Median", "3Q", "Max"])

    # ------------------------------------------------------------------ words

    @property
    def notes(self) -> list[str]:
        """Plain-words notes on this fit: dropped rows and columns, singularity, convergence."""
        from mixnb.results.explain import fit_notes

        return fit_notes(self)

    def summary(self, style: str = "lme4") -> str:
        """A plain-text summary: ``style="lme4"`` (default) or ``"sas"`` (PROC MIXED)."""
        from mixnb.display.text import lmm_summary

        if style == "sas":
            from mixnb.display.sas import sas_summary

            return sas_summary(self)
        return lmm_summary(self)

    def __repr__(self) -> str:
        return self.summary()
