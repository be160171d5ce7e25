"""Denominator degrees of freedom for tests of fixed effects.

For a contrast ``L beta`` (``L`` has one row per tested combination):

* Satterthwaite (lmerTest): ``df = 2 (l'Cl)^2 / (g' A g)`` with ``C = vcov(beta)`` as a
  function of the covariance parameters, ``g`` its gradient along ``l`` and ``A`` the
  parameters' asymptotic covariance. Several rows: Fai & Cornelius (1996), as lmerTest's
  ``contest``.
* Kenward-Roger (pbkrtest): an adjusted covariance ``Phi_A`` of beta and a scaled F test.
* Between-within and containment (SAS PROC MIXED): counts from the design.
* Residual: ``n - rank(X)``; normal: infinite (z tests).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.linalg

from mixnb.design import Design
from mixnb.errors import MixnbError
from mixnb.estimation import numdiff
from mixnb.estimation.deviance import ProfiledDeviance
from mixnb.estimation.information import FitParameters, parameter_covariances
from mixnb.estimation.kenward_roger import KenwardRoger
from mixnb.estimation.kenward_roger import kenward_roger as kenward_roger_blocks
from mixnb.estimation.lmm import LmmEstimates, deviance_function
from mixnb.estimation.random_terms import random_terms

METHODS = ("satterthwaite", "kenward-roger", "between-within", "containment", "residual", "normal")


def check_method(ddf: str) -> str:
    key = ddf.lower().replace("_", "-").replace(" ", "-")
    aliases = {
        "kr": "kenward-roger",
        "kenwardroger": "kenward-roger",
        "bw": "between-within",
        "betwithin": "between-within",
        "contain": "containment",
        "z": "normal",
        "wald": "normal",
        "asymptotic": "normal",
    }
    key = aliases.get(key, key)
    if key not in METHODS:
        raise MixnbError(f"Unknown ddf method {ddf!r}. Choose one of: {', '.join(METHODS)}.")
    return key


# --------------------------------------------------------------------------- Satterthwaite


class CovarianceSensitivity:
    """``vcov(beta)`` at the estimates and its derivatives in ``phi = (theta, sigma)``.

    As lmerTest: every covariance parameter is included, on or next to the boundary too,
    and the derivatives are numDeriv's Richardson differences.
    """

    def __init__(
        self, design: Design, estimates: LmmEstimates, deviance: ProfiledDeviance | None = None
    ) -> None:
        # ``deviance``: the fit's own, when it was made from cross-products (no rows)
        self.deviance: ProfiledDeviance = deviance or deviance_function(design, estimates.reml)
        self.params = FitParameters(self.deviance.layout, estimates.theta, estimates.sigma2)
        if estimates.phi_covariance is None:  # fits that did not come through estimates_at
            information = parameter_covariances(self.deviance, self.params)
            self.parameter_cov = information.phi
            self.eigenvalues = information.eigenvalues
        else:
            self.parameter_cov = estimates.phi_covariance
            self.eigenvalues = estimates.information_eigenvalues
        self.vcov = estimates.vcov_beta

    def vcov_at(self, phi: np.ndarray) -> np.ndarray:
        """``sigma^2 (RX'RX)^-1``: the covariance of beta at the parameters phi."""
        theta, sigma2 = self.params.split(phi)
        try:
            state = self.deviance.state(theta)
            return sigma2 * scipy.linalg.cho_solve((state.rx_low, True), np.eye(state.p))
        except (np.linalg.LinAlgError, ValueError):
            return np.full(self.vcov.shape, np.nan)

    @cached_property
    def jacobian(self) -> np.ndarray:
        """``dC/d phi_i`` for each parameter: shape ``(k, p, p)``.

        Analytic when the random-effects system gives ``d(X'V^-1X)/d theta`` (the blocked
        system: ``dC/d theta_i = -sigma^2 M^-1 dM_i M^-1`` with ``M = X'V^-1X``, and
        ``dC/d sigma = 2 sigma M^-1``), else numDeriv's Richardson differences.
        """
        system = self.deviance.system
        if not hasattr(system, "fixed_information_derivatives"):
            return numdiff.richardson_jacobian(self.vcov_at, self.params.phi)
        theta, sigma2 = self.params.split(self.params.phi)
        state = self.deviance.state(theta)
        m_inv = scipy.linalg.cho_solve((state.rx_low, True), np.eye(state.p))
        d_m = system.fixed_information_derivatives(theta)
        d_theta = -sigma2 * np.einsum("ab,kbc,cd->kad", m_inv, d_m, m_inv)
        return np.concatenate([d_theta, (2.0 * np.sqrt(sigma2) * m_inv)[None]])

    def satterthwaite_df(self, contrast: np.ndarray) -> float:
        """Satterthwaite df of one contrast ``l'beta`` (NaN when it cannot be formed)."""
        variance = contrast @ self.vcov @ contrast
        grad = np.einsum("i,kij,j->k", contrast, self.jacobian, contrast)
        denominator = grad @ self.parameter_cov @ grad
        if not np.isfinite(denominator):
            return np.nan
        return float(2 * variance**2 / denominator) if denominator > 0 else np.inf


def satterthwaite_f_df(sens: CovarianceSensitivity, contrasts: np.ndarray) -> float:
    """Denominator df of the F test of several contrasts (Fai & Cornelius; lmerTest)."""
    vcov_l = contrasts @ sens.vcov @ contrasts.T
    values, vectors = np.linalg.eigh(vcov_l)
    keep = values > 1e-8 * values.max()
    directions = vectors[:, keep].T @ contrasts
    q = int(keep.sum())
    nu = np.array([sens.satterthwaite_df(d) for d in directions])
    e = np.sum(np.where(nu > 2, nu / (nu - 2), 0.0))
    return float(2 * e / (e - q)) if e > q else 0.0


# --------------------------------------------------------------------------- Kenward-Roger


def kenward_roger(design: Design, estimates: LmmEstimates) -> KenwardRoger:
    """Kenward-Roger quantities for a REML fit (see :mod:`mixnb.estimation.kenward_roger`)."""
    if not estimates.reml:
        raise MixnbError(
            "Kenward-Roger degrees of freedom are defined for REML fits only (as in pbkrtest "
            "and lmerTest). Refit with reml=True, or use ddf='satterthwaite'."
        )
    return kenward_roger_blocks(design, estimates.theta, estimates.sigma2)


# --------------------------------------------------------------------------- SAS counts


def _rank(matrix: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(matrix)) if matrix.size else 0


def _group_indicators(design: Design, k: int) -> np.ndarray:
    """Term ``k``'s columns of ``Z``, dense (for the ranks of the containment df)."""
    return random_terms(design)[k].z.toarray()


def between_within_df(design: Design) -> np.ndarray:
    """SAS's between-within df for each fixed-effect column.

    With respect to the first grouping factor: a column constant within every group is a
    between-group effect with ``groups - rank(between columns)`` df; any other column is a
    within-group effect with ``n - groups - rank(within columns)`` df (for 20 players with
    400 games: 19 for the intercept, 379 for a within-player effect).
    """
    x = design.fixed.matrix
    factor = design.random[0].factor
    codes, n_groups = factor.codes, factor.n_levels
    means = np.zeros((n_groups, x.shape[1]))
    np.add.at(means, codes, x)
    means /= np.bincount(codes, minlength=n_groups)[:, None]
    between = np.all(np.isclose(x, means[codes], rtol=1e-10, atol=1e-12), axis=0)
    rank_between = _rank(x[:, between])
    rank_within = _rank(x) - rank_between
    df_between = n_groups - rank_between
    df_within = design.nobs - n_groups - rank_within
    return np.where(between, df_between, df_within).astype(float)


def containment_df(design: Design) -> np.ndarray:
    """SAS's containment df for each fixed-effect column.

    A random term contains a fixed effect when the term's grouping factor and columns
    include every variable of the effect (a random intercept contains the intercept; a
    random slope on ``x`` contains ``x``). The df is the smallest rank contribution of the
    containing random terms, ``rank([X Z_1 ... Z_k]) - rank([X Z_1 ... Z_(k-1)])``; an
    effect no random term contains gets the residual df ``n - rank([X Z])``.
    """
    x = design.fixed.matrix
    names = design.fixed.columns
    blocks = [x]
    contributions = []
    for k in range(len(design.random)):
        before = _rank(np.column_stack(blocks))
        blocks.append(_group_indicators(design, k))
        contributions.append(_rank(np.column_stack(blocks)) - before)
    residual = design.nobs - _rank(np.column_stack(blocks))
    out = []
    for name in names:
        candidates = [
            contributions[k]
            for k, block in enumerate(design.random)
            if _contains(block.columns, name)
        ]
        out.append(min(candidates) if candidates else residual)
    return np.array(out, dtype=float)


def _contains(random_columns: list[str], fixed_name: str) -> bool:
    if fixed_name == "Intercept":
        return "Intercept" in random_columns
    return fixed_name in random_columns


def residual_df(design: Design) -> float:
    rank = getattr(design.fixed, "rank", None)  # known without the rows (cross-products)
    return float(design.nobs - (_rank(design.fixed.matrix) if rank is None else rank))
