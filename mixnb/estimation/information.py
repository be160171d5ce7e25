"""The covariance parameters on their natural scale, and their asymptotic covariance.

The natural parameters are

    omega = (each term's variances then covariances, residual variance),

the quantities a table of variance components reports. Their covariance matrix is
``2 H^-1``, where ``H`` is the Hessian of the (not profiled) deviance or REML criterion
in omega at the estimates: the inverse of the observed information. Terms whose variance
sits on the boundary at zero have no such standard error (the estimate is not an interior
maximum); they are held fixed and reported as NaN.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from mixnb.estimation import numdiff
from mixnb.estimation.covariance import CovarianceLayout, entry_order
from mixnb.estimation.deviance import ProfiledDeviance

#: Relative step of the finite differences in omega: large enough that rounding noise in
#: the deviance (about 1e-10 absolute) stays far below the O(step^2) truncation error.
RELATIVE_STEP = 2e-3


class NaturalParameters:
    """The map between omega and theta around a fit, with boundary terms held fixed.

    Parameters
    ----------
    layout
        The covariance layout of the model's random terms.
    theta, sigma2
        The estimates around which omega moves.
    fixed_terms
        Indices of terms kept at their estimated theta (terms on the boundary).
    """

    def __init__(
        self, layout: CovarianceLayout, theta: np.ndarray, sigma2: float, fixed_terms: list[int]
    ) -> None:
        self.layout = layout
        self.theta_hat = np.asarray(theta, dtype=float)
        self.fixed_terms = list(fixed_terms)
        covs = [sigma2 * rel for rel in layout.relative_covariances(self.theta_hat)]
        self.covariances = covs
        self.omega = np.append(layout.covariance_entries(covs), sigma2)
        term_of_entry = np.concatenate(
            [np.full(q * (q + 1) // 2, k) for k, q in enumerate(layout.sizes)]
        )
        #: which omega entries vary (not in a boundary term); the residual always does
        self.free = np.append(~np.isin(term_of_entry, self.fixed_terms), True)

    def theta(self, omega: np.ndarray) -> np.ndarray:
        """Theta for a full omega vector (boundary terms keep their estimated theta)."""
        covs = self.layout.covariances_from_entries(omega[:-1])
        theta = self.theta_hat.copy()
        for k, sl in enumerate(self.layout.slices()):
            if k not in self.fixed_terms:
                theta[sl] = self.layout.factor_entries(covs[k], omega[-1])
        return theta

    def full(self, free_values: np.ndarray) -> np.ndarray:
        """Omega with the free entries replaced by ``free_values``."""
        out = self.omega.copy()
        out[self.free] = free_values
        return out

    @cached_property
    def steps(self) -> np.ndarray:
        """Finite-difference steps for the free entries, relative to each entry's scale."""
        scales = []
        for cov in self.covariances:
            rows, cols = entry_order(cov)
            sd = np.sqrt(np.diag(cov))
            scales.append(np.maximum(sd[rows] * sd[cols], 1e-12 * self.omega[-1]))
        scale = np.append(np.concatenate(scales), self.omega[-1])
        return RELATIVE_STEP * scale[self.free]


def variance_parameter_covariance(
    deviance: ProfiledDeviance, params: NaturalParameters
) -> np.ndarray:
    """Covariance matrix of omega (``2 H^-1``); rows of boundary terms' entries are NaN."""

    def deviance_at(x: np.ndarray) -> float:
        omega = params.full(x)
        return deviance.at_residual_variance(params.theta(omega), omega[-1])

    n = len(params.omega)
    out = np.full((n, n), np.nan)
    try:
        h = numdiff.hessian(deviance_at, params.omega[params.free], params.steps)
        out[np.ix_(params.free, params.free)] = 2.0 * np.linalg.inv(h)
    except np.linalg.LinAlgError:
        pass  # no usable curvature: the standard errors stay NaN
    return out
