"""Asymptotic covariance of the covariance parameters.

The deviance is differentiated in the parameters the model is fitted in,

    phi = (theta, sigma^2),

where it is smooth everywhere (a correlation near +/-1 is no obstacle, unlike in the
variances and covariances themselves). Their covariance is ``2 H^-1``, ``H`` the Hessian
of the (not profiled) deviance or REML criterion at the estimates: the inverse of the
observed information. The natural parameters reported in tables,

    omega = (each term's variances then covariances, residual variance),

are a smooth function of phi, and at the maximum their covariance follows by the delta
method, ``J (2 H^-1) J'`` with ``J = d omega / d phi``: the same matrix a Hessian taken in
omega would give, without its numerical trouble near the boundary. Terms whose variance
sits on the boundary at zero have no such standard error (the estimate is not an
interior maximum): they are held fixed and reported as NaN.
"""

from __future__ import annotations

import numpy as np

from mixnb.estimation import numdiff
from mixnb.estimation.covariance import CovarianceLayout
from mixnb.estimation.deviance import ProfiledDeviance

#: Relative step of the finite differences in phi: large enough that rounding noise in
#: the deviance (about 1e-10 absolute) stays far below the O(step^2) truncation error.
RELATIVE_STEP = 1e-3


class FitParameters:
    """phi = (theta of the terms not on the boundary, sigma^2) around a fit.

    Parameters
    ----------
    layout
        The covariance layout of the model's random terms.
    theta, sigma2
        The estimates.
    fixed_terms
        Indices of terms kept at their estimated theta (terms on the boundary).
    """

    def __init__(
        self, layout: CovarianceLayout, theta: np.ndarray, sigma2: float, fixed_terms: list[int]
    ) -> None:
        self.layout = layout
        self.theta_hat = np.asarray(theta, dtype=float)
        self.fixed_terms = list(fixed_terms)
        term_of_theta = np.concatenate(
            [np.full(q * (q + 1) // 2, k) for k, q in enumerate(layout.sizes)]
        )
        #: which theta entries (and so which omega entries: the layouts match) vary
        self.free_theta = ~np.isin(term_of_theta, self.fixed_terms)
        self.phi = np.append(self.theta_hat[self.free_theta], sigma2)

    @property
    def free_omega(self) -> np.ndarray:
        """Which omega entries have a standard error (the residual variance always does)."""
        return np.append(self.free_theta, True)

    def split(self, phi: np.ndarray) -> tuple[np.ndarray, float]:
        """theta and sigma^2 for a phi vector."""
        theta = self.theta_hat.copy()
        theta[self.free_theta] = phi[:-1]
        return theta, float(phi[-1])

    def omega(self, phi: np.ndarray) -> np.ndarray:
        """The natural parameters (variances, covariances, residual variance) at phi."""
        theta, sigma2 = self.split(phi)
        covs = [sigma2 * rel for rel in self.layout.relative_covariances(theta)]
        return np.append(self.layout.covariance_entries(covs), sigma2)

    @property
    def steps(self) -> np.ndarray:
        """Finite-difference steps for phi: relative, floored at 0.1 in the scaled units of
        theta (:meth:`CovarianceLayout.typical_theta`)."""
        typical = self.layout.typical_theta(self.theta_hat, 0.1)[self.free_theta]
        scale = np.append(typical, self.phi[-1])
        return RELATIVE_STEP * scale

    def omega_jacobian(self) -> np.ndarray:
        """``d omega / d phi`` over the free entries (omega is quadratic in theta)."""
        columns = []
        for i, h in enumerate(self.steps):
            e = np.zeros_like(self.phi)
            e[i] = h
            columns.append((self.omega(self.phi + e) - self.omega(self.phi - e)) / (2 * h))
        return np.array(columns).T[self.free_omega]


def parameter_covariances(
    deviance: ProfiledDeviance, params: FitParameters
) -> tuple[np.ndarray, np.ndarray]:
    """Covariance of phi (``2 H^-1``) and of omega (delta method; boundary rows NaN)."""

    def deviance_at(phi: np.ndarray) -> float:
        theta, sigma2 = params.split(phi)
        return deviance.at_residual_variance(theta, sigma2)

    k, n_omega = len(params.phi), len(params.free_omega)
    cov_phi = np.full((k, k), np.nan)
    cov_omega = np.full((n_omega, n_omega), np.nan)
    try:
        hessian = numdiff.hessian(deviance_at, params.phi, params.steps)
        cov_phi = 2.0 * np.linalg.inv(hessian)
    except (np.linalg.LinAlgError, ValueError):
        return cov_phi, cov_omega  # no usable curvature: the standard errors stay NaN
    jac = params.omega_jacobian()
    free = params.free_omega
    cov_omega[np.ix_(free, free)] = jac @ cov_phi @ jac.T
    return cov_phi, cov_omega
