"""Central finite differences for gradients and Hessians of smooth scalar functions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def gradient(f: Callable[[np.ndarray], float], x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central-difference gradient of ``f`` at ``x`` with per-coordinate ``steps``."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
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
    f0 = f(x)
    out = np.empty((k, k))
    unit = np.eye(k) * np.asarray(steps, dtype=float)
    for i in range(k):
        hi = unit[i]
        out[i, i] = (f(x + hi) - 2.0 * f0 + f(x - hi)) / steps[i] ** 2
        for j in range(i):
            hj = unit[j]
            value = f(x + hi + hj) - f(x + hi - hj) - f(x - hi + hj) + f(x - hi - hj)
            out[i, j] = out[j, i] = value / (4.0 * steps[i] * steps[j])
    return out
