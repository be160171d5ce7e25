"""Ordinary least squares: the traditional approach of the seed's first sections."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy import stats


@dataclass(frozen=True)
class LeastSquaresEstimates:
    """Coefficients and the sums of squares behind every least-squares table."""

    beta: np.ndarray
    vcov_beta: np.ndarray
    rss: float
    tss: float
    nobs: int
    df_model: int
    df_resid: int
    has_intercept: bool
    logdet_xtx: float = 0.0

    @property
    def loglik(self) -> float:
        """Gaussian log-likelihood at the ML variance ``RSS / n``."""
        n = self.nobs
        return -0.5 * n * (math.log(2 * math.pi * self.rss / n) + 1)

    @property
    def reml_criterion(self) -> float:
        """-2 REML log-likelihood: a mixed model's REML criterion with every variance at zero."""
        dof = self.df_resid
        return self.logdet_xtx + dof * (1 + math.log(2 * math.pi * self.rss / dof))

    @property
    def sigma2(self) -> float:
        """Residual variance ``RSS / (n - p)``."""
        return self.rss / self.df_resid if self.df_resid > 0 else float("nan")

    @property
    def rsquared(self) -> float:
        return 1.0 - self.rss / self.tss if self.tss > 0 else float("nan")

    @property
    def rsquared_adj(self) -> float:
        dof_total = self.nobs - (1 if self.has_intercept else 0)
        if self.df_resid <= 0 or dof_total <= 0:
            return float("nan")
        return 1.0 - (1.0 - self.rsquared) * dof_total / self.df_resid

    def overall_f(self) -> tuple[float, int, int, float]:
        """F statistic of all terms against the intercept-only (or empty) model, its dfs and p."""
        if self.df_model == 0 or self.df_resid <= 0:
            return float("nan"), self.df_model, self.df_resid, float("nan")
        f = ((self.tss - self.rss) / self.df_model) / (self.rss / self.df_resid)
        return f, self.df_model, self.df_resid, float(stats.f.sf(f, self.df_model, self.df_resid))


def has_intercept_column(x: np.ndarray) -> bool:
    """Whether a column of ``x`` is constant and non-zero (an intercept, however named)."""
    if x.shape[0] == 0:
        return False
    return bool(np.any(np.all(x == x[0], axis=0) & (x[0] != 0)))


def fit_least_squares(x: np.ndarray, y: np.ndarray) -> LeastSquaresEstimates:
    """Least squares by QR for a full-rank ``x`` (aliased columns dropped beforehand)."""
    n, p = x.shape
    q, r = np.linalg.qr(x)
    beta = scipy.linalg.solve_triangular(r, q.T @ y)
    resid = y - x @ beta
    rss = float(resid @ resid)
    intercept = has_intercept_column(x)
    tss = float(((y - y.mean()) ** 2).sum()) if intercept else float(y @ y)
    df_resid = n - p
    r_inv = scipy.linalg.solve_triangular(r, np.eye(p))
    sigma2 = rss / df_resid if df_resid > 0 else float("nan")
    return LeastSquaresEstimates(
        beta=beta,
        vcov_beta=sigma2 * (r_inv @ r_inv.T),
        rss=rss,
        tss=tss,
        nobs=n,
        df_model=p - (1 if intercept else 0),
        df_resid=df_resid,
        has_intercept=intercept,
        logdet_xtx=2.0 * float(np.log(np.abs(np.diag(r))).sum()),
    )


def nested_f_test(small: LeastSquaresEstimates, big: LeastSquaresEstimates) -> dict[str, float]:
    """F test of the terms in ``big`` that ``small`` lacks (R's ``anova(small, big)``)."""
    df = small.df_resid - big.df_resid
    ss = small.rss - big.rss
    f = (ss / df) / (big.rss / big.df_resid)
    return {"df": df, "sum_sq": ss, "F": f, "p": float(stats.f.sf(f, df, big.df_resid))}
