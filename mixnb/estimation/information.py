"""Asymptotic standard errors of the variance components.

The covariance parameters are taken on their natural scale,

    omega = (each term's variances and covariances, residual variance),

and their covariance matrix is ``2 H^-1``, where ``H`` is the Hessian of the
(not profiled) deviance or REML criterion in omega at the estimates: the inverse of
the observed information. Terms whose variance sits on the boundary at zero have no
such standard error (the estimate is not an interior maximum); they are held fixed
and reported as NaN.
"""

from __future__ import annotations

import numpy as np

from mixnb.estimation import numdiff
from mixnb.estimation.covariance import CovarianceLayout, entry_order
from mixnb.estimation.deviance import ProfiledDeviance

#: Relative step of the finite differences in omega: large enough that rounding noise in
#: the deviance (about 1e-10 absolute) stays far below the O(step^2) truncation error.
RELATIVE_STEP = 2e-3


def variance_parameter_covariance(
    deviance: ProfiledDeviance,
    theta: np.ndarray,
    sigma2: float,
    fixed_terms: list[int],
) -> np.ndarray:
    """Covariance matrix of omega; rows of ``fixed_terms``' entries are NaN."""
    layout = deviance.layout
    covs = [sigma2 * rel for rel in layout.relative_covariances(theta)]
    entries = layout.covariance_entries(covs)
    omega = np.append(entries, sigma2)
    term_of_entry = np.concatenate(
        [np.full(q * (q + 1) // 2, k) for k, q in enumerate(layout.sizes)]
    )
    free = np.append(~np.isin(term_of_entry, fixed_terms), True)
    theta_slices = layout.slices()

    def deviance_at(x: np.ndarray) -> float:
        full = omega.copy()
        full[free] = x
        new_covs = layout.covariances_from_entries(full[:-1])
        new_theta = theta.copy()
        for k, sl in enumerate(theta_slices):
            if k not in fixed_terms:
                new_theta[sl] = layout.factor_entries(new_covs[k], full[-1])
        return deviance.at_residual_variance(new_theta, full[-1])

    scale = _entry_scales(layout, covs, sigma2)
    h = numdiff.hessian(deviance_at, omega[free], RELATIVE_STEP * scale[free])
    out = np.full((len(omega), len(omega)), np.nan)
    out[np.ix_(free, free)] = 2.0 * np.linalg.inv(h)
    return out


def _entry_scales(layout: CovarianceLayout, covs: list[np.ndarray], sigma2: float) -> np.ndarray:
    """A natural size for each omega entry: the variance, or sqrt(var_i var_j) for a covariance."""
    scales = []
    for cov in covs:
        rows, cols = entry_order(cov)
        sd = np.sqrt(np.diag(cov))
        scales.append(np.maximum(sd[rows] * sd[cols], 1e-12 * sigma2))
    return np.append(np.concatenate(scales), sigma2)
