"""Asymptotic covariance of the covariance parameters.

The deviance is differentiated in the parameters lmerTest uses,

    phi = (theta, sigma),

every theta entry included, also on or next to the boundary: there the deviance is still
smooth in theta (a correlation near +/-1 or a variance at zero is no obstacle, unlike in
the variances and covariances themselves). The covariance of phi is ``2 H^+``, ``H`` the
Hessian of the (not profiled) deviance or REML criterion at the estimates (Richardson
differences, as numDeriv computes them for lmerTest, with steps kept clear of rounding
noise next to zero; for crossed and nested factors, whose blocked system gives the
gradient analytically, central differences of that gradient) and ``H^+`` its inverse over the
eigenvalues above ``EIGENVALUE_TOLERANCE`` (lmerTest's Moore-Penrose inverse: a direction
in which the likelihood is flat carries no information and is left out).

The natural parameters reported in tables,

    omega = (each term's variances then covariances, residual variance),

are a smooth function of phi, and at the maximum their covariance follows by the delta
method, ``J (2 H^-1) J'`` with ``J = d omega / d phi``: the same matrix a Hessian taken in
omega would give, without its numerical trouble near the boundary. Terms whose variance
sits on the boundary at zero have no such standard error (the estimate is not an
interior maximum) and are reported as NaN; so is every standard error when ``H`` is not
positive definite.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from mixnb.estimation import numdiff
from mixnb.estimation.covariance import CovarianceLayout
from mixnb.estimation.deviance import ProfiledDeviance

#: Eigenvalues of the Hessian in phi at or below this count as zero (lmerTest's ``tol``).
EIGENVALUE_TOLERANCE = 1e-8
#: First Richardson steps: a fraction of each coordinate, and for theta at least that
#: fraction of ``THETA_SCALE`` in the scaled units of theta (each random-effect column in
#: units of its spread, so this floor is free of the data's units): steps that stay well
#: above rounding noise next to a zero. With three
#: rounds (steps halved twice) the df of the lme4 reference and of the boundary battery
#: stay within 1e-5 of numDeriv's four rounds from 0.1 (which cost a third more).
STEP_FRACTION = 0.05
THETA_SCALE = 0.05
RICHARDSON_ROUNDS = 3


class FitParameters:
    """phi = (theta, sigma) around a fit.

    Parameters
    ----------
    layout
        The covariance layout of the model's random terms.
    theta, sigma2
        The estimates.
    boundary_terms
        Indices of terms on the boundary: their variances and covariances get no
        standard error (they still vary in phi).
    """

    def __init__(
        self,
        layout: CovarianceLayout,
        theta: np.ndarray,
        sigma2: float,
        boundary_terms: list[int] | tuple[int, ...] = (),
    ) -> None:
        self.layout = layout
        self.theta_hat = np.asarray(theta, dtype=float)
        term_of_theta = np.concatenate(
            [np.full(q * (q + 1) // 2, k) for k, q in enumerate(layout.sizes)]
        )
        #: which omega entries (the layouts of theta and omega match) have a standard error
        self.free_omega = np.append(~np.isin(term_of_theta, list(boundary_terms)), True)
        self.phi = np.append(self.theta_hat, np.sqrt(sigma2))

    @staticmethod
    def split(phi: np.ndarray) -> tuple[np.ndarray, float]:
        """theta and sigma^2 for a phi vector."""
        return np.asarray(phi[:-1], dtype=float), float(phi[-1]) ** 2

    def omega(self, phi: np.ndarray) -> np.ndarray:
        """The natural parameters (variances, covariances, residual variance) at phi."""
        theta, sigma2 = self.split(phi)
        covs = [sigma2 * rel for rel in self.layout.relative_covariances(theta)]
        return np.append(self.layout.covariance_entries(covs), sigma2)

    @property
    def steps(self) -> np.ndarray:
        """First Richardson steps for the Hessian in phi: a fraction of each coordinate,
        floored for theta in the scaled units (:meth:`CovarianceLayout.typical_theta`)."""
        typical = self.layout.typical_theta(self.phi[:-1], THETA_SCALE)
        return STEP_FRACTION * np.append(typical, self.phi[-1])

    def omega_jacobian(self) -> np.ndarray:
        """``d omega / d phi`` (rows: omega entries, columns: phi entries)."""
        return numdiff.richardson_jacobian(self.omega, self.phi).T


@dataclass(frozen=True)
class ParameterCovariance:
    """Covariance of phi and of omega, and the curvature they come from."""

    phi: np.ndarray
    omega: np.ndarray
    #: eigenvalues of the Hessian in phi (ascending); NaN when it could not be formed
    eigenvalues: np.ndarray

    @property
    def n_flat(self) -> int:
        """Directions of phi left out of ``2 H^+`` (eigenvalue at or below the tolerance)."""
        return int(np.sum(~(self.eigenvalues > EIGENVALUE_TOLERANCE)))


def _hessian_from_gradient(deviance: ProfiledDeviance, params: FitParameters) -> np.ndarray:
    """The Hessian in phi as central differences of the analytic gradient
    (:meth:`ProfiledDeviance.phi_gradient`): ``2 k`` gradient evaluations instead of
    Richardson's ``O(k^2)`` deviance evaluations, with steps of
    :func:`~mixnb.estimation.numdiff.step_sizes` (``1e-4`` of each coordinate, floored
    for theta in the scaled units as the Richardson steps are)."""
    steps = numdiff.step_sizes(params.steps / STEP_FRACTION)
    columns = []
    for i, h in enumerate(steps):
        e = np.zeros_like(params.phi)
        e[i] = h
        try:
            up = deviance.phi_gradient(params.phi + e)
            down = deviance.phi_gradient(params.phi - e)
        except (np.linalg.LinAlgError, ValueError):
            return np.full((len(steps), len(steps)), np.nan)
        columns.append((up - down) / (2.0 * h))
    hessian = np.array(columns)
    return 0.5 * (hessian + hessian.T)


def parameter_covariances(deviance: ProfiledDeviance, params: FitParameters) -> ParameterCovariance:
    """Covariance of phi (``2 H^+``) and of omega (delta method; boundary rows NaN)."""

    def deviance_at(phi: np.ndarray) -> float:
        theta, sigma2 = params.split(phi)
        try:
            return deviance.at_residual_variance(theta, sigma2)
        except (np.linalg.LinAlgError, ValueError):
            return np.nan

    k, n_omega = len(params.phi), len(params.free_omega)
    cov_phi = np.full((k, k), np.nan)
    cov_omega = np.full((n_omega, n_omega), np.nan)
    with threadpool_limits(limits=1, user_api="blas") if deviance.has_gradient else nullcontext():
        # one grouping factor: tiny products, where threaded BLAS only adds overhead
        if getattr(deviance, "has_gradient_parts", False):
            hessian = _hessian_from_gradient(deviance, params)
        else:
            hessian = numdiff.richardson_hessian(
                deviance_at, params.phi, r=RICHARDSON_ROUNDS, steps=params.steps
            )
    if not np.all(np.isfinite(hessian)):
        return ParameterCovariance(cov_phi, cov_omega, np.full(k, np.nan))
    values, vectors = np.linalg.eigh(0.5 * (hessian + hessian.T))
    keep = values > EIGENVALUE_TOLERANCE
    cov_phi = 2.0 * (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
    if keep.all():
        jac = params.omega_jacobian()[params.free_omega]
        free = params.free_omega
        cov_omega[np.ix_(free, free)] = jac @ cov_phi @ jac.T
    return ParameterCovariance(cov_phi, cov_omega, values)
