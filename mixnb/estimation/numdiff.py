"""Finite differences for gradients, Hessians and Jacobians of smooth functions.

Two schemes:

* plain central differences with caller-chosen steps (:func:`gradient`, :func:`hessian`),
  cheap and accurate to O(h^2), for the optimiser's convergence checks;
* Richardson-extrapolated central differences (:func:`richardson_hessian`,
  :func:`richardson_jacobian`), the algorithm of R's numDeriv (``genD`` and
  ``jacobian``, Gilbert & Varadhan) that lmerTest uses for the covariance of the
  variance parameters and for the derivatives of ``vcov(beta)``. Steps start at a
  fraction ``d`` of each coordinate (``eps`` where the coordinate is near zero), are halved
  ``r - 1`` times, and the estimates are combined to cancel the error terms up to
  O(h^(2r)).

Every evaluation is done with floating-point warnings silenced: a step can reach a point
where the function is not finite (``inf - inf`` in a difference). Such a point makes the
result non-finite, which callers check; it never prints a numpy warning.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: numDeriv's threshold below which a coordinate counts as zero (its ``zero.tol``).
ZERO_TOLERANCE = float(np.sqrt(np.finfo(float).eps / 7e-7))


def gradient(f: Callable[[np.ndarray], float], x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central-difference gradient of ``f`` at ``x`` with per-coordinate ``steps``."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    with np.errstate(all="ignore"):
        for i, h in enumerate(steps):
            e = np.zeros_like(x)
            e[i] = h
            out[i] = (f(x + e) - f(x - e)) / (2.0 * h)
    return out


def hessian(f: Callable[[np.ndarray], float], x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``x`` with per-coordinate ``steps``.

    Diagonal entries use ``f(x+h) - 2 f(x) + f(x-h)``; off-diagonal entries the
    four-point stencil ``f(++) - f(+-) - f(-+) + f(--)``. Error is O(h^2).
    """
    x = np.asarray(x, dtype=float)
    k = len(x)
    out = np.empty((k, k))
    unit = np.eye(k) * np.asarray(steps, dtype=float)
    with np.errstate(all="ignore"):
        f0 = f(x)
        for i in range(k):
            hi = unit[i]
            out[i, i] = (f(x + hi) - 2.0 * f0 + f(x - hi)) / steps[i] ** 2
            for j in range(i):
                hj = unit[j]
                value = f(x + hi + hj) - f(x + hi - hj) - f(x - hi + hj) + f(x - hi - hj)
                out[i, j] = out[j, i] = value / (4.0 * steps[i] * steps[j])
    return out


#: The relative step of the plain central differences (:func:`step_sizes`).
RELATIVE_STEP = 1e-4


def step_sizes(typical: np.ndarray) -> np.ndarray:
    """Steps of the plain central differences: ``1e-4`` times each coordinate's typical size.

    The one step rule of :func:`gradient` and :func:`hessian` callers (the profiles'
    curvature, the bounded minimiser, the bootstrap's start); ``typical`` is floored by
    the caller where a coordinate can be zero.

    Examples
    --------
    >>> step_sizes(np.array([1.0, 250.0])).tolist()
    [0.0001, 0.025]
    """
    return RELATIVE_STEP * np.asarray(typical, dtype=float)


def initial_steps(x: np.ndarray, d: float, eps: float = 1e-4) -> np.ndarray:
    """numDeriv's first steps: ``d |x|``, or ``eps`` where ``|x|`` is below ``ZERO_TOLERANCE``."""
    x = np.abs(np.asarray(x, dtype=float))
    return d * x + eps * (x < ZERO_TOLERANCE)


def _extrapolate(estimates: np.ndarray) -> np.ndarray:
    """Richardson's table for estimates at steps h, h/2, h/4, ... (first axis): the error
    terms in h^2, h^4, ... cancel one per round."""
    table = np.array(estimates, dtype=float)
    r = table.shape[0]
    for m in range(1, r):
        factor = 4.0**m
        table = (factor * table[1 : r - m + 1] - table[: r - m]) / (factor - 1.0)
    return table[0]


def richardson_hessian(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    d: float = 0.1,
    r: int = 4,
    steps: np.ndarray | None = None,
) -> np.ndarray:
    """Hessian of ``f`` at ``x`` by Richardson-extrapolated central differences.

    numDeriv's extrapolation (``genD``, v = 2), from first ``steps`` (numDeriv's
    :func:`initial_steps` with fraction ``d`` when not given; a caller that knows the scale
    of a coordinate near zero should pass larger ones: at numDeriv's ``1e-4``, halved
    three times, the second difference of a function of size 1e3 is mostly rounding
    noise). The diagonal uses numDeriv's
    ``f(x+h) - 2 f(x) + f(x-h)``; the off-diagonal entries use the four-point stencil
    ``f(++) - f(+-) - f(-+) + f(--)`` instead of numDeriv's two-point formula, which
    subtracts the diagonal terms and, when one step is far smaller than the other (a
    coordinate at zero beside one of order 1), leaves an error of order
    ``h_j^3 / h_i`` that extrapolation cannot remove. The stencil is also exactly zero
    where ``f`` is even in a coordinate at zero (a variance on its boundary).
    """
    x = np.asarray(x, dtype=float)
    k = len(x)
    h0 = initial_steps(x, d) if steps is None else np.asarray(steps, dtype=float)
    out = np.empty((k, k))
    with np.errstate(all="ignore"):
        f0 = f(x)
        for i in range(k):
            rounds = []
            for m in range(r):
                e = np.zeros(k)
                e[i] = h0[i] / 2.0**m
                rounds.append((f(x + e) - 2.0 * f0 + f(x - e)) / e[i] ** 2)
            out[i, i] = _extrapolate(np.array(rounds))
        for i in range(k):
            for j in range(i):
                rounds = []
                for m in range(r):
                    ei, ej = np.zeros(k), np.zeros(k)
                    ei[i], ej[j] = h0[i] / 2.0**m, h0[j] / 2.0**m
                    value = f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
                    rounds.append(value / (4.0 * ei[i] * ej[j]))
                out[i, j] = out[j, i] = _extrapolate(np.array(rounds))
    return out


def richardson_jacobian(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, d: float = 1e-4, r: int = 4
) -> np.ndarray:
    """Derivatives of an array-valued ``f`` at ``x`` (numDeriv's ``jacobian``):
    shape ``(len(x),) + f(x).shape``, one derivative array per coordinate."""
    x = np.asarray(x, dtype=float)
    h0 = initial_steps(x, d)
    out = []
    with np.errstate(all="ignore"):
        for i in range(len(x)):
            rounds = []
            for m in range(r):
                e = np.zeros(len(x))
                e[i] = h0[i] / 2.0**m
                rounds.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2.0 * e[i]))
            out.append(_extrapolate(np.array(rounds)))
    return np.array(out)
