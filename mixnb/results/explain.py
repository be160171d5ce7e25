"""Plain-words notes about a fit, for students: what was dropped, what is singular, what failed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mixnb.estimation.covariance import column_scales

if TYPE_CHECKING:  # pragma: no cover
    from mixnb.results.mixed import LmmResult


def dropped_rows_note(n_dropped: int, n_total: int, by_column: dict[str, int]) -> str | None:
    """A sentence about rows dropped for missing values, or None when none were."""
    if not n_dropped:
        return None
    detail = ", ".join(f"{col} ({k})" for col, k in by_column.items())
    return f"{n_dropped} of {n_total} rows were dropped because of missing values in: {detail}."


def design_notes(design) -> list[str]:
    """Notes on what building the design did to the data: dropped rows and columns."""
    notes = [
        dropped_rows_note(
            design.n_dropped, design.n_dropped + design.nobs, design.dropped_by_column
        )
    ]
    if design.fixed.dropped:
        notes.append(
            "Columns dropped because they are linear combinations of others: "
            + ", ".join(design.fixed.dropped)
            + "."
        )
    return [n for n in notes if n]


def singular_note(result: LmmResult) -> str | None:
    """Why a singular fit happened and what it means, in plain words."""
    if not result.is_singular:
        return None
    parts = []
    for k in result.estimates.singular_terms:
        block = result.design.random[k]
        cov = result.estimates.covariances[k]
        # judged in the scaled columns (mixnb.estimation.covariance), so not by the units
        scaled = np.diag(cov) * column_scales(block.matrix) ** 2
        zero = [c for c, v in zip(block.columns, scaled) if v < 1e-10 * result.sigma**2]
        if zero:
            parts.append(
                f"the variance of the random {', '.join(zero)} across {block.factor.name} "
                "groups is estimated as zero"
            )
        else:
            parts.append(
                f"the random effects for {block.factor.name} are perfectly correlated "
                "(a correlation of +1 or -1)"
            )
    return (
        "Singular fit: "
        + "; ".join(parts)
        + ". The groups differ no more than the residual noise alone would make them, so the "
        "data cannot support that part of the model. The other estimates are still valid, but "
        "consider a simpler random part (drop the term or the correlation) and compare the "
        "two models."
    )


def convergence_note(result: LmmResult) -> str | None:
    if result.converged:
        return None
    return (
        "Convergence trouble: "
        + "; ".join(result.estimates.problems)
        + ". Try centring predictors (their units do not matter: the fit is the same in any "
        "units), simplifying the random part, or check the data for mistakes."
    )


def fit_notes(result: LmmResult) -> list[str]:
    """Every note that applies to ``result``, in reading order."""
    design = result.design
    notes = [
        dropped_rows_note(
            design.n_dropped, design.n_dropped + design.nobs, design.dropped_by_column
        ),
        (
            "Fixed-effect columns dropped because they are linear combinations of others: "
            + ", ".join(design.fixed.dropped)
            + "."
            if design.fixed.dropped
            else None
        ),
        singular_note(result),
        convergence_note(result),
        *result.fixed_effects.attrs.get("notes", []),
        (
            "Variance-component standard errors are MLwiN's: from the expected information "
            "of the IGLS step, 1/2 tr(V^-1 V_i V^-1 V_j), at these estimates."
            if result.history is not None
            else None
        ),
    ]
    return [note for note in notes if note]


#: Plain words for the problem codes of a GEE fit (mixnb.estimation.gee).
GEE_PROBLEMS = {
    "iteration_limit": (
        "The estimating equations were not solved within the iteration limit: the "
        "coefficients were still changing. Try max_iterations=500; if the estimates keep "
        "moving, the working correlation may be a poor fit (try 'exchangeable' or "
        "'independence', whose coefficients are just as consistent)."
    ),
    "correlation_not_positive_definite": (
        "The estimated working correlation is not a valid correlation matrix (it is not "
        "positive definite), so the iteration stopped at the last valid estimates. geepack's "
        "moment estimator divides covariances by one overall scale, so when the variance "
        "changes much over time (e.g. growth data) the 'correlations' can exceed 1. Use a "
        "simpler structure ('exchangeable', 'ar1'), or model the change in spread (e.g. a "
        "log response): with GEE the coefficients stay consistent under any working "
        "correlation and the robust standard errors stay valid."
    ),
    "stopped_at_independence": (
        "No valid working correlation was reached at all: the estimates, standard errors and "
        "the matrix shown are those of the independence working correlation."
    ),
    "no_pairs": (
        "Every cluster has a single observation, so there are no pairs to estimate a "
        "correlation from: the fit is the independence one. Check the groups argument."
    ),
    "diverged": (
        "The coefficients diverged to infinity. Check for a predictor that separates the "
        "outcomes perfectly, or rescale predictors."
    ),
    "fitted_probability_boundary": (
        "Some fitted probabilities are numerically 0 or 1: a predictor (or combination) "
        "separates the outcomes completely or almost, and the coefficients for it drift "
        "towards infinity. Their estimates and standard errors are not to be trusted."
    ),
}


def gee_problem_notes(codes: list[str]) -> list[str]:
    """The plain-words notes for a GEE fit's problem codes, in order."""
    return [GEE_PROBLEMS.get(code, f"Problem: {code}.") for code in codes]
