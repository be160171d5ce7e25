"""Covariance structures of a random term: theta <-> the term's relative covariance factor.

A random term with ``q`` columns per level has a ``q x q`` lower-triangular factor
``Lambda`` with ``Sigma = sigma^2 Lambda Lambda'``. A structure says which entries of
``Lambda`` are parameters (``rows``, ``cols``: where each theta entry sits, in theta's
order), their lower bounds and lme4's starting values:

* :class:`Unstructured`: every entry on or below the diagonal, column by column (lme4's
  layout; for ``q = 2``, theta = (L11, L21, L22)).
* :class:`Diagonal`: the diagonal only (uncorrelated effects).
* :class:`BlockDiagonal`: several structures side by side; what the random terms of one
  grouping factor form together (``(1 | g) + (0 + x | g)``, or lme4's ``(x || g)``).

Diagonal entries are bounded below by 0; the rest are free. Because ``Lambda`` is linear
in theta, ``dLambda / dtheta_i`` is the unit matrix at ``(rows[i], cols[i])``: the analytic
gradient of the profiled deviance reads the entries of a ``q x q`` matrix at these
positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np


class CovarianceStructure:
    """Base: a structure is its size and the positions of its parameters in ``Lambda``."""

    size: int

    @cached_property
    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column in ``Lambda`` of each theta entry."""
        raise NotImplementedError  # pragma: no cover - every structure defines it

    @property
    def rows(self) -> np.ndarray:
        return self.positions[0]

    @property
    def cols(self) -> np.ndarray:
        return self.positions[1]

    @property
    def n_theta(self) -> int:
        return len(self.rows)

    def factor(self, theta: np.ndarray) -> np.ndarray:
        """The ``q x q`` factor ``Lambda`` for this structure's theta entries."""
        lam = np.zeros((self.size, self.size))
        lam[self.rows, self.cols] = theta
        return lam

    def lower_bounds(self) -> np.ndarray:
        """0 for diagonal entries (standard deviations), ``-inf`` for the others."""
        return np.where(self.rows == self.cols, 0.0, -np.inf)

    def initial(self) -> np.ndarray:
        """lme4's start: the identity factor (effects as variable as the residual)."""
        return (self.rows == self.cols).astype(float)

    def entries(self, gradient: np.ndarray) -> np.ndarray:
        """The entries of a ``q x q`` matrix at the parameters' positions."""
        return np.asarray(gradient)[self.rows, self.cols]


class Unstructured(CovarianceStructure):
    """Every entry of the lower triangle, column-major (lme4's theta layout)."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    @cached_property
    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        cols, rows = np.triu_indices(self.size)
        return rows, cols

    def __repr__(self) -> str:
        return f"Unstructured({self.size})"


class Diagonal(CovarianceStructure):
    """Only the diagonal: the term's effects are uncorrelated."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    @cached_property
    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        idx = np.arange(self.size)
        return idx, idx

    def __repr__(self) -> str:
        return f"Diagonal({self.size})"


class BlockDiagonal(CovarianceStructure):
    """Structures side by side on the diagonal of one factor; theta is their concatenation."""

    def __init__(self, parts: Sequence[CovarianceStructure]) -> None:
        self.parts = tuple(parts)
        self.size = sum(p.size for p in self.parts)

    @cached_property
    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        rows, cols, offset = [], [], 0
        for part in self.parts:
            rows.append(part.rows + offset)
            cols.append(part.cols + offset)
            offset += part.size
        return np.concatenate(rows), np.concatenate(cols)

    def __repr__(self) -> str:
        return f"BlockDiagonal({list(self.parts)!r})"


def combine(parts: Sequence[CovarianceStructure]) -> CovarianceStructure:
    """One structure for terms sharing a grouping factor: the part itself when alone,
    :class:`Diagonal` when every part is a single column, else :class:`BlockDiagonal`."""
    if len(parts) == 1:
        return parts[0]
    if all(p.size == 1 for p in parts):
        return Diagonal(len(parts))
    return BlockDiagonal(parts)
