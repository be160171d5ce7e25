"""Cholesky factors and triangular solves for many small matrices at once.

The matrices are stacked along the *last* axis: ``(q, q, J)`` holds ``J`` matrices of
size ``q x q`` and ``(q, m, J)`` holds ``J`` right-hand sides. Every entry is then a
contiguous vector over the ``J`` groups, and the loops run over ``q`` (the handful of
random effects per group), never over the groups.
"""

from __future__ import annotations

import numpy as np


def cholesky(m: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with ``L L' = M`` for each stacked ``M`` (shape ``(q, q, J)``)."""
    q = m.shape[0]
    low = np.zeros_like(m)
    for j in range(q):
        pivot = m[j, j] - np.einsum("kg,kg->g", low[j, :j], low[j, :j])
        low[j, j] = np.sqrt(pivot)
        for i in range(j + 1, q):
            dot = np.einsum("kg,kg->g", low[i, :j], low[j, :j])
            low[i, j] = (m[i, j] - dot) / low[j, j]
    return low


def solve_lower(low: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``L X = B`` for stacked ``L`` ``(q, q, J)`` and ``B`` ``(q, m, J)``."""
    q = low.shape[0]
    out = np.empty_like(rhs)
    for i in range(q):
        acc = rhs[i]
        for k in range(i):
            acc = acc - low[i, k] * out[k]
        np.divide(acc, low[i, i], out=out[i])
    return out


def solve_lower_transposed(low: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``L' X = B`` for stacked ``L`` ``(q, q, J)`` and ``B`` ``(q, m, J)``."""
    q = low.shape[0]
    out = np.empty_like(rhs)
    for i in reversed(range(q)):
        acc = rhs[i]
        for k in range(i + 1, q):
            acc = acc - low[k, i] * out[k]
        np.divide(acc, low[i, i], out=out[i])
    return out


def left_multiply(small: np.ndarray, stack: np.ndarray) -> np.ndarray:
    """``small @ B_g`` for one small matrix ``(r, q)`` and stacked ``B`` ``(q, ..., J)``.

    Written as a short sum of scaled arrays: for the tiny ``small`` of a random term,
    this beats a BLAS call whose set-up dominates the work. The first nonzero term is
    written into the output directly (the same numbers as adding it to zeros, one pass
    over the groups fewer: it matters for a million groups).
    """
    out = np.empty((small.shape[0],) + stack.shape[1:])
    for a in range(small.shape[0]):
        started = False
        for i in range(small.shape[1]):
            if small[a, i] == 0.0:
                continue
            if started:
                out[a] += small[a, i] * stack[i]
            else:
                np.multiply(stack[i], small[a, i], out=out[a])
                started = True
        if not started:
            out[a] = 0.0
    return out


def congruence(lam: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``Lambda' M Lambda`` for one small ``Lambda`` ``(q, q)`` and stacked ``M`` ``(q, q, J)``."""
    left = left_multiply(lam.T, m)  # Lambda' M
    return left_multiply(lam.T, left.transpose(1, 0, 2)).transpose(1, 0, 2)


def log_determinant(low: np.ndarray) -> float:
    """``log |L L'|`` summed over the stack, from the Cholesky factors."""
    q = low.shape[0]
    return 2.0 * float(sum(np.log(low[i, i]).sum() for i in range(q)))


def gram(w: np.ndarray) -> np.ndarray:
    """``sum_g W_g' W_g`` for stacked ``W`` ``(q, m, J)``: an ``(m, m)`` matrix."""
    flat = w.transpose(1, 0, 2).reshape(w.shape[1], -1)
    return flat @ flat.T
