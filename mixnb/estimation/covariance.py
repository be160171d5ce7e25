"""The relative covariance factor: from the parameter vector theta to Lambda and back.

Each random term ``k`` with ``q_k`` columns has a lower-triangular ``q_k x q_k`` factor
``Lambda_k`` whose entries are taken from theta column by column (lme4's layout:
for ``q_k = 2``, theta = (L11, L21, L22)). The covariance of the term's random
effects is ``Sigma_k = sigma^2 Lambda_k Lambda_k'``. Diagonal entries of ``Lambda_k``
are bounded below by 0; the rest are free.

Units. theta inherits the units of the random-effect columns: with time in seconds
instead of days a slope's entries of ``Lambda_k`` are 86400 times smaller, and an
optimiser's steps, starting point and boundary tolerance, all of order 1, stop meaning
anything. Every column ``j`` of a term therefore has a scale ``d_j`` in its units (its
SD; :func:`column_scales`), and the model is seen in the columns ``Z_j / d_j``
through the change of variables

    Z Lambda = (Z D^-1) (D Lambda),      x = theta * d_row,

which scales row ``i`` of ``Lambda_k`` by ``d_i``: the factor stays lower triangular,
its diagonal stays non-negative and the deviance is unchanged (it depends on ``Z`` and
``Lambda`` only through ``Z Lambda``). Searches, finite-difference steps and the
singular-fit tolerance work on ``x`` (:meth:`CovarianceLayout.to_scaled`); everything
reported is in theta, the units of the data (lme4's theta).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def column_scales(matrix: np.ndarray) -> np.ndarray:
    """The scale of each column of a random-effect model matrix: its standard deviation,
    or for a constant column (an intercept) its root mean square; 1 for a zero column.

    Both are proportional to the column's units. The SD, not the root mean square, is
    what a slope's random effect multiplies within a group: for a predictor far from
    zero (a temperature of 175 to 225 degrees) the root mean square would make the
    scaled slope column nearly equal to the intercept column and the search harder.
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape[0] == 0:
        return np.ones(matrix.shape[1])
    rms = np.sqrt(np.mean(matrix**2, axis=0))
    return _scale_rule(np.std(matrix, axis=0), rms)


def column_scales_from_sums(n: int, sums: np.ndarray, sums_of_squares: np.ndarray) -> np.ndarray:
    """:func:`column_scales` from the columns' sums and sums of squares over ``n`` rows
    (for data seen only through such sums, e.g. partition by partition)."""
    if n == 0:
        return np.ones(len(sums))
    mean_square = np.asarray(sums_of_squares, dtype=float) / n
    mean = np.asarray(sums, dtype=float) / n
    sd = np.sqrt(np.maximum(mean_square - mean**2, 0.0))
    return _scale_rule(sd, np.sqrt(mean_square))


def _scale_rule(sd: np.ndarray, rms: np.ndarray) -> np.ndarray:
    """The SD, or the root mean square for a (nearly) constant column; 1 for a zero one."""
    scale = np.where(sd > 1e-8 * rms, sd, rms)
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


@dataclass(frozen=True)
class CovarianceLayout:
    """Where each term's lower-triangular factor sits in theta, and the units of theta."""

    sizes: tuple[int, ...]
    #: per term, the scale of each random-effect column (:func:`column_scales`); ``None``
    #: when the columns are taken as they are (every scale 1)
    scales: tuple[np.ndarray, ...] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, matrices: Sequence[np.ndarray]) -> CovarianceLayout:
        """The layout of random terms with these model matrices, their columns' scales
        included."""
        return cls(tuple(m.shape[1] for m in matrices), tuple(column_scales(m) for m in matrices))

    @property
    def theta_scale(self) -> np.ndarray:
        """``d`` of each theta entry's row: ``x = theta * theta_scale`` (see the module)."""
        if self.scales is None:
            return np.ones(self.n_theta)
        parts = []
        for q, d in zip(self.sizes, self.scales):
            rows, _ = self.tril_indices(q)
            parts.append(np.asarray(d, dtype=float)[rows])
        return np.concatenate(parts) if parts else np.zeros(0)

    def to_scaled(self, theta: np.ndarray) -> np.ndarray:
        """theta in the units of the scaled columns, where 1 is the natural size."""
        return np.asarray(theta, dtype=float) * self.theta_scale

    def from_scaled(self, x: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_scaled`: back to the units of the data."""
        return np.asarray(x, dtype=float) / self.theta_scale

    def typical_theta(self, theta: np.ndarray, floor: float) -> np.ndarray:
        """``|theta|``, but at least ``floor`` in the scaled units: the size of a
        finite-difference or search step, relative to which ``1e-4`` is small."""
        return np.maximum(np.abs(np.asarray(theta, dtype=float)), floor / self.theta_scale)

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
