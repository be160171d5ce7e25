"""A light minimiser for many small, warm-started, box-bounded problems.

Each point of a likelihood profile and each bootstrap refit is a small minimisation that
starts next to its answer; a projected quasi-Newton method with difference gradients does
them with few evaluations (:func:`minimize_bounded`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mixnb.estimation import numdiff


def minimize_bounded(
    f: Callable[[np.ndarray], float],
    start: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    scale: np.ndarray,
    hessian: np.ndarray | None = None,
    tolerance: float = 1e-7,
    max_iterations: int = 100,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Minimise a smooth ``f`` within box bounds by projected quasi-Newton steps.

    A light minimiser for the many small, warm-started problems of a profile: BFGS updates
    of a Hessian (``hessian`` if given, else ``diag(1 / scale**2)``), central differences
    with :func:`~mixnb.estimation.numdiff.step_sizes` of ``scale`` (one-sided at a bound), a
    backtracking line search, and a stop when the Newton decrement ``g' H^-1 g`` falls below
    ``tolerance``. A coordinate that ends on a lower bound of 0 (a standard deviation or a
    diagonal of theta, where the deviance is even and 0 can be a saddle) is probed one
    ``scale`` inside, and the search restarts from there if that is lower. No convergence
    diagnostics. Returns the minimiser, the minimum and the final Hessian approximation (a
    good start for the next, nearby problem).

    Examples
    --------
    >>> import numpy as np
    >>> x, value, _ = minimize_bounded(
    ...     lambda x: float((x[0] - 2) ** 2 + (x[1] + 1) ** 2),
    ...     np.zeros(2), np.array([0.0, 0.0]), np.array([np.inf, np.inf]), np.ones(2),
    ... )
    >>> np.round(x, 3).tolist(), round(value, 6)
    ([2.0, 0.0], 1.0)
    """
    lower = np.asarray(lower, dtype=float)
    upper = np.asarray(upper, dtype=float)
    scale = np.asarray(scale, dtype=float)
    h = positive_definite(hessian) if hessian is not None else None
    if h is None:
        h = np.diag(1.0 / scale**2)
    x, fx, h = _quasi_newton(f, start, lower, upper, scale, h, tolerance, max_iterations)
    for _ in range(len(x)):
        on_zero = np.flatnonzero((lower == 0) & (x <= 0))
        if not on_zero.size or not np.isfinite(fx):
            break
        probe = x.copy()
        probe[on_zero] = scale[on_zero]
        if not f(probe) < fx:
            break
        x, fx, h = _quasi_newton(f, probe, lower, upper, scale, h, tolerance, max_iterations)
    return x, fx, h


def _quasi_newton(f, start, lower, upper, scale, h, tolerance, max_iterations):
    x = np.clip(np.asarray(start, dtype=float), lower, upper)
    k = len(x)
    fx = f(x)
    if k == 0 or not np.isfinite(fx):
        return x, fx, h
    steps = numdiff.step_sizes(scale)

    def gradient(x: np.ndarray, fx: float) -> np.ndarray:
        g = np.empty(k)
        for i in range(k):
            up, down = x.copy(), x.copy()
            if x[i] + steps[i] <= upper[i] and x[i] - steps[i] >= lower[i]:
                up[i] += steps[i]
                down[i] -= steps[i]
                g[i] = (f(up) - f(down)) / (2.0 * steps[i])
            elif x[i] + steps[i] <= upper[i]:
                up[i] += steps[i]
                g[i] = (f(up) - fx) / steps[i]
            else:
                down[i] -= steps[i]
                g[i] = (fx - f(down)) / steps[i]
        return g

    g = gradient(x, fx)
    for _ in range(max_iterations):
        pinned = ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))
        free = ~pinned & np.isfinite(g)
        if not free.any():
            break
        try:
            d_free = -np.linalg.solve(h[np.ix_(free, free)], g[free])
        except np.linalg.LinAlgError:
            d_free = -g[free] * scale[free] ** 2
        decrement = -float(g[free] @ d_free)
        if not decrement > tolerance:
            break
        d = np.zeros(k)
        d[free] = d_free
        t = 1.0
        while True:
            trial = np.clip(x + t * d, lower, upper)
            f_trial = f(trial)
            if np.isfinite(f_trial) and f_trial <= fx + 1e-4 * float(g @ (trial - x)):
                break
            t *= 0.5
            if t < 1e-8:
                return x, fx, h
        g_trial = gradient(trial, f_trial)
        s_vec, y_vec = trial - x, g_trial - g
        sy = float(s_vec @ y_vec)
        if sy > 1e-12 * float(np.linalg.norm(s_vec) * np.linalg.norm(y_vec)):
            hs = h @ s_vec
            h = h - np.outer(hs, hs) / float(s_vec @ hs) + np.outer(y_vec, y_vec) / sy
        improvement = fx - f_trial
        x, fx, g = trial, f_trial, g_trial
        if improvement < 0.1 * tolerance:
            break
    return x, fx, h


def positive_definite(h: np.ndarray) -> np.ndarray | None:
    """``h`` if it is a finite positive-definite matrix, else ``None``."""
    h = np.asarray(h, dtype=float)
    if not np.all(np.isfinite(h)):
        return None
    try:
        np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        return None
    return h
