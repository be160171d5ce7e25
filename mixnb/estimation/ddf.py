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

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.linalg

from mixnb.design import Design
from mixnb.errors import MixnbError
from mixnb.estimation.covariance import entry_order
from mixnb.estimation.deviance import ProfiledDeviance
from mixnb.estimation.information import FitParameters
from mixnb.estimation.lmm import LmmEstimates, deviance_function

METHODS = ("satterthwaite", "kenward-roger", "between-within", "containment", "residual", "normal")

#: Largest number of rows for which Kenward-Roger's dense n x n matrices are formed.
KENWARD_ROGER_MAX_ROWS = 4000


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
    """``vcov(beta)`` at the estimates and its derivatives in ``phi = (theta, sigma^2)``."""

    def __init__(self, design: Design, estimates: LmmEstimates) -> None:
        self.deviance: ProfiledDeviance = deviance_function(design, estimates.reml)
        self.params = FitParameters(
            self.deviance.layout, estimates.theta, estimates.sigma2, estimates.fixed_terms
        )
        self.parameter_cov = estimates.phi_covariance
        self.vcov = estimates.vcov_beta

    def vcov_at(self, phi: np.ndarray) -> np.ndarray:
        """``sigma^2 (RX'RX)^-1``: the covariance of beta at the parameters phi."""
        theta, sigma2 = self.params.split(phi)
        state = self.deviance.state(theta)
        return sigma2 * scipy.linalg.cho_solve((state.rx_low, True), np.eye(state.p))

    @cached_property
    def jacobian(self) -> np.ndarray:
        """``dC/d phi_i`` for each parameter: shape ``(k, p, p)``."""
        base = self.params.phi
        out = []
        for i, h in enumerate(self.params.steps):
            e = np.zeros_like(base)
            e[i] = h
            out.append((self.vcov_at(base + e) - self.vcov_at(base - e)) / (2 * h))
        return np.array(out)

    def satterthwaite_df(self, contrast: np.ndarray) -> float:
        """Satterthwaite df of one contrast ``l'beta``."""
        variance = contrast @ self.vcov @ contrast
        grad = np.einsum("i,kij,j->k", contrast, self.jacobian, contrast)
        denominator = grad @ self.parameter_cov @ grad
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


@dataclass(frozen=True)
class KenwardRoger:
    """Kenward & Roger's (1997) adjusted covariance and what their df formula needs."""

    phi: np.ndarray  # unadjusted covariance of beta, (X'V^-1X)^-1
    phi_adjusted: np.ndarray
    p_matrices: np.ndarray  # (k, p, p): X'V^-1 G_i V^-1 X
    w: np.ndarray  # (k, k): inverse expected information of the covariance parameters

    def df(self, contrasts: np.ndarray) -> float:
        """Denominator df for ``L beta`` (pbkrtest's ``.Lb_ddf``)."""
        contrasts = np.atleast_2d(contrasts)
        q = contrasts.shape[0]
        theta = contrasts.T @ np.linalg.solve(contrasts @ self.phi @ contrasts.T, contrasts)
        u = np.einsum("ab,kbc,cd->kad", theta @ self.phi, self.p_matrices, self.phi)
        traces = np.trace(u, axis1=1, axis2=2)
        a1 = float(traces @ self.w @ traces)
        a2 = float(np.einsum("ij,iab,jba->", self.w, u, u))
        b = (a1 + 6 * a2) / (2 * q)
        g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
        denom = 3 * q + 2 * (1 - g)
        c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
        v0 = 1 + c1 * b
        v1 = 1 - c2 * b
        v2 = 1 - c3 * b
        v0 = 0.0 if abs(v0) < 1e-10 else v0
        rho = (1 / q) * ((1 - a2 / q) / v1) ** 2 * v0 / v2
        return float(4 + (q + 2) / (q * rho - 1))

    def f_scaling(self, contrasts: np.ndarray, df2: float) -> float:
        """Kenward-Roger's scale factor lambda for the F statistic."""
        q = np.atleast_2d(contrasts).shape[0]
        contrasts = np.atleast_2d(contrasts)
        theta = contrasts.T @ np.linalg.solve(contrasts @ self.phi @ contrasts.T, contrasts)
        u = np.einsum("ab,kbc,cd->kad", theta @ self.phi, self.p_matrices, self.phi)
        a2 = float(np.einsum("ij,iab,jba->", self.w, u, u))
        return 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - a2 / q) / (df2 - 2)


def kenward_roger(design: Design, estimates: LmmEstimates) -> KenwardRoger:
    """Kenward-Roger quantities for a REML fit (dense in the number of rows)."""
    if not estimates.reml:
        raise MixnbError(
            "Kenward-Roger degrees of freedom are defined for REML fits only (as in pbkrtest "
            "and lmerTest). Refit with reml=True, or use ddf='satterthwaite'."
        )
    n = design.nobs
    if n > KENWARD_ROGER_MAX_ROWS:
        raise MixnbError(
            f"Kenward-Roger needs {n} x {n} matrices, too large here (limit "
            f"{KENWARD_ROGER_MAX_ROWS} rows). With this much data the df are large anyway: "
            "use ddf='satterthwaite'."
        )
    x = design.fixed.matrix
    derivatives = _covariance_derivatives(design, estimates)
    v_inv = np.linalg.inv(_marginal_covariance(design, estimates))
    v_inv_x = v_inv @ x
    phi = np.linalg.inv(x.T @ v_inv_x)
    vg = np.array([v_inv @ g for g in derivatives])  # V^-1 G_i
    p_mats = np.array([v_inv_x.T @ g @ v_inv_x for g in derivatives])
    k = len(derivatives)
    q_mats = np.empty((k, k) + phi.shape)
    info = np.empty((k, k))
    proj = v_inv - v_inv_x @ phi @ v_inv_x.T  # REML projection P
    pg = np.array([proj @ g for g in derivatives])
    for i in range(k):
        left = v_inv_x.T @ derivatives[i]
        for j in range(i, k):
            q_mats[i, j] = left @ vg[j] @ v_inv_x
            q_mats[j, i] = q_mats[i, j].T
            info[i, j] = info[j, i] = 0.5 * np.einsum("ab,ba->", pg[i], pg[j])
    w = np.linalg.pinv(info) if np.linalg.cond(info) > 1e12 else np.linalg.inv(info)
    u = np.zeros_like(phi)
    for i in range(k):
        for j in range(k):
            u += w[i, j] * (q_mats[i, j] - p_mats[i] @ phi @ p_mats[j])
    phi_adjusted = phi + 2 * phi @ u @ phi
    return KenwardRoger(phi=phi, phi_adjusted=phi_adjusted, p_matrices=p_mats, w=w)


def _marginal_covariance(design: Design, estimates: LmmEstimates) -> np.ndarray:
    """``V = sum_k Z_k (I kron Sigma_k) Z_k' + sigma^2 I`` as a dense matrix."""
    v = estimates.sigma2 * np.eye(design.nobs)
    for block, cov in zip(design.random, estimates.covariances):
        codes = block.factor.codes
        within = block.matrix @ cov @ block.matrix.T
        v += np.where(codes[:, None] == codes[None, :], within, 0.0)
    return v


def _covariance_derivatives(design: Design, estimates: LmmEstimates) -> list[np.ndarray]:
    """``dV/d omega_i``: dense ``n x n`` matrices, one per variance or covariance parameter.

    Terms whose variance is on the boundary at zero are kept, as pbkrtest does.
    """
    n = design.nobs
    out = []
    for block, cov in zip(design.random, estimates.covariances):
        codes = block.factor.codes
        same_group = codes[:, None] == codes[None, :]
        for a, b in zip(*entry_order(cov)):
            za, zb = block.matrix[:, a], block.matrix[:, b]
            outer = np.outer(za, zb)
            if a != b:
                outer = outer + outer.T
            out.append(np.where(same_group, outer, 0.0))
    out.append(np.eye(n))
    return out


# --------------------------------------------------------------------------- SAS counts


def _rank(matrix: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(matrix)) if matrix.size else 0


def _group_indicators(design: Design, k: int) -> np.ndarray:
    block = design.random[k]
    ind = np.zeros((design.nobs, block.factor.n_levels * block.n_columns))
    for c in range(block.n_columns):
        ind[np.arange(design.nobs), block.factor.codes * block.n_columns + c] = block.matrix[:, c]
    return ind


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
    return float(design.nobs - _rank(design.fixed.matrix))
