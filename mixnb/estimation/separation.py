"""Complete and quasi-complete separation of a binomial or Poisson model's fixed effects.

The maximum-likelihood estimates are infinite when some direction ``d != 0`` of the
coefficients never lowers the likelihood and raises it for some rows (Albert and
Anderson 1984): ``x_i' d >= 0`` where every trial succeeded, ``x_i' d <= 0`` where every
trial failed (a Poisson zero), ``x_i' d = 0`` for the other rows, with some inequality
strict. Konis (2007; R's ``detectseparation``) finds it by linear programming:

    maximise  sum_{all successes} x_i' d - sum_{all failures} x_i' d
    subject to those constraints and -1 <= d_j <= 1;

a positive optimum means separation, and the columns with ``d_j != 0`` take part. The
random effects do not enter: a group whose outcomes are all alike is shrunk, not
separated.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

#: Relative size below which an LP optimum or direction entry counts as zero.
TOLERANCE = 1e-7


def separated_columns(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray, family: str, names: list[str]
) -> list[str]:
    """The fixed-effect columns taking part in a separation; empty when there is none."""
    if family not in ("binomial", "poisson") or x.shape[1] == 0:
        return []
    if family == "binomial":
        up = y >= 1 - 1e-12
        down = y <= 1e-12
    else:
        up = np.zeros(len(y), dtype=bool)
        down = y <= 1e-12
    up &= weights > 0
    down &= weights > 0
    middle = ~(up | down) & (weights > 0)
    scale = np.maximum(np.abs(x).max(axis=0), 1e-300)
    xs = x / scale
    # distinct rows of each kind are enough
    pos, neg, mid = (np.unique(xs[m], axis=0) for m in (up, down, middle))
    c = -(pos.sum(axis=0) - neg.sum(axis=0))
    a_ub = np.vstack([-pos, neg]) if len(pos) + len(neg) else None
    b_ub = np.zeros(len(pos) + len(neg)) if a_ub is not None else None
    a_eq = mid if len(mid) else None
    b_eq = np.zeros(len(mid)) if len(mid) else None
    res = linprog(
        c,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=[(-1, 1)] * x.shape[1],
        method="highs",
    )
    if res.status != 0 or -res.fun <= TOLERANCE * max(len(pos) + len(neg), 1):
        return []
    d = res.x
    return [name for name, value in zip(names, d) if abs(value) > 1e-6]
