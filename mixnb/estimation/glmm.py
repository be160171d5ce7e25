"""Fit a GLMM by maximum likelihood: lme4's two stages behind the objective protocol.

1. **Stage 0** (:class:`StageZeroObjective`, lme4's ``nAGQ = 0``): minimise the Laplace
   deviance over theta alone, with ``beta`` updated together with ``u`` inside PIRLS
   (:func:`~mixnb.estimation.pirls.pirls_joint`). Fast and close.
2. **Full fit** (:class:`GlmmObjective`): minimise the Laplace (``nagq = 1``) or adaptive
   quadrature (``nagq > 1``) deviance over ``(theta, beta)`` from stage 0's optimum,
   PIRLS updating ``u`` alone, warm-started from the previous evaluation's modes.

Both objectives present scaled parameters: theta in the units of the scaled random-effect
columns (:mod:`mixnb.estimation.covariance`) and ``beta_j`` times the scale of ``X``'s
column ``j``. ``vcov(beta)`` is twice the inverse Hessian of the deviance in
``(theta, beta)`` (lme4's default ``use.hessian = TRUE``), its ``beta`` block; for
``nagq = 0`` it is PIRLS's ``(R_X' R_X)^-1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from mixnb.estimation import numdiff
from mixnb.estimation.covariance import column_scales
from mixnb.estimation.laplace import (
    has_laplace_gradient,
    laplace_deviance,
    laplace_gradient,
    loglik_from_deviance,
    saturated_loglik,
)
from mixnb.estimation.optimize import BOUNDARY_TOLERANCE, minimize_objective
from mixnb.estimation.pirls import Mode, Response, pirls, pirls_joint
from mixnb.estimation.quadrature import NestedTree, agq_deviance, nested_agq_deviance

#: PIRLS tolerance on the largest step for the Hessian's evaluations (its differences
#: divide the objective's noise by the step squared).
HESSIAN_PIRLS_TOLERANCE = 1e-13


@dataclass(frozen=True)
class GlmmEstimates:
    """The numbers of a fitted GLMM, as plain arrays."""

    nagq: int
    theta: np.ndarray
    beta: np.ndarray
    vcov_beta: np.ndarray
    #: minus twice the log-likelihood without the saturated constant (glmer's objective
    #: scale for nAGQ > 1)
    deviance: float
    #: the saturated log-likelihood ``c`` (:mod:`mixnb.estimation.laplace`)
    saturated: float
    covariances: list[np.ndarray]
    modes: list[np.ndarray]
    conditional_covariances: dict[str, np.ndarray]
    singular_terms: list[int]
    converged: bool
    n_evaluations: int
    eta: np.ndarray
    mu: np.ndarray
    u: np.ndarray
    problems: list[str] = field(default_factory=list)
    #: where the full fit started: stage 0's (nAGQ = 0) optimum, or, when the Laplace
    #: deviance has its analytic gradient and stage 0 is skipped, lme4's start and the GLM
    stage0_theta: np.ndarray | None = None
    stage0_beta: np.ndarray | None = None

    @property
    def loglik(self) -> float:
        """The log-likelihood on the one mixnb scale (saturated constant included)."""
        return loglik_from_deviance(self.deviance, self.saturated)

    @property
    def n_parameters(self) -> int:
        return len(self.theta) + len(self.beta)


class GlmmProblem:
    """A GLMM's data and random-effects structure, and its deviance at ``(theta, beta)``."""

    def __init__(self, resp: Response, structure, nagq: int = 1) -> None:
        self.resp = resp
        self.structure = structure
        self.layout = structure.layout
        self.nagq = int(nagq)
        self.tree = None
        if self.nagq > 1 and not structure.grouped:
            self.tree = NestedTree.detect(structure)
        self.theta_scale = self.layout.theta_scale
        self.beta_scale = column_scales(resp.x) if resp.x.shape[1] else np.ones(0)
        self.u = structure.zeros()
        self.saturated = saturated_loglik(resp.family, resp.y, resp.weights)

    def mode(self, theta: np.ndarray, beta: np.ndarray, tol: float | None = None) -> Mode:
        """PIRLS at ``(theta, beta)``, warm-started from the last modes."""
        kwargs = {} if tol is None else {"tol": tol}
        mode = pirls(self.resp, self.structure, theta, beta, self.u, **kwargs)
        if np.all(np.isfinite(mode.u)):
            self.u = mode.u
        return mode

    def deviance_at(self, theta: np.ndarray, mode: Mode) -> float:
        """Minus twice the log-likelihood (deviance-residual scale) at the modes ``mode``."""
        if self.nagq <= 1:
            return laplace_deviance(mode)
        if self.structure.grouped:
            return agq_deviance(self.resp, self.structure, theta, mode, self.nagq)
        return nested_agq_deviance(self.resp, self.tree, theta, mode, self.nagq)

    def deviance(self, theta: np.ndarray, beta: np.ndarray, tol: float | None = None) -> float:
        mode = self.mode(theta, beta, tol)
        value = self.deviance_at(theta, mode)
        return value if np.isfinite(value) else np.inf

    def initial_beta(self) -> np.ndarray:
        """A GLM fit without random effects (PIRLS with theta = 0), lme4's start for beta."""
        if getattr(self, "_glm_beta", None) is None:
            self._glm_beta = self._glm()
        return self._glm_beta

    def glm_fitted_extreme(self) -> bool:
        """Whether the GLM without random effects has fitted means numerically at their
        bounds (0 or 1; 0 for counts): the sign of a separation worth the linear
        programme of :mod:`mixnb.estimation.separation`."""
        resp = self.resp
        mu = resp.mean(resp.x @ self.initial_beta() + resp.offset)
        low = mu < 1e-6 if resp.family.name == "binomial" else mu < 1e-8
        return bool(np.any(low) or (resp.family.name == "binomial" and np.any(mu > 1 - 1e-6)))

    def _glm(self) -> np.ndarray:
        resp = self.resp
        eta0 = resp.family.link.link(resp.family.start(resp.y))
        mu0 = resp.mean(eta0)
        w, r = resp.working(eta0, mu0)
        z = eta0 - resp.offset + r / np.maximum(w, 1e-300)
        xw = resp.x * w[:, None]
        beta0 = np.linalg.lstsq(xw.T @ resp.x, xw.T @ z, rcond=None)[0]
        mode, _ = pirls_joint(resp, self.structure, np.zeros(self.layout.n_theta), beta0)
        return mode.beta


class StageZeroObjective:
    """The Laplace deviance over scaled theta, ``beta`` profiled inside PIRLS (nAGQ = 0)."""

    has_gradient = False

    def __init__(self, problem: GlmmProblem) -> None:
        self.problem = problem
        self.n_parameters = problem.layout.n_theta
        self.beta = problem.initial_beta()
        self.schur: np.ndarray | None = None

    def initial(self) -> np.ndarray:
        return self.problem.layout.initial_theta()

    def lower_bounds(self) -> np.ndarray:
        return self.problem.layout.lower_bounds()

    def joint_mode(self, x: np.ndarray) -> tuple[Mode, np.ndarray]:
        p = self.problem
        mode, schur = pirls_joint(p.resp, p.structure, x / p.theta_scale, self.beta, p.u)
        if np.all(np.isfinite(mode.u)) and np.all(np.isfinite(mode.beta)):
            p.u, self.beta = mode.u, mode.beta
        return mode, schur

    def value(self, x: np.ndarray) -> float:
        mode, _ = self.joint_mode(x)
        value = laplace_deviance(mode)
        return value if np.isfinite(value) else np.inf

    def value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError("the stage-0 objective has no analytic gradient")


class GlmmObjective:
    """The Laplace or AGQ deviance over ``(scaled theta, scaled beta)``.

    The Laplace deviance of a canonical-link model has an analytic gradient
    (:func:`~mixnb.estimation.laplace.laplace_gradient`); the others are differenced.
    """

    def __init__(self, problem: GlmmProblem, theta0: np.ndarray, beta0: np.ndarray) -> None:
        self.problem = problem
        self.has_gradient = problem.nagq == 1 and has_laplace_gradient(
            problem.resp.family, problem.structure
        )
        self.n_theta = problem.layout.n_theta
        self.n_parameters = self.n_theta + len(beta0)
        self.start = np.concatenate([theta0 * problem.theta_scale, beta0 * problem.beta_scale])

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.problem
        return x[: self.n_theta] / p.theta_scale, x[self.n_theta :] / p.beta_scale

    def initial(self) -> np.ndarray:
        return self.start.copy()

    def lower_bounds(self) -> np.ndarray:
        beta = np.full(self.n_parameters - self.n_theta, -np.inf)
        return np.concatenate([self.problem.layout.lower_bounds(), beta])

    def value(self, x: np.ndarray, tol: float | None = None) -> float:
        theta, beta = self.split(x)
        return self.problem.deviance(theta, beta, tol)

    def value_and_gradient(
        self, x: np.ndarray, tol: float | None = None
    ) -> tuple[float, np.ndarray]:
        theta, beta = self.split(x)
        p = self.problem
        mode = p.mode(theta, beta, tol)
        value = laplace_deviance(mode)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(x)
        g_theta, g_beta = laplace_gradient(p.resp, p.structure, theta, mode)
        return value, np.concatenate([g_theta / p.theta_scale, g_beta / p.beta_scale])


def fit_glmm(problem: GlmmProblem) -> GlmmEstimates:
    """Estimate a GLMM: stage 0, then (for ``nagq >= 1``) the full fit.

    BLAS runs on one thread: the work per evaluation is vectorised arithmetic and small
    factorisations, where threads only add overhead (and contend on a busy machine).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit(problem)


def _fit(problem: GlmmProblem) -> GlmmEstimates:
    if problem.nagq == 1 and has_laplace_gradient(problem.resp.family, problem.structure):
        # With the analytic gradient the full fit starts well from lme4's theta and the
        # GLM's beta; stage 0 (differenced) would cost more than it saves.
        start = problem.layout.initial_theta() / problem.theta_scale  # identity, scaled units
        return _full_fit(problem, start, problem.initial_beta(), 0)
    stage0 = StageZeroObjective(problem)
    found0 = minimize_objective(stage0)
    mode0, schur = stage0.joint_mode(found0.theta)
    theta0 = found0.theta / problem.theta_scale
    beta0 = mode0.beta
    if problem.nagq == 0:
        try:
            vcov = np.linalg.inv(schur)
        except np.linalg.LinAlgError:
            vcov = np.full_like(schur, np.nan)
        return _estimates(
            problem, theta0, beta0, vcov, laplace_deviance(mode0), found0, mode0, theta0, beta0
        )
    return _full_fit(problem, theta0, beta0, found0.n_evaluations)


def _full_fit(problem: GlmmProblem, theta0, beta0, n_before: int) -> GlmmEstimates:
    """Stage 2: the deviance over (theta, beta) from ``(theta0, beta0)``."""
    objective = GlmmObjective(problem, theta0, beta0)
    found = minimize_objective(objective)
    theta, beta = objective.split(found.theta)
    vcov = _vcov_from_hessian(objective, found.theta)
    mode = problem.mode(theta, beta, HESSIAN_PIRLS_TOLERANCE)
    deviance = problem.deviance_at(theta, mode)
    return _estimates(
        problem,
        theta,
        beta,
        vcov,
        deviance,
        found,
        mode,
        theta0,
        beta0,
        n_evaluations=found.n_evaluations + n_before,
    )


def _vcov_from_hessian(objective: GlmmObjective, x: np.ndarray) -> np.ndarray:
    """``2 H^-1``'s ``beta`` block, ``H`` the deviance's Hessian in ``(theta, beta)``.

    A theta entry on its boundary (a zero variance) is held there: the Hessian is that of
    the free parameters.
    """
    lower = objective.lower_bounds()
    free = ~(np.isfinite(lower) & (x <= lower + BOUNDARY_TOLERANCE))
    idx = np.flatnonzero(free)
    steps = 1e-4 * np.maximum(np.abs(x[idx]), 0.1)

    def f(sub: np.ndarray) -> float:
        full = x.copy()
        full[idx] = sub
        return objective.value(full, tol=HESSIAN_PIRLS_TOLERANCE)

    if objective.has_gradient:
        # central differences of the analytic gradient: 2k evaluations instead of ~2k^2
        columns = []
        for i, step in zip(idx, steps):
            e = np.zeros_like(x)
            e[i] = step
            up = objective.value_and_gradient(x + e, tol=HESSIAN_PIRLS_TOLERANCE)[1]
            down = objective.value_and_gradient(x - e, tol=HESSIAN_PIRLS_TOLERANCE)[1]
            columns.append((up - down)[idx] / (2 * step))
        h = np.array(columns)
        h = 0.5 * (h + h.T)
    else:
        h = numdiff.hessian(f, x[idx], steps)
    try:
        cov = 2.0 * np.linalg.inv(h)
    except np.linalg.LinAlgError:
        cov = np.full_like(h, np.nan)
    nt = objective.n_theta
    beta_pos = [k for k, i in enumerate(idx) if i >= nt]
    v = cov[np.ix_(beta_pos, beta_pos)]
    s = objective.problem.beta_scale
    return v / np.outer(s, s)


def _estimates(
    problem, theta, beta, vcov, deviance, found, mode, theta0, beta0, n_evaluations=None
) -> GlmmEstimates:
    layout = problem.layout
    scaled = layout.to_scaled(theta)
    singular = [
        k
        for k, lam in enumerate(layout.factors(scaled))
        if np.any(np.diag(lam) < BOUNDARY_TOLERANCE)
    ]
    structure = problem.structure
    problems = list(found.problems)
    if not mode.converged:
        problems.append("pirls_not_converged")
    return GlmmEstimates(
        nagq=problem.nagq,
        theta=theta,
        beta=beta,
        vcov_beta=vcov,
        deviance=float(deviance),
        saturated=problem.saturated,
        covariances=layout.relative_covariances(theta),
        modes=structure.modes(theta, mode.u),
        conditional_covariances=structure.conditional_covariances(theta, mode.factor),
        singular_terms=singular,
        converged=found.converged and mode.converged,
        n_evaluations=found.n_evaluations if n_evaluations is None else n_evaluations,
        eta=mode.eta,
        mu=mode.mu,
        u=mode.u,
        problems=problems,
        stage0_theta=theta0,
        stage0_beta=beta0,
    )
