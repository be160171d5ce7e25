"""Minimise an objective (the profiled deviance, or any family's) and check the optimum.

L-BFGS-B (bounded quasi-Newton with central-difference gradients) does the search;
a Newton step on a finite-difference Hessian then polishes the free coordinates and
gives lme4's convergence check: the gradient, scaled by the inverse Hessian, must be
negligible, and the Hessian must be positive definite.

:func:`minimize_objective` drives any :class:`~mixnb.estimation.objective.Objective`
(a GLMM's deviance, a GEE criterion); :func:`minimize_deviance` hands it the profiled
deviance on the scaled parameters ``x = theta * d`` (the random-effect columns in units of
their scale, :mod:`mixnb.estimation.covariance`), where the tolerances are meant, and maps
the result back to theta.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from mixnb.estimation import numdiff
from mixnb.estimation.deviance import ProfiledDeviance
from mixnb.estimation.objective import Objective, ScaledDeviance
from mixnb.estimation.problem_codes import problem

#: A diagonal entry of the scaled factor at or below this is on its boundary (lme4's
#: isSingular, judged in the units of the scaled columns).
BOUNDARY_TOLERANCE = 1e-4
#: A diagonal entry of the scaled factor this close to its bound is also tried on it, and
#: one up to FLAT_BOUNDARY when the optimum found fails its check.
NEAR_BOUNDARY = 1e-2
FLAT_BOUNDARY = 0.25
#: Largest acceptable Newton step (the gradient scaled by the inverse Hessian).
SCALED_GRADIENT_TOLERANCE = 2e-3


@dataclass(frozen=True)
class OptimizationResult:
    """Where the optimiser stopped and whether the stop is trustworthy."""

    theta: np.ndarray
    objective: float
    converged: bool
    n_evaluations: int
    problems: list[str] = field(default_factory=list)


class _Counted:
    def __init__(self, f) -> None:
        self.f, self.calls = f, 0

    def __call__(self, x: np.ndarray) -> float:
        self.calls += 1
        return self.f(x)


def minimize_deviance(
    deviance: ProfiledDeviance, start: np.ndarray | None = None, max_iterations: int = 2000
) -> OptimizationResult:
    """Find theta minimising ``deviance``, starting from lme4's default or ``start``.

    The search runs on the scaled parameters of
    :class:`~mixnb.estimation.objective.ScaledDeviance`, so that its start, steps,
    restarts and boundary tolerance mean the same whatever the units of the predictors;
    ``start`` is given, and the optimum returned, in theta (the units of the data).
    """
    scaled = ScaledDeviance(deviance)
    x0 = None if start is None else scaled.from_theta(start)
    found = minimize_objective(scaled, start=x0, max_iterations=max_iterations)
    return replace(found, theta=scaled.to_theta(found.theta))


def minimize_objective(
    objective: Objective, start: np.ndarray | None = None, max_iterations: int = 2000
) -> OptimizationResult:
    """Minimise any :class:`~mixnb.estimation.objective.Objective` and check the optimum.

    The result's ``theta`` is the optimum in the objective's own parameters. With an
    analytic gradient the work per evaluation is usually vectorised arithmetic and tiny
    matrix products, where multi-threaded BLAS only adds overhead (inside L-BFGS-B's own
    steps it costs milliseconds per call on a busy machine), so BLAS runs on one thread.
    """
    x0 = objective.initial() if start is None else np.asarray(start, dtype=float)
    lower = objective.lower_bounds()
    if objective.has_gradient:
        with threadpool_limits(limits=1, user_api="blas"):
            return _minimize(objective, x0, lower, max_iterations)
    return _minimize(objective, x0, lower, max_iterations)


def _minimize(
    objective: Objective, x0: np.ndarray, lower: np.ndarray, max_iterations: int
) -> OptimizationResult:
    f = _Counted(objective.value)
    search = _gradient_search(objective, f) if objective.has_gradient else None
    gradient = (lambda x: search(x)[1]) if search else None
    res = _search(f, x0, lower, max_iterations, search)
    bounded = np.isfinite(lower)
    if np.any(bounded & (res.x <= lower + BOUNDARY_TOLERANCE)):
        # A fit that ends on the boundary may be a false stop of the search (a variance
        # pinned at zero from which no single coordinate move helps): search again from
        # other starting points and keep the best.
        for restart in _restart_points(res.x, x0, lower):
            other = _search(f, restart, lower, max_iterations, search)
            if other.fun < res.fun - 1e-10:
                res = other
    best = _finish(f, res, lower, gradient, max_iterations)
    # The deviance can be so flat towards a singular optimum (a correlation of +/-1) that
    # the search stalls inside it, just inside or (the check then says so) further away:
    # minimise over the other entries with those held on the boundary, and keep that if it
    # is lower (the check then confirms that no positive value fits better).
    reach = FLAT_BOUNDARY if best.problems else NEAR_BOUNDARY
    small = bounded & (best.theta > lower) & (best.theta <= lower + reach)
    if small.any():
        projected = best.theta.copy()
        projected[small] = lower[small]
        held = _search(f, projected, lower, max_iterations, search, hold=small)
        other = _finish(f, held, lower, gradient, max_iterations)
        if other.objective < best.objective:
            best = other
    return replace(best, n_evaluations=f.calls)


def _finish(f, res, lower: np.ndarray, gradient, max_iterations: int) -> OptimizationResult:
    """Polish a search's end point and check it."""
    theta, objective, curvature = _polish(f, np.maximum(res.x, lower), lower, gradient)
    problems = _check_optimum(f, theta, lower, curvature)
    # a search with every entry held returns without an iteration count
    if getattr(res, "nit", 0) >= max_iterations:
        problems.insert(0, problem("optimizer_iteration_limit", max_iterations))
    return OptimizationResult(
        theta=theta,
        objective=objective,
        converged=not problems,
        n_evaluations=f.calls,
        problems=problems,
    )


def _gradient_search(objective: Objective, counter: _Counted):
    """The objective with its analytic gradient, counted like the plain objective."""

    def value_and_gradient(x: np.ndarray):
        counter.calls += 1
        return objective.value_and_gradient(x)

    return value_and_gradient


def _search(
    f, x0: np.ndarray, lower: np.ndarray, max_iterations: int, with_gradient=None, hold=None
):
    """One bounded quasi-Newton search (analytic gradient when given, else differences);
    the entries marked in ``hold`` stay at their start."""
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    if hold is not None:
        bounds = [(x, x) if h else b for x, h, b in zip(x0, hold, bounds)]
    return minimize(
        with_gradient or f,
        x0,
        method="L-BFGS-B",
        jac=True if with_gradient else "2-point",
        bounds=bounds,
        options={"maxiter": max_iterations, "ftol": 1e-14, "gtol": 1e-8, "maxls": 50},
    )


def _restart_points(found: np.ndarray, x0: np.ndarray, lower: np.ndarray) -> list[np.ndarray]:
    """Starting points away from the boundary the first search stopped on.

    The pinned entries are lifted a little (a nearly singular optimum, such as a tiny slope
    variance with a correlation near -1, lies just inside the bound, and a larger lift can
    slide back to the boundary) and a lot, and the default start is scaled both ways.
    """
    on_bound = np.isfinite(lower) & (found <= lower + BOUNDARY_TOLERANCE)
    starts = []
    for lift in (1e-2, 0.5):
        lifted = found.copy()
        lifted[on_bound] = lift
        starts.append(lifted)
    return [*starts, 0.5 * x0, 2.0 * x0]


def _free(theta: np.ndarray, lower: np.ndarray) -> np.ndarray:
    return ~(np.isfinite(lower) & (theta <= lower + BOUNDARY_TOLERANCE * 1e-2))


def _steps(theta: np.ndarray) -> np.ndarray:
    return 1e-4 * np.maximum(np.abs(theta), 0.05)


def _polish(f, theta: np.ndarray, lower: np.ndarray, gradient=None, rounds: int = 4):
    """Newton steps on the free coordinates, kept while they lower the deviance.

    Returns the final theta, its deviance and the gradient and Hessian of the free
    coordinates there (``None`` when every coordinate is on its bound).
    """
    best = f(theta)
    curvature = None
    for _ in range(rounds):
        free = _free(theta, lower)
        if not free.any():
            return theta, best, None
        g, h = _derivatives(f, theta, free, gradient)
        curvature = (free, g, h)
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            break
        if np.max(np.abs(step)) < 1e-9:
            break
        trial = theta.copy()
        trial[free] -= step
        trial = np.maximum(trial, lower)
        value = f(trial)
        if not value < best:
            break
        theta, best, curvature = trial, value, None
    if curvature is None:
        free = _free(theta, lower)
        if free.any():
            curvature = (free, *_derivatives(f, theta, free, gradient))
    return theta, best, curvature


def _derivatives(
    f, theta: np.ndarray, free: np.ndarray, gradient=None
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of ``f`` in the free coordinates: from the analytic gradient
    (and central differences of it) when given, else from differences of ``f``."""
    steps = _steps(theta[free])
    if gradient is not None:
        g = gradient(theta)[free]
        columns = []
        for i, h in zip(np.flatnonzero(free), steps):
            e = np.zeros_like(theta)
            e[i] = h
            columns.append((gradient(theta + e) - gradient(theta - e))[free] / (2 * h))
        hess = np.array(columns)
        return g, 0.5 * (hess + hess.T)

    def restricted(x: np.ndarray) -> float:
        full = theta.copy()
        full[free] = x
        return f(full)

    return (
        numdiff.gradient(restricted, theta[free], steps),
        numdiff.hessian(restricted, theta[free], steps),
    )


def _check_optimum(f, theta: np.ndarray, lower: np.ndarray, curvature) -> list[str]:
    """Problem codes (:mod:`mixnb.results.problems` has their words) that cast doubt on
    the optimum; empty when it is sound."""
    problems: list[str] = []
    free = _free(theta, lower)
    if curvature is not None:
        _, g, h = curvature
        # a Hessian with an infinite entry (a step into an unsolvable system) is no guide
        eigen = np.linalg.eigvalsh(h) if np.all(np.isfinite(h)) else np.array([np.nan])
        if not np.all(np.isfinite(eigen)) or eigen.min() <= 0:
            problems.append("likelihood_flat")
        else:
            scaled = np.linalg.solve(h, g)
            if np.max(np.abs(scaled)) > SCALED_GRADIENT_TOLERANCE:
                problems.append("likelihood_still_changing")
    on_bound = ~free
    if on_bound.any():
        f0 = f(theta)
        for i in np.flatnonzero(on_bound):
            bumped = theta.copy()
            bumped[i] += 1e-3
            if f(bumped) < f0 - 1e-6:
                problems.append("variance_held_at_zero")
                break
    return problems
