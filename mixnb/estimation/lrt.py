"""Likelihood-ratio tests, with the chi-bar-square reference for variances on the boundary.

When the bigger model adds ``m`` variances (whose null value 0 is the edge of the
parameter space) and ``c`` other parameters, the likelihood-ratio statistic is not
chi-square on ``m + c`` df but a mixture (Self & Liang 1987; Stram & Lee 1994):
``sum_j w_j chi2(c + j)`` for ``j = 0..m``. For one new variance the weights are 1/2, 1/2;
for several independent variances they are binomial, ``C(m, j) / 2^m``.
"""

from __future__ import annotations

from math import comb

from scipy import stats


def chisq_p(statistic: float, df: int) -> float:
    """Upper tail of chi-square on ``df`` df (df 0: a point mass at zero)."""
    if df <= 0:
        return 1.0 if statistic <= 0 else 0.0
    return float(stats.chi2.sf(max(statistic, 0.0), df))


def chi_bar_square_p(statistic: float, n_variances: int, n_other: int) -> float:
    """p-value of the boundary mixture ``sum_j C(m, j) 2^-m chi2(n_other + j)``."""
    m = n_variances
    return float(sum(comb(m, j) / 2**m * chisq_p(statistic, n_other + j) for j in range(m + 1)))
