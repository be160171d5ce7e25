"""Simulated grouped data with known truth, for seeing what a mixed model recovers.

The widgets :class:`~mixnb.widgets.SimulationLab` and :class:`~mixnb.widgets.ShrinkageExplorer`
use these; they work as well on their own in a notebook or a test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixnb.errors import DataError
from mixnb.estimation.by_group import shrinkage_factor

#: The parameters :func:`simulate_groups` takes as truth, in display order.
PARAMETERS = ("intercept", "slope", "sd_intercept", "sd_slope", "sd_residual")


def simulate_groups(
    n_groups: int = 10,
    n_per_group: int = 6,
    intercept: float = 50.0,
    slope: float = 2.0,
    sd_intercept: float = 5.0,
    sd_slope: float = 1.0,
    sd_residual: float = 3.0,
    corr: float = 0.0,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Data from ``y_ij = (b0 + u0j) + (b1 + u1j) x_ij + e_ij``, the seed's random-slope model.

    ``x`` runs 0, 1, ..., ``n_per_group - 1`` in every group; ``(u0j, u1j)`` are normal with
    standard deviations ``sd_intercept``, ``sd_slope`` and correlation ``corr``; ``e_ij`` is
    normal with standard deviation ``sd_residual``.

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``x``, ``y``; ``.attrs["truth"]`` holds the parameters.

    Examples
    --------
    >>> data = simulate_groups(n_groups=4, n_per_group=3, seed=1)
    >>> data.shape, sorted(data["group"].unique())
    ((12, 3), ['g01', 'g02', 'g03', 'g04'])
    """
    rng = np.random.default_rng(seed)
    cov = np.array(
        [
            [sd_intercept**2, corr * sd_intercept * sd_slope],
            [corr * sd_intercept * sd_slope, sd_slope**2],
        ]
    )
    u = rng.multivariate_normal(np.zeros(2), cov, size=n_groups, method="eigh")
    width = len(str(n_groups))
    groups = np.repeat([f"g{j + 1:0{max(width, 2)}d}" for j in range(n_groups)], n_per_group)
    codes = np.repeat(np.arange(n_groups), n_per_group)
    x = np.tile(np.arange(n_per_group, dtype=float), n_groups)
    e = rng.normal(0.0, sd_residual, size=n_groups * n_per_group)
    y = intercept + u[codes, 0] + (slope + u[codes, 1]) * x + e
    data = pd.DataFrame({"group": groups, "x": x, "y": y})
    data.attrs["truth"] = {
        "intercept": intercept,
        "slope": slope,
        "sd_intercept": sd_intercept,
        "sd_slope": sd_slope,
        "sd_residual": sd_residual,
    }
    return data


def estimates_of(fit: Any) -> dict[str, float]:
    """A fit of ``y ~ x + (x | group)`` (or ``(1 | group)``) as the truth's parameters.

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("y ~ x + (x | group)", simulate_groups(seed=3))
    >>> sorted(estimates_of(fit))
    ['intercept', 'sd_intercept', 'sd_residual', 'sd_slope', 'slope']
    """
    fixed = fit.fixed_effects["estimate"]
    vc = fit.variance_components
    variances = vc[vc["term1"] == vc["term2"]]

    def sd(group: str, term: str) -> float:
        row = variances[(variances["group"] == group) & (variances["term1"] == term)]
        return float(row["sd_corr"].iloc[0]) if len(row) else 0.0

    residual = vc[vc["group"] == "Residual"]
    return {
        "intercept": float(fixed.get("Intercept", np.nan)),
        "slope": float(fixed.get("x", np.nan)),
        "sd_intercept": sd("group", "Intercept"),
        "sd_slope": sd("group", "x"),
        "sd_residual": float(residual["sd_corr"].iloc[0]),
    }


def shrinkage_draws(n_groups: int = 12, seed: int = 2007) -> pd.DataFrame:
    """The standard-normal draws behind :func:`shrinkage_demo`: ``z_j`` and ``w_j`` per group.

    A group's true mean is ``grand + s0 z_j`` and its raw mean adds ``(se / sqrt(n)) w_j``;
    :func:`mixnb.charts.live_shrinkage` rescales the same draws in the browser.

    Examples
    --------
    >>> shrinkage_draws(3, seed=1).columns.tolist()
    ['group', 'z', 'w']
    """
    rng = np.random.default_rng(seed)
    z, w = rng.standard_normal((2, n_groups))
    return pd.DataFrame({"group": [f"g{j + 1:02d}" for j in range(n_groups)], "z": z, "w": w})


def slope_sampling(
    x: Any,
    slope: float,
    sd_slope: float,
    sd_residual: float,
    n_groups: Any = (4, 8, 12, 16, 20, 24, 28, 32, 36, 40),
    replicates: int = 400,
    seed: int = 2007,
) -> pd.DataFrame:
    """Sampling distribution of the fixed slope of ``y ~ x + (x | g)`` as the groups grow.

    Every simulated group has the same ``x`` values; its slope is ``slope + u_1j`` with
    ``u_1j ~ N(0, sd_slope^2)`` and its least-squares slope adds ``N(0, sd_residual^2 /
    Sxx)``, ``Sxx`` the sum of squares of ``x`` about its mean. When every group has the same
    ``x``, the mixed model's estimate of the fixed slope (GLS with any estimated covariance
    of the random-coefficient form) is the mean of the groups' least-squares slopes, so each
    replicate's estimate is that mean: exact, and fast enough for thousands of data sets.

    Parameters
    ----------
    x
        The ``x`` values of one group (every group has them).
    slope, sd_slope, sd_residual
        The true fixed slope, the SD of the groups' slopes and the residual SD.
    n_groups
        The numbers of groups to simulate.
    replicates
        Data sets per number of groups.

    Returns
    -------
    pandas.DataFrame
        One row per data set: ``groups``, ``replicate``, ``estimate``, and per number of
        groups the standard error ``se = sqrt((sd_slope^2 + sd_residual^2 / Sxx) / groups)``
        and ``share_below_zero`` (the share of data sets whose estimate is negative).

    Examples
    --------
    >>> draws = slope_sampling([0, 1, 2, 3], slope=1.0, sd_slope=0.5, sd_residual=1.0,
    ...                        n_groups=[4, 16], replicates=10)
    >>> draws.groupby("groups").size().tolist()
    [10, 10]
    """
    x = np.asarray(x, dtype=float)
    sxx = float(((x - x.mean()) ** 2).sum())
    if x.ndim != 1 or sxx <= 0:
        raise DataError(
            "slope_sampling needs x as one group's x values, with at least two different "
            f"values; got {x.tolist()!r}."
        )
    rng = np.random.default_rng(seed)
    frames = []
    for groups in n_groups:
        u = rng.normal(0.0, sd_slope, size=(replicates, groups))
        noise = rng.normal(0.0, sd_residual / np.sqrt(sxx), size=(replicates, groups))
        estimate = slope + (u + noise).mean(axis=1)
        frames.append(
            pd.DataFrame(
                {
                    "groups": int(groups),
                    "replicate": np.arange(replicates),
                    "estimate": estimate,
                    "se": np.sqrt((sd_slope**2 + sd_residual**2 / sxx) / groups),
                    "share_below_zero": float((estimate < 0).mean()),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def shrinkage_demo(
    n: int,
    between_variance: float,
    residual_variance: float,
    n_groups: int = 12,
    grand_mean: float = 50.0,
    seed: int = 2007,
) -> pd.DataFrame:
    """Raw group means and the random-intercept model's shrunken means, for fixed draws.

    The same standard-normal draws are rescaled for every setting, so moving a variance
    moves the same groups smoothly. Each raw mean is ``grand + s0 z_j + (se / sqrt(n)) w_j``;
    the shrunken mean is ``ybar + lambda (raw_j - ybar)`` with ``ybar`` the mean of the raw
    means and ``lambda = n s0^2 / (n s0^2 + se^2)`` (the seed's slide 7).

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``true_mean``, ``raw_mean``, ``shrunken_mean``;
        ``.attrs["factor"]`` is lambda and ``.attrs["grand_mean"]`` is ``ybar``.

    Examples
    --------
    >>> demo = shrinkage_demo(n=10, between_variance=4.0, residual_variance=40.0)
    >>> demo.attrs["factor"]
    0.5
    """
    draws = shrinkage_draws(n_groups, seed)
    z, w = draws["z"].to_numpy(), draws["w"].to_numpy()
    true_mean = grand_mean + np.sqrt(between_variance) * z
    raw = true_mean + np.sqrt(residual_variance / n) * w
    ybar = float(raw.mean())
    factor = shrinkage_factor(n, between_variance, residual_variance)
    data = pd.DataFrame(
        {
            "group": [f"g{j + 1:02d}" for j in range(n_groups)],
            "true_mean": true_mean,
            "raw_mean": raw,
            "shrunken_mean": ybar + factor * (raw - ybar),
        }
    )
    data.attrs.update(factor=factor, grand_mean=ybar)
    return data
