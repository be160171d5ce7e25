"""Fit a linear mixed model: lme4's four steps, the first done by :mod:`mixnb.design`.

1. ``build_design`` (formula and data to ``y``, ``X`` and random-effect blocks),
2. :func:`deviance_function` (cross-products formed once; the profiled deviance),
3. :func:`~mixnb.estimation.optimize.minimize_deviance`,
4. :func:`estimates_at` (everything a result reports, at the optimum).
"""

from __future__ import annotations

import contextlib
import math
import weakref
from dataclasses import dataclass, field

import numpy as np

from mixnb.design import Design
from mixnb.estimation.deviance import ProfiledDeviance
from mixnb.estimation.information import FitParameters, parameter_covariances
from mixnb.estimation.optimize import (
    BOUNDARY_TOLERANCE,
    OptimizationResult,
    minimize_deviance,
)
from mixnb.estimation.pls import FixedCrossproducts, RandomEffectsSystem, make_system


@dataclass(frozen=True)
class LmmEstimates:
    """The numbers of a fitted linear mixed model, as plain arrays."""

    reml: bool
    theta: np.ndarray
    beta: np.ndarray
    vcov_beta: np.ndarray
    sigma2: float
    objective: float
    covariances: list[np.ndarray]
    #: covariance of omega (variances, covariances, residual variance); NaN where undefined
    parameter_covariance: np.ndarray
    modes: list[np.ndarray]
    conditional_covariances: dict[str, np.ndarray]
    singular_terms: list[int]
    converged: bool
    n_evaluations: int
    problems: list[str] = field(default_factory=list)
    n_parameters: int = 0
    #: terms next to the boundary (e.g. a correlation within 1e-3 of +/-1), not on it
    nearly_singular_terms: list[int] = field(default_factory=list)
    #: covariance of phi = (theta, sigma), lmerTest's ``vcov_varpar``; None if not computed
    phi_covariance: np.ndarray | None = None
    #: eigenvalues of the Hessian of the deviance in phi (ascending)
    information_eigenvalues: np.ndarray | None = None

    @property
    def loglik(self) -> float:
        """Log-likelihood (REML log-likelihood for REML fits): ``-objective / 2``."""
        return -0.5 * self.objective


#: The random-effects system of each live design (by identity): a fit's df, intervals and
#: refits reuse the symbolic set-up instead of building it again.
_SYSTEMS: dict[int, tuple[weakref.ref, RandomEffectsSystem]] = {}


def _system_of(design: Design) -> RandomEffectsSystem:
    key = id(design)
    hit = _SYSTEMS.get(key)
    if hit is not None and hit[0]() is design:
        return hit[1]
    system = make_system(design)
    _SYSTEMS[key] = (weakref.ref(design, _forget(key)), system)
    return system


def _forget(key: int):
    """The callback that drops a dead design's entry: only its own (a new design may have
    taken the same id), and through a captured reference to the cache, which is still
    there when the interpreter clears module globals at exit."""
    systems = _SYSTEMS

    def forget(ref: weakref.ref) -> None:
        entry = systems.get(key)
        if entry is not None and entry[0] is ref:
            del systems[key]

    return forget


def deviance_function(design: Design, reml: bool) -> ProfiledDeviance:
    """The profiled deviance (ML) or REML criterion of ``design`` as a function of theta."""
    return ProfiledDeviance(_system_of(design), FixedCrossproducts.from_design(design), reml)


def fit_lmm(design: Design, reml: bool = True, start: np.ndarray | None = None) -> LmmEstimates:
    """Estimate the model by (restricted) maximum likelihood."""
    deviance = deviance_function(design, reml)
    single = getattr(deviance.system, "single_threaded", contextlib.nullcontext)
    with single():  # the blocked system's small dense work on one BLAS thread
        optimum = minimize_deviance(deviance, start=start)
        return estimates_at(deviance, optimum)


def singular_terms(deviance: ProfiledDeviance, theta: np.ndarray) -> list[int]:
    """Terms whose factor has a zero diagonal entry: a variance or correlation on its boundary.

    Judged on the scaled factor (each random-effect column in units of its scale,
    :mod:`mixnb.estimation.covariance`), so that a change of units never makes a fit
    singular.
    """
    layout = deviance.layout
    return [
        k
        for k, lam in enumerate(layout.factors(layout.to_scaled(theta)))
        if np.any(np.diag(lam) < BOUNDARY_TOLERANCE)
    ]


def near_boundary_terms(covariances: list[np.ndarray], tolerance: float = 1e-3) -> list[int]:
    """Terms whose correlation matrix is nearly singular (smallest eigenvalue below
    ``tolerance``; for two columns, a correlation within ``tolerance`` of +/-1): the
    curvature there is a rough guide to precision."""
    out = []
    for k, cov in enumerate(covariances):
        sd = np.sqrt(np.diag(cov))
        if cov.shape[0] > 1 and np.all(sd > 0):
            if np.linalg.eigvalsh(cov / np.outer(sd, sd)).min() < tolerance:
                out.append(k)
    return out


def estimates_at(deviance: ProfiledDeviance, optimum: OptimizationResult) -> LmmEstimates:
    """Everything a result reports, computed at the optimiser's theta."""
    theta = optimum.theta
    state = deviance.state(theta)
    sigma2 = state.sigma2
    layout = deviance.layout
    covariances = [sigma2 * rel for rel in layout.relative_covariances(theta)]
    singular = singular_terms(deviance, theta)
    nearly = [k for k in near_boundary_terms(covariances) if k not in singular]
    information = parameter_covariances(deviance, FitParameters(layout, theta, sigma2, singular))
    return LmmEstimates(
        reml=deviance.reml,
        theta=theta,
        beta=state.beta,
        vcov_beta=state.vcov_beta(),
        sigma2=sigma2,
        objective=state.objective,
        covariances=covariances,
        parameter_covariance=information.omega,
        modes=deviance.system.conditional_modes(theta, state.beta),
        conditional_covariances=deviance.system.conditional_covariances(theta, sigma2),
        singular_terms=singular,
        converged=optimum.converged,
        n_evaluations=optimum.n_evaluations,
        problems=optimum.problems,
        n_parameters=state.p + layout.n_theta + 1,
        nearly_singular_terms=nearly,
        phi_covariance=information.phi,
        information_eigenvalues=information.eigenvalues,
    )


def information_criteria(loglik: float, n_parameters: int, nobs: int) -> tuple[float, float]:
    """AIC and BIC from a log-likelihood with ``n_parameters`` estimated parameters."""
    return -2 * loglik + 2 * n_parameters, -2 * loglik + n_parameters * math.log(nobs)
