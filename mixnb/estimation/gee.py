"""Generalised estimating equations (Liang and Zeger 1986), geepack's estimators.

The mean model ``g(E y_ij) = x_ij' beta``; the working covariance of cluster ``i`` is
``V_i = phi A_i^1/2 R_i(alpha) A_i^1/2`` with ``A_i = diag V(mu_ij)``. Written with the
standardised derivative ``D~ = A^-1/2 dmu/dbeta`` and the Pearson residual
``r = A^-1/2 (y - mu)``, and a whitening ``W_i`` with ``W_i' W_i = R_i^-1``
(:mod:`mixnb.estimation.working_correlation`), every sum over clusters becomes one
matrix product over the whitened rows ``X = W D~`` and ``u = W r``:

* estimating equation: ``sum_i D~_i' R_i^-1 r_i = X' u = 0``;
* Fisher scoring step: ``beta += (X'X)^-1 X'u``  (``phi`` cancels);
* scale (geepack, ``scale.fix = FALSE``): ``phi = sum r^2 / N``, no ``- p``;
* correlation: the working class's moment equations on ``e = r / sqrt(phi)``.

Prior weights ``w`` (geepack's ``weights``) enter as geepack has them (``update_beta``,
``HiandGi`` and ``update_gamma`` in gee2.cc and geesubs.cc): ``D~`` and ``r`` are scaled
by ``sqrt(w)`` before whitening, so ``V_i = phi W_i^-1/2 A_i^1/2 R_i A_i^1/2 W_i^-1/2``
and every estimator of the variance below follows; the scale is the weighted mean
``phi = sum w r^2 / sum w``; the correlation's moments weight the pair ``(j, k)`` by
``w_j w_k``. An offset ``o`` is added to the linear predictor, ``eta = X beta + o``.

The iteration is geepack's (``gee_est`` in gee2.cc): beta, then phi, then alpha, until
the largest change of any of them is at most ``tol``.

The variance estimators of ``beta`` are below, each in one function (:func:`sandwich`,
:func:`mancl_derouen`, :func:`kauermann_carroll`, :func:`df_adjusted`), all from the
bread ``B = (X'X)^-1`` and per-cluster scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mixnb.estimation.working_correlation import (
    CORRELATIONS,
    ClusterLayout,
    WorkingCorrelation,
)
from mixnb.families import Family

#: Default iteration limit and convergence tolerance (largest absolute change of beta,
#: phi and alpha between iterations; geepack's default epsilon is 1e-4).
MAX_ITERATIONS = 100
TOLERANCE = 1e-10


@dataclass
class GeeEstimates:
    """The numbers of a GEE fit (no words: problems are codes)."""

    beta: np.ndarray
    scale: float
    correlation: WorkingCorrelation
    mu: np.ndarray
    eta: np.ndarray
    pearson: np.ndarray  # (y - mu) / sqrt(V(mu)), unscaled by phi
    whitened_x: np.ndarray  # W D~  (N, p)
    whitened_r: np.ndarray  # W r   (N,)
    layout: ClusterLayout
    iterations: int
    converged: bool
    problems: list[str] = field(default_factory=list)
    weights: np.ndarray | None = None  # prior weights (None: all 1)
    offset: np.ndarray | None = None

    @property
    def bread(self) -> np.ndarray:
        """``(sum_i D~_i' R_i^-1 D~_i)^-1`` (the naive variance is ``phi`` times this)."""
        return np.linalg.inv(self.whitened_x.T @ self.whitened_x)

    @property
    def scores(self) -> np.ndarray:
        """``(K, p)``: each cluster's ``D~_i' R_i^-1 r_i``."""
        return self.layout.cluster_sums(self.whitened_x * self.whitened_r[:, None])


def fit_gee(
    y: np.ndarray,
    x: np.ndarray,
    layout: ClusterLayout,
    family: Family,
    correlation: str,
    *,
    offset: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    max_iterations: int = MAX_ITERATIONS,
    tol: float = TOLERANCE,
) -> GeeEstimates:
    """Solve the estimating equations; ``y``, ``x`` (and ``offset``, ``weights``: the
    prior weights, positive) sorted as ``layout`` says."""
    offset = np.zeros(len(y)) if offset is None else offset
    root_w = np.ones(len(y)) if weights is None else np.sqrt(weights)
    link = family.link
    working = CORRELATIONS[correlation]()
    working.setup(layout, weights)

    # Start: one weighted least-squares step from R's mustart (as glm.fit's first step).
    mu = family.start(y)
    eta = link.link(mu)
    d = link.mu_eta(eta)
    w = np.sqrt(d * d / family.variance(mu)) * root_w
    z = eta - offset + (y - mu) / d
    beta = np.linalg.lstsq(x * w[:, None], z * w, rcond=None)[0]

    problems: list[str] = []
    scale = np.nan
    converged = False
    iterations = 0
    for iteration in range(1, max_iterations + 1):
        iterations = iteration
        eta = x @ beta + offset
        mu = link.inverse(eta)
        root_v = np.sqrt(family.variance(mu))
        xd = x * (link.mu_eta(eta) / root_v * root_w)[:, None]
        r = (y - mu) / root_v * root_w
        whitened = working.whiten(np.column_stack([xd, r]))
        cross = whitened.T @ whitened  # [X'X, X'u] in one product
        step = np.linalg.solve(cross[:-1, :-1], cross[:-1, -1])
        beta = beta + step
        if not np.all(np.isfinite(beta)):
            problems.append("diverged")
            break

        eta = x @ beta + offset
        mu = link.inverse(eta)
        r = (y - mu) / np.sqrt(family.variance(mu))
        new_scale = _scale(r, weights)
        old_alpha = working.alpha.copy()
        if not working.update(r / np.sqrt(new_scale)):
            problems += working.problems
            if not np.any(old_alpha):
                problems.append("stopped_at_independence")
            working.alpha = old_alpha
            break
        change = max(
            float(np.max(np.abs(step))),
            abs(new_scale - scale) if np.isfinite(scale) else np.inf,
            float(np.max(np.abs(working.alpha - old_alpha), initial=0.0)),
        )
        scale = new_scale
        if change <= tol:
            converged = True
            break
    else:
        problems.append("iteration_limit")

    eta = x @ beta + offset
    mu = link.inverse(eta)
    root_v = np.sqrt(family.variance(mu))
    xd = x * (link.mu_eta(eta) / root_v * root_w)[:, None]
    r = (y - mu) / root_v
    if not np.isfinite(scale):
        scale = _scale(r, weights)
    if family.name == "binomial" and np.any((mu < 1e-8) | (mu > 1 - 1e-8)):
        problems.append("fitted_probability_boundary")
    return GeeEstimates(
        beta=beta,
        scale=scale,
        correlation=working,
        mu=mu,
        eta=eta,
        pearson=r,
        whitened_x=working.whiten(xd),
        whitened_r=working.whiten(r * root_w),
        layout=layout,
        iterations=iterations,
        converged=converged and not problems,
        problems=list(dict.fromkeys(problems)),
        weights=weights,
        offset=None if not np.any(offset) else offset,
    )


def _scale(r: np.ndarray, weights: np.ndarray | None) -> float:
    """geepack's scale: the (weighted) mean squared Pearson residual."""
    if weights is None:
        return float(np.mean(r * r))
    return float(np.sum(weights * r * r) / np.sum(weights))


# --------------------------------------------------------------------------- variances
#
# All estimators below are B M B with the bread B = (sum D~' R^-1 D~)^-1 and a meat
# M = sum_i U_i U_i' built from per-cluster scores. In whitened coordinates cluster i's
# leverage is the symmetric P_i = X_i B X_i' (similar to the usual H_ii = D_i B D_i' V_i^-1,
# so the corrections below equal the textbook ones).


def naive(est: GeeEstimates) -> np.ndarray:
    """Model-based variance ``phi B``: right only if the working correlation is."""
    return est.scale * est.bread


def sandwich(est: GeeEstimates) -> np.ndarray:
    """Liang-Zeger robust variance ``B (sum_i U_i U_i') B``, ``U_i = D~_i' R_i^-1 r_i``."""
    bread, u = est.bread, est.scores
    return bread @ (u.T @ u) @ bread


def df_adjusted(est: GeeEstimates) -> np.ndarray:
    """The sandwich times ``K / (K - p)`` (as SAS's and Stata's small-sample factor)."""
    k, p = est.layout.n_clusters, len(est.beta)
    return sandwich(est) * k / (k - p)


def _corrected(est: GeeEstimates, power: float) -> np.ndarray:
    """``B (sum_i U_i U_i') B`` with ``U_i = X_i' (I - P_i)^power u_i``."""
    bread = est.bread
    p = len(est.beta)
    meat = np.zeros((p, p))
    for size, rows in est.layout.size_groups():
        xs = est.whitened_x[rows]  # (k, s, p)
        us = est.whitened_r[rows]  # (k, s)
        lev = np.eye(size) - np.einsum("kap,pq,kbq->kab", xs, bread, xs)
        vals, vecs = np.linalg.eigh(lev)
        vals = np.maximum(vals, 1e-12) ** power
        adjusted = np.einsum("kab,kb,kcb,kc->ka", vecs, vals, vecs, us)
        scores = np.einsum("kap,ka->kp", xs, adjusted)
        meat += scores.T @ scores
    return bread @ meat @ bread


def mancl_derouen(est: GeeEstimates) -> np.ndarray:
    """Mancl and DeRouen (2001): residuals inflated by ``(I - H_ii)^-1``."""
    return _corrected(est, -1.0)


def kauermann_carroll(est: GeeEstimates) -> np.ndarray:
    """Kauermann and Carroll (2001): residuals inflated by ``(I - H_ii)^-1/2``."""
    return _corrected(est, -0.5)


#: The variance estimators by name, in the order the standard-error table shows them.
VARIANCES = {
    "robust": sandwich,
    "naive": naive,
    "df-adjusted": df_adjusted,
    "mancl-derouen": mancl_derouen,
    "kauermann-carroll": kauermann_carroll,
}
