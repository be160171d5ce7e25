"""The Laplace approximation to a GLMM's deviance, and the one log-likelihood scale.

At the conditional modes ``u`` (:func:`mixnb.estimation.pirls.pirls`), with ``L`` the
Cholesky factor of ``Lambda' Z' W Z Lambda + I`` (``W`` the working weights there), the
Laplace approximation to minus twice the log-likelihood is

    -2 log L(theta, beta) = sum_i w_i d(y_i, mu_i) + ||u||^2 + log det(L)^2 - 2 c,

(Bates et al., lme4's ``glmer``; Pinheiro and Chao 2006). ``d`` is the unit deviance and
``c = sum_i log p(y_i | mu_i = y_i)`` the log-likelihood of the saturated model, a
constant of the data: ``log p(y_i | mu_i) = c_i - w_i d(y_i, mu_i) / 2``.

**One scale for every nagq.** mixnb's log-likelihood always includes ``c`` (the full
log density, binomial coefficients and ``log y!`` included), for the Laplace fit and for
every number of quadrature points, so likelihood-ratio tests and AIC compare across
them. lme4's ``glmer`` includes ``c`` for ``nAGQ = 1`` but not for ``nAGQ > 1`` (lme4
issue #161); :func:`saturated_loglik` is what separates the two scales.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from mixnb.estimation.pirls import Mode
from mixnb.families import Family


def laplace_deviance(mode: Mode) -> float:
    """``sum w d(y, mu) + ||u||^2 + log det(L)^2`` at the conditional modes (without ``c``)."""
    return mode.penalized_deviance + mode.factor.logdet()


def saturated_loglik(family: Family, y: np.ndarray, weights: np.ndarray) -> float:
    """``c = sum_i log p(y_i | mu_i = y_i)``, so that ``log p(y | mu) = c - deviance / 2``.

    Binomial proportions ``y`` of ``w`` trials: ``log C(w, w y)`` plus the saturated
    terms; Poisson counts (prior weights multiply the log density, as R's ``aic``):
    ``w (y log y - y - log y!)``.
    """
    if family.name == "binomial":
        k = weights * y
        choose = (
            special.gammaln(weights + 1) - special.gammaln(k + 1) - special.gammaln(weights - k + 1)
        )
        return float(np.sum(choose + special.xlogy(k, y) + special.xlogy(weights - k, 1 - y)))
    if family.name == "poisson":
        return float(np.sum(weights * (special.xlogy(y, y) - y - special.gammaln(y + 1))))
    raise ValueError(f"no saturated log-likelihood for the {family.name} family")


def loglik_from_deviance(deviance: float, saturated: float) -> float:
    """The log-likelihood from a deviance on the deviance-residual scale."""
    return saturated - deviance / 2.0


#: Links for which Fisher scoring's weights are the observed information (the canonical
#: ones): there the analytic gradient below is exact.
CANONICAL = {("binomial", "logit"), ("poisson", "log")}


def has_laplace_gradient(family: Family, structure) -> bool:
    """Whether :func:`laplace_gradient` applies (canonical link, a structure that has it)."""
    return (family.name, family.link.name) in CANONICAL and bool(structure.has_gradient)


def laplace_gradient(
    resp, structure, theta: np.ndarray, mode: Mode
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of :func:`laplace_deviance` in ``theta`` and ``beta`` (canonical links).

    With ``A = Z Lambda``, ``H = A' W A + I`` at the modes ``u``, scores ``r``, leverages
    ``l_i = a_i' H^-1 a_i``, ``c = W'(eta) * l`` and ``s = H^-1 A' c``; ``u`` moves with
    the parameters (``du = H^-1 (...)`` from ``A' r = u``) but the penalised deviance is
    stationary in it, so only ``log det H`` sees that move:

        d/d beta    = -2 X' r + X' c - X' W A s
        d/d theta_k = sum_(a,b) [Z'(c - 2 r - W A s)]_a u_b + [Z' r]_a s_b
                      + 2 tr(H^-1 Lambda' Z' W Z E_k),

    the sums running over the entries ``(a, b)`` of Lambda that ``theta_k`` fills
    (``E_k`` their pattern).
    """
    family = resp.family
    mu, eta = mode.mu, mode.eta
    w = mode.weights
    # W = w V(mu) for a canonical link, so dW/deta = w V'(mu) dmu/deta
    v_prime = 1 - 2 * mu if family.name == "binomial" else np.ones_like(mu)
    w_prime = resp.weights * v_prime * family.link.mu_eta(eta)
    _, r = resp.working(eta, mu)
    fact, zl = mode.factor, mode.zl
    c = w_prime * structure.leverages(zl, fact)
    s = fact.solve(structure.project(zl, c))
    was = w * structure.linear(zl, s)
    g_beta = resp.x.T @ (c - 2 * r - was)
    g_theta = (
        structure.pair_sums(structure.z_transpose(c - 2 * r - was), mode.u)
        + structure.pair_sums(structure.z_transpose(r), s)
        + 2 * structure.trace_terms(theta, w, fact)
    )
    return g_theta, g_beta
