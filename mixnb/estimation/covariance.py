"""The relative covariance factor: from the parameter vector theta to Lambda and back.

Each random term ``k`` with ``q_k`` columns has a lower-triangular ``q_k x q_k`` factor
``Lambda_k`` whose entries are taken from theta column by column (lme4's layout:
for ``q_k = 2``, theta = (L11, L21, L22)). The covariance of the term's random
effects is ``Sigma_k = sigma^2 Lambda_k Lambda_k'``. Diagonal entries of ``Lambda_k``
are bounded below by 0; the rest are free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CovarianceLayout:
    """Where each term's lower-triangular factor sits in theta."""

    sizes: tuple[int, ...]

    @property
    def n_theta(self) -> int:
        return sum(q * (q + 1) // 2 for q in self.sizes)

    def slices(self) -> list[slice]:
        out, start = [], 0
        for q in self.sizes:
            stop = start + q * (q + 1) // 2
            out.append(slice(start, stop))
            start = stop
        return out

    @staticmethod
    def tril_indices(q: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each theta entry of a ``q x q`` factor (column-major)."""
        cols, rows = np.triu_indices(q)
        return rows, cols

    def initial_theta(self) -> np.ndarray:
        """lme4's starting point: identity factors (random effects as variable as the noise)."""
        return np.concatenate([_on_diagonal(q).astype(float) for q in self.sizes])

    def lower_bounds(self) -> np.ndarray:
        return np.concatenate([np.where(_on_diagonal(q), 0.0, -np.inf) for q in self.sizes])

    def factors(self, theta: np.ndarray) -> list[np.ndarray]:
        """The lower-triangular ``Lambda_k`` of every term."""
        out = []
        for q, sl in zip(self.sizes, self.slices()):
            lam = np.zeros((q, q))
            rows, cols = self.tril_indices(q)
            lam[rows, cols] = theta[sl]
            out.append(lam)
        return out

    def relative_covariances(self, theta: np.ndarray) -> list[np.ndarray]:
        """``Lambda_k Lambda_k'``: each term's covariance in units of the residual variance."""
        return [lam @ lam.T for lam in self.factors(theta)]

    def covariance_entries(self, covariances: list[np.ndarray]) -> np.ndarray:
        """Each term's variances then covariances, stacked (the order of the tables)."""
        return np.concatenate([cov[i, j] for cov in covariances for i, j in [entry_order(cov)]])

    def covariances_from_entries(self, entries: np.ndarray) -> list[np.ndarray]:
        """Inverse of :meth:`covariance_entries`."""
        out, start = [], 0
        for q in self.sizes:
            cov = np.zeros((q, q))
            rows, cols = entry_order(cov)
            stop = start + len(rows)
            cov[rows, cols] = entries[start:stop]
            cov[cols, rows] = entries[start:stop]
            out.append(cov)
            start = stop
        return out


def distinct_labels(names: list[str]) -> list[str]:
    """Names made unique by numbering repeats (``x``, ``x [2]``), e.g. when a model has two
    random terms on the same factor and column."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} [{seen[name]}]")
    return out


def entry_order(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a term's variances (first) then covariances, as lme4 lists them."""
    q = cov.shape[0]
    rows, cols = CovarianceLayout.tril_indices(q)
    diag = rows == cols
    return np.concatenate([rows[diag], rows[~diag]]), np.concatenate([cols[diag], cols[~diag]])


def _on_diagonal(q: int) -> np.ndarray:
    rows, cols = CovarianceLayout.tril_indices(q)
    return rows == cols
