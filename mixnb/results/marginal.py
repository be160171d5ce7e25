"""A marginal (population-averaged) coefficient beside a conditional (cluster-specific) one.

A GLMM's coefficient answers "how does the outcome change for *this* cluster?"; a GEE's
(or a traditional model's) "how does it change on average over the population?". For a
non-identity link the two differ even when both models are right: averaging the logistic
curves of many clusters flattens them. For random intercepts with total variance
``sigma^2`` (summed over the levels), Zeger, Liang and Albert (1988) give

* logit: ``beta_marginal ~= beta_conditional / sqrt(1 + c^2 sigma^2)``,
  ``c = 16 sqrt(3) / (15 pi)`` (``c^2 ~= 0.346``; a probit approximation of the logistic);
* probit: exactly ``beta_conditional / sqrt(1 + sigma^2)``;
* log (Poisson): the slopes are equal; only the intercept moves, by ``sigma^2 / 2``.

The GLMM also implies marginal coefficients of its own, for any random part: its
population-averaged means ``mu_M(x_i) = E_b[g^-1(x_i' beta + z_i' b)]``
(:meth:`GlmmResult.predict` with ``marginal=True``), put back on the link scale and
projected onto ``X`` by least squares,
``beta_implied = argmin_beta sum_i (g(mu_M(x_i)) - offset_i - x_i' beta)^2``: exact where
the marginal model is again linear on the link scale (probit with random intercepts, the
log link), the least-squares summary of it otherwise (logit, which the formula above
approximates).

:class:`MarginalVsConditional` sets the fitted coefficients side by side with both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixnb.errors import ModelError
from mixnb.results.base import Displayable

#: ``c^2`` of the logistic-probit approximation: ``(16 sqrt(3) / (15 pi))^2``.
LOGIT_C2 = (16 * np.sqrt(3) / (15 * np.pi)) ** 2


def expected_attenuation(link: str, variance: float) -> float:
    """The ratio marginal / conditional slope that random intercepts of total
    ``variance`` imply for ``link`` (NaN for a link without a closed form)."""
    if link == "logit":
        return float(1 / np.sqrt(1 + LOGIT_C2 * variance))
    if link == "probit":
        return float(1 / np.sqrt(1 + variance))
    if link == "log":
        return 1.0
    return float("nan")


def _coefficients(fit: Any) -> pd.DataFrame:
    table = getattr(fit, "fixed_effects", None)
    if table is None:
        table = fit.coefficients
    return table[["estimate", "std_error"]]


class MarginalVsConditional(Displayable):
    """Population-averaged against cluster-specific coefficients of the same data.

    Attributes
    ----------
    table : pandas.DataFrame
        Per shared term: ``conditional`` and its ``conditional_se`` (the GLMM),
        ``marginal`` and ``marginal_se`` (the GEE or traditional model), the GLMM's
        ``implied_marginal`` coefficients, the ``ratio`` marginal / conditional and the
        ``expected_ratio`` random intercepts of the GLMM's total variance imply (the
        intercept's row has none).
    variance : float
        The GLMM's total random-intercept variance used for the expected ratio.
    """

    def __init__(self, marginal: Any, conditional: Any) -> None:
        if not hasattr(conditional, "variance_components") or not hasattr(conditional, "family"):
            raise ModelError(
                "marginal_vs_conditional(marginal, conditional) needs a GLMM (mixnb.glmm) as "
                "its conditional fit and a GEE (mixnb.gee) or traditional model (mixnb.glm) "
                "as its marginal one."
            )
        if (marginal.family.name, marginal.family.link.name) != (
            conditional.family.name,
            conditional.family.link.name,
        ):
            raise ModelError(
                f"The two fits use different families or links ({marginal.family.label} and "
                f"{conditional.family.label}): their coefficients are on different scales."
            )
        vc = conditional.variance_components
        variances = vc[vc["term1"] == vc["term2"]]
        slopes = variances[variances["term1"] != "Intercept"]
        self.variance = float(variances.loc[variances["term1"] == "Intercept", "estimate"].sum())
        self.link = conditional.family.link.name
        self.marginal_fit, self.conditional_fit = marginal, conditional
        cond, marg = _coefficients(conditional), _coefficients(marginal)
        shared = [t for t in cond.index if t in marg.index]
        if not shared:
            raise ModelError("The two fits have no coefficient in common to compare.")
        expected = expected_attenuation(self.link, self.variance) if slopes.empty else np.nan
        ratio = marg.loc[shared, "estimate"] / cond.loc[shared, "estimate"]
        self.table = pd.DataFrame(
            {
                "conditional": cond.loc[shared, "estimate"],
                "conditional_se": cond.loc[shared, "std_error"],
                "marginal": marg.loc[shared, "estimate"],
                "marginal_se": marg.loc[shared, "std_error"],
                "implied_marginal": self.implied_marginal().loc[shared],
                "ratio": ratio,
                "expected_ratio": [np.nan if t == "Intercept" else expected for t in shared],
            },
            index=pd.Index(shared, name="term"),
        )
        self.title = "Marginal (population-averaged) against conditional (cluster-specific)"
        self.notes = self._notes(slopes)

    def implied_marginal(self) -> pd.Series:
        """The GLMM's implied marginal coefficients (the module says how)."""
        fit = self.conditional_fit
        mu = fit.predict(marginal=True).to_numpy()
        target = fit.family.link.link(mu) - fit.response.offset
        beta = np.linalg.lstsq(fit.response.x, target, rcond=None)[0]
        return pd.Series(beta, index=fit.fixed_effects.index)

    def _notes(self, slopes: pd.DataFrame) -> list[str]:
        notes = []
        if not slopes.empty:
            notes.append(
                "The GLMM has random slopes, for which the attenuation has no simple "
                "closed form: no expected ratio is shown."
            )
        elif self.link == "logit":
            notes.append(
                f"Expected ratio 1 / sqrt(1 + 0.346 x {self.variance:.3g}) = "
                f"{expected_attenuation('logit', self.variance):.3f}: the logistic curves of "
                "the clusters, averaged over their random intercepts, are flatter than each "
                "cluster's (Zeger, Liang and Albert 1988): the population-averaged "
                "coefficients are attenuated. implied_marginal integrates the GLMM over its "
                "random effects instead. Both kinds of coefficient are right; they answer "
                "different questions."
            )
        elif self.link == "log":
            notes.append(
                "With a log link, random intercepts leave the slopes unchanged: marginal and "
                "conditional rate ratios agree (only the intercept moves, by sigma^2 / 2)."
            )
        return notes
