"""``mixnb.glmm``: hierarchical logistic and Poisson models (generalised linear mixed models)."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mixnb.design import build_design
from mixnb.errors import (
    ConvergenceWarning,
    DataError,
    ModelError,
    SingularFitWarning,
)
from mixnb.estimation.glmm import GlmmProblem, fit_glmm
from mixnb.estimation.pirls import Response, make_random
from mixnb.estimation.quadrature import NestedTree
from mixnb.estimation.separation import separated_columns
from mixnb.families import get_family
from mixnb.glmm_response import prepare_response
from mixnb.offset import prepare_rows
from mixnb.results.glmm import GlmmResult

#: Most quadrature points accepted (lme4 allows 25 for a single scalar random effect).
MAX_NAGQ = 25
#: The nested rule's cost per observation is nagq ** depth evaluations; keep it bounded.
MAX_NESTED_POINTS = 20_000


def _caller_namespace(depth: int = 2) -> dict[str, Any]:
    frame = sys._getframe(depth)
    return {**frame.f_globals, **frame.f_locals}


def glmm(
    formula: str,
    data: pd.DataFrame,
    family: str = "binomial",
    nagq: int = 1,
    weights: str | Any = None,
    offset: str | Any = None,
    *,
    link: str | None = None,
) -> GlmmResult:
    """Fit a generalised linear mixed model (hierarchical logistic or Poisson) by ML.

    Parameters
    ----------
    formula
        lme4's formula language, as for :func:`mixnb.lmm`:
        ``"y ~ x + (1 | hospital/physician)"``. A binomial response is 0/1 (or two labels),
        ``cbind(successes, failures)`` as lme4 writes it, or proportions with
        ``weights=`` the numbers of trials. ``offset(expr)`` terms add a known part to
        the linear predictor (``offset(np.log(exposure))`` for rates).
    data
        The data; never modified. Rows missing a used value are dropped and reported.
    family
        ``"binomial"`` (links ``"logit"``, default, ``"probit"``, ``"cloglog"``) or
        ``"poisson"`` (``"log"``).
    nagq
        Quadrature points: ``1`` the Laplace approximation (default), ``0`` lme4's fast
        first stage only (beta estimated inside PIRLS), ``> 1`` adaptive Gauss-Hermite
        quadrature: for a single scalar random effect (as lme4's ``nAGQ``) and, beyond
        lme4, for nested random intercepts (``(1 | a/b)``, ``(1 | a/b/c)``). The
        log-likelihood is on the same scale for every ``nagq``.
    weights
        Prior weights: a column name or one positive number per row (for a binomial
        proportion, its number of trials).
    offset
        A column name or one number per row added to the linear predictor.
    link
        Overrides the family's default link.

    Returns
    -------
    GlmmResult

    Examples
    --------
    >>> import mixnb
    >>> cbpp = mixnb.load_dataset("cbpp")
    >>> fit = mixnb.glmm("cbind(incidence, size - incidence) ~ C(period) + (1 | herd)", cbpp)
    >>> round(fit.loglik, 2)
    -92.03
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"data must be a pandas DataFrame, not {type(data).__name__}; "
            "wrap it with pandas.DataFrame(...)."
        )
    if isinstance(family, str) and family.lower() == "gaussian":
        raise ModelError(
            "family='gaussian' is a linear mixed model: fit it with mixnb.lmm, which "
            "estimates the residual variance and offers REML."
        )
    fam = get_family(family, link)
    nagq = _check_nagq(nagq)
    context = _caller_namespace()
    prepared = prepare_response(formula, data, fam.name, context)
    rows_kept = prepare_rows(
        prepared.formula, prepared.data, context, offset=offset, weights=weights
    )
    mean_formula, frame = rows_kept.formula, rows_kept.data
    offsets, prior = rows_kept.offsets, rows_kept.weights
    notes = ([prepared.note] if prepared.note else []) + rows_kept.notes
    design = build_design(
        mean_formula, frame, context=context, require_random=True, observation_level=True
    )
    rows = design.row_index
    y = design.y
    w = np.ones(len(y)) if prior is None else prior.loc[rows].to_numpy(dtype=float)
    if prepared.trials is not None:
        w = w * prepared.trials.loc[rows].to_numpy(dtype=float)
    fam.check_response(y, prepared.label)
    notes += _count_notes(fam.name, y, w, prepared.label)
    resp = Response(
        y=y,
        weights=w,
        offset=np.zeros(len(y)) if offsets is None else offsets.loc[rows].to_numpy(dtype=float),
        x=design.fixed.matrix,
        family=fam,
    )
    structure = make_random(design.random, len(y))
    _check_quadrature(nagq, structure)
    problem = GlmmProblem(resp, structure, nagq)
    separated = []
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        if problem.glm_fitted_extreme():
            separated = separated_columns(resp.x, y, w, fam.name, design.fixed.columns)
    if separated:
        notes.append(_separation_note(separated))
        warnings.warn(notes[-1], ConvergenceWarning, stacklevel=2)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        estimates = fit_glmm(problem)
    result = GlmmResult(
        design,
        estimates,
        formula,
        fam,
        resp,
        structure,
        response_label=prepared.label,
        extra_notes=notes,
        separated=separated,
        offset_terms=rows_kept.offset_terms,
        offset_argument=offset,
        weights_argument=weights,
        trials=prepared.trials is not None,
    )
    if estimates.singular_terms:
        warnings.warn(result.singular_note(), SingularFitWarning, stacklevel=2)
    if not estimates.converged:
        warnings.warn(result.convergence_note(), ConvergenceWarning, stacklevel=2)
    return result


def _check_nagq(nagq: Any) -> int:
    if (
        isinstance(nagq, bool)
        or not isinstance(nagq, int | np.integer)
        or not (0 <= nagq <= MAX_NAGQ)
    ):
        raise ModelError(
            f"nagq must be a whole number from 0 to {MAX_NAGQ}: 1 for the Laplace "
            "approximation (default), 0 for lme4's fast stage only, more for adaptive "
            f"Gauss-Hermite quadrature; got {nagq!r}."
        )
    return int(nagq)


def _check_quadrature(nagq: int, structure) -> None:
    if nagq <= 1:
        return
    if structure.grouped:
        if structure.q == 1:
            return
        raise ModelError(
            f"nagq={nagq} (adaptive quadrature) needs a single scalar random effect per "
            f"group, but the random part has {structure.q} effects per group (e.g. a random "
            "slope). Use nagq=1 (the Laplace approximation) for this model."
        )
    tree = NestedTree.detect(structure)
    if tree is None:
        raise ModelError(
            f"nagq={nagq} (adaptive quadrature) works for one scalar random effect or for "
            "nested random intercepts such as (1 | hospital/physician); this model's "
            "random terms are crossed or have slopes. Use nagq=1 (the Laplace approximation)."
        )
    if nagq**tree.depth > MAX_NESTED_POINTS:
        raise ModelError(
            f"nagq={nagq} on {tree.depth} nested levels evaluates each observation at "
            f"{nagq**tree.depth} points; use at most "
            f"{int(MAX_NESTED_POINTS ** (1 / tree.depth))} points for this depth."
        )


def _count_notes(family: str, y: np.ndarray, w: np.ndarray, label: str) -> list[str]:
    notes = []
    if family == "binomial":
        k = y * w
        if np.any(np.abs(k - np.round(k)) > 1e-7):
            notes.append(
                f"Some successes (the response {label!r} times its weight) are not whole "
                "numbers: for proportions give weights= the numbers of trials."
            )
    if family == "poisson" and np.any(np.abs(y - np.round(y)) > 1e-7):
        notes.append(f"The Poisson response {label!r} has values that are not whole counts.")
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=3)
    return notes


def _separation_note(columns: list[str]) -> str:
    names = ", ".join(map(repr, columns))
    return (
        f"The fixed effects are (quasi-)completely separated: a combination of {names} "
        "predicts some outcomes perfectly, so the likelihood keeps rising as their "
        "coefficients grow and the estimates and standard errors of these columns are not "
        "finite in truth (the numbers shown are where the optimiser stopped). Merge sparse "
        "categories, drop or recode these predictors, or use a penalised (Bayesian) fit."
    )
