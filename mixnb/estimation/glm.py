"""Generalised linear models by iteratively reweighted least squares (R's ``glm.fit``).

The traditional logistic or Poisson regression that ignores the grouping: the seed's
"traditional model" beside the hierarchical one (section 10). Each iteration solves the
weighted least-squares problem of the working response ``z = eta + (y - mu) / mu'(eta)``
with weights ``w mu'(eta)^2 / V(mu)`` by QR; a step that makes the deviance non-finite or
larger is halved (as ``glm.fit`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from mixnb.families import Family

MAX_ITERATIONS = 100
#: Convergence: relative change of the deviance, ``|dev - old| / (|dev| + 0.1)``
#: (R's criterion, with a tighter default than its 1e-8).
TOLERANCE = 1e-12
#: Fitted probabilities this close to 0 or 1 signal (quasi-)separation.
BOUNDARY_PROBABILITY = 1e-8


@dataclass(frozen=True)
class GlmEstimates:
    """Where IRLS stopped: coefficients, their covariance and the fit's deviance."""

    beta: np.ndarray
    vcov_beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    deviance: float
    null_deviance: float
    loglik: float
    dispersion: float
    df_resid: int
    iterations: int
    converged: bool
    problems: list[str] = field(default_factory=list)


def _wls(x: np.ndarray, z: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares by QR: the coefficients and the R factor."""
    root = np.sqrt(w)
    q, r = np.linalg.qr(x * root[:, None])
    return scipy.linalg.solve_triangular(r, q.T @ (z * root)), r


def fit_glm(
    x: np.ndarray,
    y: np.ndarray,
    family: Family,
    *,
    weights: np.ndarray | None = None,
    offset: np.ndarray | None = None,
    max_iterations: int = MAX_ITERATIONS,
    tol: float = TOLERANCE,
) -> GlmEstimates:
    """Fit ``g(E y) = x beta + offset`` for a full-rank ``x``.

    ``weights`` are prior weights (for a binomial response of proportions, the numbers of
    trials). The dispersion is 1 for the binomial and Poisson families and the Pearson
    estimate ``sum w (y - mu)^2 / V(mu) / (n - p)`` for the Gaussian one.
    """
    n, p = x.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    link = family.link
    beta, eta, converged, problems, iterations = _irls(x, y, family, w, off, max_iterations, tol)
    mu = link.inverse(eta)
    d = link.mu_eta(eta)
    _, r = _wls(x, eta, w * d * d / family.variance(mu))
    r_inv = scipy.linalg.solve_triangular(r, np.eye(p))
    df_resid = n - p
    if family.scale_fixed:
        dispersion = 1.0
    else:
        pearson = float(np.sum(w * (y - mu) ** 2 / family.variance(mu)))
        dispersion = pearson / df_resid if df_resid > 0 else float("nan")
    if family.name == "binomial" and np.any(
        (mu < BOUNDARY_PROBABILITY) | (mu > 1 - BOUNDARY_PROBABILITY)
    ):
        problems.append("fitted_probability_boundary")
    has_intercept = bool(np.any(np.all(x == x[0], axis=0) & (x[0] != 0)))
    if has_intercept:
        null_eta = _irls(np.ones((n, 1)), y, family, w, off, max_iterations, tol)[1]
    else:
        null_eta = off
    return GlmEstimates(
        beta=beta,
        vcov_beta=dispersion * (r_inv @ r_inv.T),
        eta=eta,
        mu=mu,
        deviance=_deviance(y, w, eta, family),
        null_deviance=_deviance(y, w, null_eta, family),
        loglik=family.log_likelihood(y, mu, weights),
        dispersion=dispersion,
        df_resid=df_resid,
        iterations=iterations,
        converged=converged,
        problems=problems,
    )


def _deviance(y: np.ndarray, w: np.ndarray, eta: np.ndarray, family: Family) -> float:
    """The deviance at linear predictor ``eta``; ``inf`` where it is not finite."""
    with np.errstate(all="ignore"):
        value = float(np.sum(w * family.unit_deviance(y, family.link.inverse(eta))))
    return value if np.isfinite(value) else np.inf


def _irls(
    x: np.ndarray,
    y: np.ndarray,
    family: Family,
    w: np.ndarray,
    off: np.ndarray,
    max_iterations: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, bool, list[str], int]:
    """IRLS with step halving: coefficients, linear predictor, convergence, problems and
    the number of iterations."""
    link = family.link
    mu = (w * y + 0.5) / (w + 1) if family.name == "binomial" else family.start(y)
    eta = link.link(mu)
    beta = np.zeros(x.shape[1])
    old = np.inf
    converged, problems, iterations = False, [], 0
    for iteration in range(1, max_iterations + 1):
        iterations = iteration
        mu = link.inverse(eta)
        d = link.mu_eta(eta)
        working_weights = w * d * d / family.variance(mu)
        trial, _ = _wls(x, eta - off + (y - mu) / d, working_weights)
        trial_eta = x @ trial + off
        dev = _deviance(y, w, trial_eta, family)
        halvings = 0
        while not dev <= old * (1 + 1e-12) + 1e-12 and halvings < 30:
            trial = 0.5 * (trial + beta)
            trial_eta = x @ trial + off
            dev = _deviance(y, w, trial_eta, family)
            halvings += 1
        if not np.isfinite(dev):
            problems.append("diverged")
            break
        beta, eta = trial, trial_eta
        if abs(dev - old) / (abs(dev) + 0.1) < tol:
            converged = True
            break
        old = dev
    else:
        problems.append("iteration_limit")
    return beta, eta, converged, problems, iterations
