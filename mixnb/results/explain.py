"""Plain-words notes about a fit, for students: what was dropped, what is singular, what failed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mixnb.estimation.covariance import column_scales
from mixnb.results.problems import describe_all

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
    parts, any_zero = [], False
    for k in result.estimates.singular_terms:
        block = result.design.random[k]
        cov = result.estimates.covariances[k]
        # judged in the scaled columns (mixnb.estimation.covariance), so not by the units
        scales = getattr(block, "scales", None)  # known without the rows (cross-products)
        scaled = np.diag(cov) * (column_scales(block.matrix) if scales is None else scales) ** 2
        zero = [c for c, v in zip(block.columns, scaled) if v < 1e-10 * result.sigma**2]
        if zero:
            any_zero = True
            parts.append(
                f"the variance of the random {', '.join(zero)} across {block.factor.name} "
                "groups is estimated as zero"
            )
        else:
            parts.append(
                f"the random effects for {block.factor.name} are perfectly correlated "
                "(a correlation of +1 or -1)"
            )
    meaning = (
        ". The groups differ no more than the residual noise alone would make them, so the "
        "data cannot support that part of the model."
        if any_zero
        else ". The groups' effects move in lockstep: the data cannot tell the correlated "
        "effects apart, so the random part has more parameters than the data support."
    )
    return (
        "Singular fit: "
        + "; ".join(parts)
        + meaning
        + " The other estimates are still valid, but consider a simpler random part (drop "
        "the term or the correlation) and compare the two models."
    )


def convergence_note(result: LmmResult) -> str | None:
    if result.converged:
        return None
    return (
        "Convergence trouble: "
        + "; ".join(describe_all(result.estimates.problems))
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
