"""Cholesky factors and triangular solves for many small matrices at once.

Arrays are stacked along the first axis: ``(J, q, q)`` for ``J`` matrices of size
``q``. The loops run over ``q`` (the handful of random effects per group), never over
``J`` (the groups): each step is one vectorised numpy operation across all groups.
"""

from __future__ import annotations

import numpy as np


def cholesky(m: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with ``L L' = M`` for each of the stacked matrices."""
    q = m.shape[1]
    if q == 1:
        return np.sqrt(m)
    low = np.zeros_like(m)
    for j in range(q):
        pivot = np.sqrt(m[:, j, j] - np.einsum("gk,gk->g", low[:, j, :j], low[:, j, :j]))
        low[:, j, j] = pivot
        for i in range(j + 1, q):
            dot = np.einsum("gk,gk->g", low[:, i, :j], low[:, j, :j])
            low[:, i, j] = (m[:, i, j] - dot) / pivot
    return low


def solve_lower(low: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``L X = B`` for stacked lower-triangular ``L`` (J,q,q) and ``B`` (J,q,m)."""
    q = low.shape[1]
    if q == 1:
        return rhs / low
    out = np.empty_like(rhs)
    for i in range(q):
        partial = np.einsum("gk,gkm->gm", low[:, i, :i], out[:, :i, :])
        out[:, i, :] = (rhs[:, i, :] - partial) / low[:, i, i, None]
    return out


def solve_upper_transposed(low: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``L' X = B`` for stacked lower-triangular ``L`` (J,q,q) and ``B`` (J,q,m)."""
    q = low.shape[1]
    if q == 1:
        return rhs / low
    out = np.empty_like(rhs)
    for i in reversed(range(q)):
        partial = np.einsum("gk,gkm->gm", low[:, i + 1 :, i], out[:, i + 1 :, :])
        out[:, i, :] = (rhs[:, i, :] - partial) / low[:, i, i, None]
    return out


def log_determinant(low: np.ndarray) -> float:
    """``log |L L'|`` summed over the stack, from the Cholesky factors."""
    return 2.0 * float(np.log(np.diagonal(low, axis1=1, axis2=2)).sum())
