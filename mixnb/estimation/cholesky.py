"""The Cholesky factor of a positive semi-definite matrix, zero pivots allowed.

One factorisation for every caller that turns a covariance matrix into lme4's relative
factor ``theta`` (the IGLS fits, the sdcor scale of the profiles and the bootstrap), with one
failure behaviour: a matrix that is not positive semi-definite gives ``None``.
"""

from __future__ import annotations

import math

import numpy as np

#: A pivot below ``-NEGATIVE * max|diag|`` means the matrix is not semi-definite.
NEGATIVE = 1e-10
#: A pivot below ``ZERO * max|diag|`` is a zero pivot (its column of the factor is zero).
ZERO = 1e-12
#: Below a zero pivot, the rest of its column must be this small (else: not semi-definite).
REST = 1e-7


def psd_cholesky(a: np.ndarray) -> np.ndarray | None:
    """Lower-triangular ``L`` with ``L L' = A`` for positive semi-definite ``A``, or ``None``.

    A zero pivot (to rounding, relative to the largest diagonal entry) gives a zero column,
    so a zero variance gives zero theta entries; a negative pivot, or a zero pivot with a
    non-zero entry below it, means ``A`` is not semi-definite and gives ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> psd_cholesky(np.array([[4.0, 2.0], [2.0, 1.0]])).tolist()
    [[2.0, 0.0], [1.0, 0.0]]
    >>> psd_cholesky(np.array([[1.0, 2.0], [2.0, 1.0]])) is None
    True
    """
    a = np.asarray(a, dtype=float)
    q = a.shape[0]
    scale = max(float(np.max(np.abs(np.diag(a)))) if q else 0.0, 1e-300)
    low = np.zeros_like(a)
    for j in range(q):
        pivot = a[j, j] - low[j, :j] @ low[j, :j]
        rest = a[j + 1 :, j] - low[j + 1 :, :j] @ low[j, :j]
        if pivot < -NEGATIVE * scale:
            return None
        if pivot <= ZERO * scale:
            if np.any(np.abs(rest) > REST * scale):
                return None
            continue
        low[j, j] = math.sqrt(pivot)
        low[j + 1 :, j] = rest / low[j, j]
    return low
