"""The profiled deviance of a linear mixed model (Bates et al., JSS 2015, section 3).

Given theta, the random effects absorb part of the cross-products of ``[X y]``
(:mod:`mixnb.estimation.pls`); what is left gives the fixed effects by a small
Cholesky factorisation ``RX`` and the penalised residual sum of squares ``pwrss``.
The fixed effects and the residual variance are then profiled out, leaving a
function of theta alone:

    ML:    log|A| + n * (1 + log(2 pi pwrss / n))
    REML:  log|A| + log|RX'RX| + (n - p) * (1 + log(2 pi pwrss / (n - p)))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from mixnb.estimation.pls import FixedCrossproducts, RandomEffectsSystem

LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class ProfiledState:
    """Every quantity of the profiled deviance at one theta."""

    theta: np.ndarray
    logdet_a: float
    logdet_rx: float
    pwrss: float
    beta: np.ndarray
    rx_low: np.ndarray
    n: int
    p: int
    reml: bool

    @property
    def denominator_df(self) -> int:
        """``n - p`` for REML, ``n`` for ML: what the residual variance is divided by."""
        return self.n - self.p if self.reml else self.n

    @property
    def sigma2(self) -> float:
        """The profiled residual variance."""
        return self.pwrss / self.denominator_df

    @property
    def logdet(self) -> float:
        """``log|A|`` plus, for REML, ``log|RX'RX|``."""
        return self.logdet_a + (self.logdet_rx if self.reml else 0.0)

    @property
    def objective(self) -> float:
        """The profiled deviance (ML) or REML criterion."""
        dof = self.denominator_df
        return self.logdet + dof * (1.0 + LOG_2PI + math.log(self.pwrss / dof))

    def vcov_beta(self) -> np.ndarray:
        """Covariance of the fixed effects, ``sigma^2 (RX'RX)^-1``."""
        if self.p == 0:
            return np.zeros((0, 0))
        inv = scipy.linalg.cho_solve((self.rx_low, True), np.eye(self.p))
        return self.sigma2 * inv


class ProfiledDeviance:
    """The deviance as a function of theta, and of (theta, sigma^2) without profiling."""

    def __init__(self, system: RandomEffectsSystem, fixed: FixedCrossproducts, reml: bool) -> None:
        self.system = system
        self.fixed = fixed
        self.reml = reml

    @property
    def layout(self):
        return self.system.layout

    def state(self, theta: np.ndarray) -> ProfiledState:
        """Solve the penalised least-squares problem at ``theta``."""
        theta = np.asarray(theta, dtype=float)
        absorbed = self.system.absorb(theta)
        # a system may work with the response shifted by a fixed fit (y - X b0, see
        # mixnb.estimation.blocked): its cross-products then replace ours, and beta = beta' + b0
        fx = getattr(self.system, "shifted_fixed", self.fixed)
        s = absorbed.s
        p = fx.p
        rx_low = scipy.linalg.cholesky(fx.xtx - s[:p, :p], lower=True) if p else np.zeros((0, 0))
        if p:
            c_beta = scipy.linalg.solve_triangular(rx_low, fx.xty - s[:p, p], lower=True)
            beta = scipy.linalg.solve_triangular(rx_low, c_beta, lower=True, trans="T")
        else:
            c_beta = beta = np.zeros(0)
        pwrss = fx.yty - s[p, p] - float(c_beta @ c_beta)
        if fx is not self.fixed:
            beta = beta + self.system.response_shift
        logdet_rx = 2.0 * float(np.log(np.diag(rx_low)).sum()) if p else 0.0
        return ProfiledState(
            theta=theta,
            logdet_a=absorbed.logdet,
            logdet_rx=logdet_rx,
            pwrss=pwrss,
            beta=beta,
            rx_low=rx_low,
            n=fx.n,
            p=p,
            reml=self.reml,
        )

    def __call__(self, theta: np.ndarray) -> float:
        """The profiled objective; ``inf`` where the system cannot be solved."""
        try:
            st = self.state(theta)
        except (np.linalg.LinAlgError, ValueError):
            return math.inf
        if not st.pwrss > 0:
            return math.inf
        return st.objective

    @property
    def has_gradient(self) -> bool:
        """Whether :meth:`value_and_gradient` is analytic for this model's random terms."""
        return hasattr(self.system, "deviance_gradient")

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The profiled objective and its analytic gradient in theta (one factorisation)."""
        theta = np.asarray(theta, dtype=float)
        try:
            st = self.state(theta)
        except (np.linalg.LinAlgError, ValueError):
            return math.inf, np.zeros_like(theta)
        if not st.pwrss > 0:
            return math.inf, np.zeros_like(theta)
        xtvx_inv = (
            scipy.linalg.cho_solve((st.rx_low, True), np.eye(st.p)) if self.reml and st.p else None
        )
        grad = self.system.deviance_gradient(theta, st.beta, st.pwrss, st.denominator_df, xtvx_inv)
        return st.objective, grad

    @property
    def has_gradient_parts(self) -> bool:
        """Whether the system gives the parts of the gradient separately (the blocked
        system), so that :meth:`phi_gradient` is analytic."""
        return hasattr(self.system, "gradient_parts")

    def phi_gradient(self, phi: np.ndarray) -> np.ndarray:
        """Gradient of :meth:`at_residual_variance` in ``phi = (theta, sigma)``.

        In theta: ``d logdet + d pwrss / sigma^2`` (the fixed effects at their optimum, so
        only the explicit dependence counts); in sigma:
        ``2 dof / sigma - 2 pwrss / sigma^3``.
        """
        phi = np.asarray(phi, dtype=float)
        theta, sigma = phi[:-1], float(phi[-1])
        st = self.state(theta)
        xtvx_inv = (
            scipy.linalg.cho_solve((st.rx_low, True), np.eye(st.p)) if self.reml and st.p else None
        )
        logdet, dpwrss, reml = self.system.gradient_parts(theta, st.beta, xtvx_inv)
        g_theta = logdet + dpwrss / sigma**2 + reml
        g_sigma = 2.0 * st.denominator_df / sigma - 2.0 * st.pwrss / sigma**3
        return np.append(g_theta, g_sigma)

    def at_residual_variance(self, theta: np.ndarray, sigma2: float) -> float:
        """``-2 log L`` (or the REML criterion) at given theta and residual variance.

        Not profiled over ``sigma^2``; the fixed effects are still at their optimum
        given the covariance parameters. This is the function whose Hessian in the
        variance parameters gives their asymptotic standard errors.
        """
        st = self.state(theta)
        dof = st.denominator_df
        return st.logdet + dof * (LOG_2PI + math.log(sigma2)) + st.pwrss / sigma2
