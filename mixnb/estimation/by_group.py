"""Each group on its own: the separate least-squares fits that a mixed model shrinks.

The seed's "separate lines" model fits one least-squares line per treatment center; the
mixed model's per-group coefficients are those estimates pulled toward the population
value, more strongly for small or noisy groups (the shrinkage factor below).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixnb.design import Design
from mixnb.errors import ModelError


def per_group_least_squares(design: Design, factor: str | None = None) -> pd.DataFrame:
    """Least-squares coefficients fitted separately within each level of a grouping factor.

    Within each group the response is regressed on the columns of the factor's random
    terms (e.g. ``Intercept`` and ``Days`` for ``(Days | Subject)``). A group with too few
    rows, or whose columns are collinear within it, gets NaN.

    Parameters
    ----------
    design
        The design of a fitted mixed model (``fit.design``).
    factor
        The grouping factor; defaults to the first random term's.

    Returns
    -------
    pandas.DataFrame
        Index: the factor's levels; columns: the random-term columns; plus ``n``, the rows
        in each group.

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", mixnb.load_dataset("sleepstudy"))
    >>> own = per_group_least_squares(fit.design)
    >>> round(float(own.loc[308, "Days"]), 2)
    21.76
    """
    blocks = [b for b in design.random if factor is None or b.factor.name == factor]
    if not blocks:
        names = ", ".join(dict.fromkeys(b.factor.name for b in design.random))
        raise ModelError(f"The model has no grouping factor {factor!r}; it has: {names}.")
    name = blocks[0].factor.name
    blocks = [b for b in blocks if b.factor.name == name]
    columns = list(dict.fromkeys(c for b in blocks for c in b.columns))
    z = np.column_stack(
        [next(b.matrix[:, b.columns.index(c)] for b in blocks if c in b.columns) for c in columns]
    )
    factor_info = blocks[0].factor
    coef = np.full((factor_info.n_levels, len(columns)), np.nan)
    sizes = np.bincount(factor_info.codes, minlength=factor_info.n_levels)
    order = np.argsort(factor_info.codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for g in range(factor_info.n_levels):
        rows = order[starts[g] : starts[g + 1]]
        zg, yg = z[rows], design.y[rows]
        if len(rows) < len(columns) or np.linalg.matrix_rank(zg) < len(columns):
            continue
        coef[g] = np.linalg.lstsq(zg, yg, rcond=None)[0]
    out = pd.DataFrame(coef, index=factor_info.levels, columns=columns)
    out["n"] = sizes
    return out


def shrinkage_factor(n: float, between_variance: float, residual_variance: float) -> float:
    """How much of a group's raw deviation a random intercept keeps: ``n s0^2 / (n s0^2 + se^2)``.

    Examples
    --------
    >>> shrinkage_factor(10, 4.0, 40.0)
    0.5
    """
    signal = n * between_variance
    total = signal + residual_variance
    return float(signal / total) if total > 0 else 0.0
