"""Comparisons of nested models."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mixnb.errors import ModelError
from mixnb.estimation.least_squares import nested_f_test
from mixnb.estimation.lmm import fit_lmm
from mixnb.estimation.lrt import chi_bar_square_p, chisq_p
from mixnb.results.base import Displayable
from mixnb.results.inference import LikelihoodRatioTable
from mixnb.results.least_squares import OlsResult
from mixnb.results.mixed import LmmResult


class LeastSquaresComparison(Displayable):
    """F test of nested least-squares models (R's ``anova(small, big)``).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model: ``df_resid``, ``rss``, and for the bigger model the extra
        ``df``, ``sum_sq``, ``F`` and ``p``.
    """

    def __init__(self, small: OlsResult, big: OlsResult) -> None:
        _check_nested(small, big)
        test = nested_f_test(small.estimates, big.estimates)
        self.formulas = [small.formula, big.formula]
        self.table = pd.DataFrame(
            {
                "df_resid": [small.df_resid, big.df_resid],
                "rss": [small.rss, big.rss],
                "df": [np.nan, test["df"]],
                "sum_sq": [np.nan, test["sum_sq"]],
                "F": [np.nan, test["F"]],
                "p": [np.nan, test["p"]],
            },
            index=pd.Index([1, 2], name="model"),
        )

    @property
    def f(self) -> float:
        return float(self.table["F"].iloc[1])

    @property
    def p(self) -> float:
        return float(self.table["p"].iloc[1])


def _check_nested(small: OlsResult, big: OlsResult) -> None:
    if not small.design.row_index.equals(big.design.row_index):
        raise ModelError(
            "The two models were fitted to different rows (different data, or different rows "
            "dropped for missing values), so their fits cannot be compared. Fit both to the "
            "same rows, e.g. drop missing values from the data first."
        )
    if small.df_resid <= big.df_resid:
        raise ModelError(
            f"The first model ({small.formula}) must be the smaller one: it has "
            f"{small.df_resid} residual df, the second {big.df_resid}. Swap them."
        )
    x_small, x_big = small.design.fixed.matrix, big.design.fixed.matrix
    coef, *_ = np.linalg.lstsq(x_big, x_small, rcond=None)
    leftover = np.linalg.norm(x_small - x_big @ coef) / max(np.linalg.norm(x_small), 1.0)
    if leftover > 1e-8:
        raise ModelError(
            f"The model {small.formula!r} is not nested in {big.formula!r}: the bigger model "
            "must contain every term of the smaller one. An F test needs nested models."
        )


# --------------------------------------------------------------------------- likelihood ratio


@dataclass(frozen=True)
class _Entry:
    """What a likelihood-ratio table needs from one fit."""

    label: str
    fit: object
    npar: int
    loglik: float
    variances: frozenset
    covariances: frozenset
    fixed: tuple[str, ...]


def _variance_keys(fit) -> tuple[frozenset, frozenset]:
    if not isinstance(fit, LmmResult):
        return frozenset(), frozenset()
    vc = fit.variance_components
    vc = vc[vc["group"] != "Residual"]
    keys = list(zip(vc["group"], vc["term1"], vc["term2"]))
    variances = frozenset(k for k in keys if k[1] == k[2])
    return variances, frozenset(k for k in keys if k[1] != k[2])


def _same_fixed_part(fits: list) -> bool:
    first = fits[0].design.fixed
    return all(
        f.design.fixed.columns == first.columns and np.allclose(f.design.fixed.matrix, first.matrix)
        for f in fits[1:]
    )


def _entry(label: str, fit, reml: bool) -> _Entry:
    variances, covariances = _variance_keys(fit)
    if isinstance(fit, LmmResult):
        loglik = fit.loglik
    else:
        loglik = -0.5 * fit.estimates.reml_criterion if reml else fit.loglik
    return _Entry(
        label,
        fit,
        fit.n_parameters,
        loglik,
        variances,
        covariances,
        tuple(fit.design.fixed.columns),
    )


def likelihood_ratio_table(fits: list, labels: list[str]) -> LikelihoodRatioTable:
    """Compare nested fits by their deviances (lme4's ``anova(m1, m2, ...)``)."""
    if len(fits) < 2:
        raise ModelError("compare() needs at least two fitted models.")
    _check_same_data(fits)
    notes: list[str] = []
    mixed = [f for f in fits if isinstance(f, LmmResult)]
    use_reml = bool(mixed) and all(f.reml for f in mixed) and _same_fixed_part(fits)
    if any(f.reml for f in mixed) and not use_reml:
        fits = [_ml_refit(f) if isinstance(f, LmmResult) and f.reml else f for f in fits]
        notes.append(
            "REML fits were refitted by maximum likelihood: REML likelihoods of models with "
            "different fixed effects cannot be compared."
        )
    entries = sorted(
        (_entry(label, f, use_reml) for label, f in zip(labels, fits)), key=lambda e: e.npar
    )
    rows, boundary_used = [], False
    for i, e in enumerate(entries):
        row = {
            "formula": e.fit.formula,
            "npar": e.npar,
            "aic": -2 * e.loglik + 2 * e.npar,
            "bic": -2 * e.loglik + e.npar * np.log(e.fit.nobs),
            "loglik": e.loglik,
            "deviance": -2 * e.loglik,
            "chisq": np.nan,
            "df": np.nan,
            "p": np.nan,
            "p_mixture": np.nan,
        }
        if i > 0:
            prev = entries[i - 1]
            stat = max(-2 * prev.loglik + 2 * e.loglik, 0.0)
            df = e.npar - prev.npar
            row.update(chisq=stat, df=df, p=chisq_p(stat, df))
            new_variances = len(e.variances - prev.variances)
            new_covariances = len(e.covariances - prev.covariances)
            if not (prev.variances <= e.variances and prev.covariances <= e.covariances):
                notes.append(
                    f"{prev.label} is not nested in {e.label} (their random parts differ), so "
                    "the chi-square test between them is not valid."
                )
            elif new_variances and df >= new_variances:
                boundary_used = True
                p_mix = chi_bar_square_p(stat, new_variances, df - new_variances)
                row["p_mixture"] = p_mix
                notes.append(
                    f"{e.label} adds {_added(new_variances, new_covariances)} to "
                    f"{prev.label} ({df} df). The test asks "
                    "whether a variance is zero, the smallest value a variance can take, so the "
                    "statistic does not follow the plain chi-square distribution: p = "
                    f"{row['p']:.3g} is too large (conservative). The chi-bar-square mixture "
                    f"(Self & Liang 1987; Stram & Lee 1994) gives p = {p_mix:.3g}."
                    + (
                        " With several new variances the binomial mixture weights assume they "
                        "are estimated independently; treat it as an approximation."
                        if new_variances > 1
                        else ""
                    )
                )
        rows.append(row)
    table = pd.DataFrame(rows, index=pd.Index([e.label for e in entries], name="model"))
    if not boundary_used:
        table = table.drop(columns="p_mixture")
    criterion = "REML" if use_reml else "ML"
    return LikelihoodRatioTable(f"Likelihood-ratio tests ({criterion} deviances)", table, notes)


def _added(variances: int, covariances: int) -> str:
    """``"1 variance and 1 covariance"``: what the bigger model adds, in words."""
    parts = [f"{variances} variance{'s' if variances != 1 else ''}"]
    if covariances:
        parts.append(f"{covariances} covariance{'s' if covariances != 1 else ''}")
    return " and ".join(parts)


def _ml_refit(fit: LmmResult) -> LmmResult:
    if hasattr(fit, "refit_ml"):  # a fit from cross-products refits from them
        return fit.refit_ml()
    return LmmResult(fit.design, fit_lmm(fit.design, reml=False), fit.formula)


def _response_summary(fit) -> tuple:
    """What identifies the data of a fit that keeps no rows (a fit from cross-products)."""
    design = fit.design
    if hasattr(fit, "response_sum_of_squares"):
        return design.response_name, design.nobs, design.n_dropped, fit.response_sum_of_squares
    y = design.y
    return design.response_name, design.nobs, design.n_dropped, float(y @ y)


def _same_data(first, other) -> bool:
    if getattr(first, "keeps_rows", True) and getattr(other, "keeps_rows", True):
        a, b = first.design, other.design
        return (
            b.row_index.equals(a.row_index)
            and b.response_name == a.response_name
            and np.array_equal(b.y, a.y)
        )
    # without the rows: the same response, counts and sum of squares (to rounding)
    a, b = _response_summary(first), _response_summary(other)
    return a[:3] == b[:3] and abs(a[3] - b[3]) <= 1e-10 * abs(a[3])


def _check_same_data(fits: list) -> None:
    for other in fits[1:]:
        if not _same_data(fits[0], other):
            raise ModelError(
                "The models were fitted to different data (different rows, different rows "
                "dropped for missing values, or a different response), so their likelihoods "
                "cannot be compared. Fit every model to the same rows of the same data."
            )
