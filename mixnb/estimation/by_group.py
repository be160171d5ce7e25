"""Each group on its own: the separate least-squares fits that a mixed model shrinks.

The seed's "separate lines" model fits one least-squares line per treatment center
(:func:`per_group_least_squares`). The estimate a mixed model pulls toward the population
value, more strongly for small or noisy groups (the shrinkage factor below), is the
group's own fit of the same model, its other fixed effects included
(:func:`group_alone_estimates`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixnb.design import Design
from mixnb.errors import ModelError


def per_group_least_squares(design: Design, factor: str | None = None) -> pd.DataFrame:
    """Least-squares coefficients fitted separately within each level of a grouping factor.

    Within each group the response is regressed on the columns of the factor's random
    terms alone (e.g. ``Intercept`` and ``Days`` for ``(Days | Subject)``): the seed's
    "separate lines". For the estimate a mixed model shrinks, which also accounts for the
    model's other fixed effects, see :func:`group_alone_estimates`. A group with too few
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
    return _each_group(design, factor, offset=None)


def group_alone_estimates(
    design: Design, beta: np.ndarray, factor: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Each group's own estimate of its random coefficients: the model fitted to it alone.

    For group ``j`` with random-part columns ``Z_j`` (those of ``factor``'s terms) and the
    fixed columns that have no random counterpart, ``F_j``, the estimate is

        c_j = argmin_c || y_j - F_j beta_F - Z_j c ||^2,

    the group's own least squares with the other fixed effects held at the model's
    estimates ``beta_F``. It is the estimate the mixed model shrinks: with ``beta`` the
    model's fixed effects the group's coefficient is ``beta_Z + b_j``, and the BLUP is
    ``b_j = (Z_j'Z_j + sigma^2 T^-1)^-1 Z_j'Z_j (c_j - beta_Z)`` (``T`` the random
    effects' covariance; exactly so with one grouping factor), a shrunken copy of
    ``c_j - beta_Z``. For a random intercept with a covariate ``x`` (``y ~ x + (1 | g)``)
    ``c_j = mean_j(y) - beta_x mean_j(x)``: the group's mean moved along the population
    slope to ``x = 0``, where the model's intercept is, and the BLUP intercept lies between
    it and the population intercept. Each group's own slope for ``x`` (its OLS of the full
    fixed part) would instead move its intercept by its own, noisy slope times the distance
    from its mean to 0, which the mixed model never does. With no fixed-only columns
    (``y ~ x + (x | g)``) this is :func:`per_group_least_squares`. Random effects of other
    grouping factors are not part of the group's fit.

    Parameters
    ----------
    design
        The design of a fitted mixed model (``fit.design``).
    beta
        The model's fixed-effect estimates (``fit.estimates.beta``), in the design's order.
    factor
        The grouping factor; defaults to the first random term's.

    Returns
    -------
    estimates : pandas.DataFrame
        As :func:`per_group_least_squares`: one row per level, the random-term columns and
        ``n``.
    held : list of str
        The fixed-effect columns held at ``beta`` (empty when there are none).

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Reaction ~ Days + (1 | Subject)", mixnb.load_dataset("sleepstudy"))
    >>> own, held = group_alone_estimates(fit.design, fit.estimates.beta)
    >>> held, round(float(own.loc[309, "Intercept"]), 1)
    (['Days'], 168.1)
    """
    columns = _random_columns(design, factor)[1]
    beta = np.asarray(beta, dtype=float)
    held = [k for k, c in enumerate(design.fixed.columns) if c not in columns]
    offset = design.fixed.matrix[:, held] @ beta[held] if held else np.zeros(design.nobs)
    return _each_group(design, factor, offset), [design.fixed.columns[k] for k in held]


def _random_columns(design: Design, factor: str | None):
    """The factor's random terms, their distinct column names and the matching matrix."""
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
    return blocks[0].factor, columns, z


def _each_group(design: Design, factor: str | None, offset: np.ndarray | None) -> pd.DataFrame:
    """Least squares of ``y - offset`` on the factor's random columns, group by group."""
    factor_info, columns, z = _random_columns(design, factor)
    y = design.y if offset is None else design.y - offset
    coef = np.full((factor_info.n_levels, len(columns)), np.nan)
    sizes = np.bincount(factor_info.codes, minlength=factor_info.n_levels)
    order = np.argsort(factor_info.codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    for g in range(factor_info.n_levels):
        rows = order[starts[g] : starts[g + 1]]
        zg, yg = z[rows], y[rows]
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
