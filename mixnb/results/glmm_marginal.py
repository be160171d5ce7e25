"""A GEE's population-averaged coefficients beside a GLMM's conditional ones.

A GLMM's coefficients are conditional (within a group: the random effects held fixed); a
GEE's are marginal (averaged over the population). For a nonlinear link they differ: a
logit model's marginal coefficients are closer to 0 (attenuated). The GLMM implies
marginal coefficients of its own: its population-averaged means
``mu_M(x_i) = E_b[g^-1(x_i' beta + z_i' b)]`` (:meth:`GlmmResult.predict` with
``marginal=True``), put back on the link scale and projected onto ``X`` by least squares,

    beta_implied = argmin_beta sum_i (g(mu_M(x_i)) - x_i' beta)^2.

This is exact where the marginal model is again linear on the link scale (probit with a
random intercept: ``beta / sqrt(1 + sigma^2)``; log link: the slopes unchanged and the
intercept plus ``sigma^2 / 2``) and the least-squares summary of it otherwise (logit,
where Zeger, Liang and Albert's ``beta / sqrt(1 + 0.346 sigma^2)`` approximates it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixnb.errors import ModelError
from mixnb.results.base import Displayable
from mixnb.results.gee import GeeResult
from mixnb.results.glmm import GlmmResult


class MarginalComparison(Displayable):
    """The coefficients of a GEE and of a GLMM (conditional and implied marginal) side by
    side: ``table`` has ``gee``, ``gee_se`` (the GEE's chosen SEs), ``glmm_conditional``,
    ``glmm_se``, ``glmm_implied_marginal`` and ``ratio`` (GEE over conditional)."""

    def __init__(self, gee_fit: GeeResult, glmm_fit: GlmmResult) -> None:
        if not isinstance(gee_fit, GeeResult) or not isinstance(glmm_fit, GlmmResult):
            raise ModelError(
                "marginal_vs_conditional(gee_fit, glmm_fit) takes a mixnb.gee fit and a "
                "mixnb.glmm fit, in that order."
            )
        if gee_fit.family.name != glmm_fit.family.name or (
            gee_fit.family.link.name != glmm_fit.family.link.name
        ):
            raise ModelError(
                f"The GEE uses the {gee_fit.family.label} family and the GLMM the "
                f"{glmm_fit.family.label} one: compare models with the same family and link."
            )
        gee_terms = list(gee_fit.coefficients.index)
        glmm_terms = list(glmm_fit.fixed_effects.index)
        if gee_terms != glmm_terms:
            raise ModelError(
                "The GEE and the GLMM have different fixed effects "
                f"({', '.join(gee_terms)} against {', '.join(glmm_terms)}): fit the same "
                "mean model."
            )
        self.gee_fit, self.glmm_fit = gee_fit, glmm_fit
        self.formula = glmm_fit.formula

    @property
    def title(self) -> str:
        return "Population-averaged (GEE) beside conditional (GLMM) coefficients"

    def implied_marginal(self) -> pd.Series:
        """The GLMM's implied marginal coefficients (see the module)."""
        fit = self.glmm_fit
        mu = fit.predict(marginal=True).to_numpy()
        target = fit.family.link.link(mu) - fit.response.offset
        x = fit.response.x
        beta = np.linalg.lstsq(x, target, rcond=None)[0]
        return pd.Series(beta, index=fit.fixed_effects.index)

    @property
    def table(self) -> pd.DataFrame:
        gee = self.gee_fit.coefficients
        glmm = self.glmm_fit.fixed_effects
        out = pd.DataFrame(
            {
                "gee": gee["estimate"],
                "gee_se": gee["std_error"],
                "glmm_conditional": glmm["estimate"],
                "glmm_se": glmm["std_error"],
                "glmm_implied_marginal": self.implied_marginal(),
            }
        )
        out["ratio"] = out["gee"] / out["glmm_conditional"]
        return out

    @property
    def notes(self) -> list[str]:
        vc = self.glmm_fit.variance_components
        variance = float(vc[vc["term1"] == vc["term2"]]["estimate"].sum())
        return [
            "The GLMM's coefficients are conditional: the change within one group. The "
            "GEE's are population-averaged. For the logit link the population-averaged ones "
            "are closer to zero (attenuated) by about 1 / sqrt(1 + 0.346 sigma^2) = "
            f"{1 / np.sqrt(1 + 0.346 * variance):.3f} here (sigma^2 = {variance:.3g}, the "
            "random-effect variance); glmm_implied_marginal integrates the GLMM over its "
            "random effects instead (docs/glmm.md).",
            f"GEE standard errors: {self.gee_fit.se}; GLMM: model-based (Hessian).",
        ]
