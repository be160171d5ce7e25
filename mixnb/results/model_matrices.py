"""The fitted model's matrices ``y``, ``X``, ``Z``, ``Omega``, ``W``, ``V`` for a few rows.

What ``fit.matrices()`` shows, as numbers: the display layer chooses the rows and writes
the LaTeX; the matrices are built here from :mod:`mixnb.estimation.matrices`, restricted
to those rows and to the random effects they touch, so no ``n x n`` matrix is formed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mixnb.estimation.matrices import (
    marginal_covariance,
    random_columns,
    random_effects_covariance,
    random_effects_rows,
)

if TYPE_CHECKING:  # pragma: no cover
    from mixnb.results.mixed import LmmResult


@dataclass(frozen=True)
class ModelMatrices:
    """The matrix form ``y = X b + Z u + e``, ``V = Z Omega Z' + W``, on chosen rows.

    Attributes
    ----------
    rows : numpy.ndarray
        Positions among the rows the model used.
    columns : numpy.ndarray
        Positions of the random effects shown (columns of ``Z``) among all of them.
    n_random : int
        Number of random effects (columns of the whole ``Z``).
    y, x, z, omega, w, v : numpy.ndarray
        The response, the fixed-effects design, ``Z[rows, columns]``, the covariance of
        those random effects, the residual covariance and the observations' covariance.
    fixed_names, random_names : list of str
        Column labels of ``X`` and of the shown columns of ``Z`` (``level:term``).
    """

    rows: np.ndarray
    columns: np.ndarray
    n_random: int
    y: np.ndarray
    x: np.ndarray
    z: np.ndarray
    omega: np.ndarray
    w: np.ndarray
    v: np.ndarray
    fixed_names: list[str]
    random_names: list[str]


def model_matrices(result: LmmResult, rows: np.ndarray, max_columns: int = 8) -> ModelMatrices:
    """The matrices of ``result`` on ``rows``, with the first ``max_columns`` random effects
    those rows touch.

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    >>> m = model_matrices(fit, [0, 1, 5])
    >>> m.z.tolist(), m.random_names
    ([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], ['A:Intercept', 'B:Intercept'])
    """
    design, est = result.design, result.estimates
    rows = np.asarray(rows, dtype=np.intp)
    z_rows = random_effects_rows(design, rows)
    used = np.flatnonzero(np.any(z_rows != 0, axis=0))[:max_columns]
    info = random_columns(design)
    return ModelMatrices(
        rows=rows,
        columns=used,
        n_random=len(info),
        y=design.y[rows][:, None],
        x=design.fixed.matrix[rows],
        z=z_rows[:, used],
        omega=random_effects_covariance(design, list(est.covariances), used),
        w=est.sigma2 * np.eye(len(rows)),
        v=marginal_covariance(design, list(est.covariances), est.sigma2, rows),
        fixed_names=list(design.fixed.columns),
        random_names=[f"{c.level}:{c.name}" for c in (info[i] for i in used)],
    )
