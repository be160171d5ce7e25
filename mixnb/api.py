"""The functions a user calls: ``ols``, ``lmm`` and ``compare``."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import pandas as pd

from mixnb.design import build_design
from mixnb.errors import ConvergenceWarning, MixnbError, SingularFitWarning
from mixnb.estimation.least_squares import fit_least_squares
from mixnb.estimation.lmm import fit_lmm
from mixnb.results.comparison import LeastSquaresComparison
from mixnb.results.explain import convergence_note, singular_note
from mixnb.results.least_squares import OlsResult
from mixnb.results.mixed import LmmResult


def _caller_namespace(depth: int = 2) -> dict[str, Any]:
    """The caller's globals and locals, so formulas can use their functions (``np.log``)."""
    frame = sys._getframe(depth)
    return {**frame.f_globals, **frame.f_locals}


def ols(formula: str, data: pd.DataFrame) -> OlsResult:
    """Fit a linear model by ordinary least squares.

    Parameters
    ----------
    formula
        A Wilkinson formula such as ``"return ~ use + C(center)"``. String columns are
        categorical with 0-1 dummies and the first level (sorted) as reference; pick
        another reference with ``C(center, contr.treatment(base=4))`` or by making the
        column a ``pandas.Categorical`` whose first category is the reference.
    data
        The data; never modified. Rows with missing values in used columns are dropped
        and reported.

    Returns
    -------
    OlsResult

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.ols("Reaction ~ Days", mixnb.load_dataset("sleepstudy"))
    >>> round(fit.rsquared, 3)
    0.286
    """
    design = build_design(formula, data, context=_caller_namespace(), forbid_random=True)
    return OlsResult(design, fit_least_squares(design.fixed.matrix, design.y), formula)


def lmm(formula: str, data: pd.DataFrame, reml: bool = True) -> LmmResult:
    """Fit a linear mixed model by REML (default) or maximum likelihood.

    Parameters
    ----------
    formula
        lme4's formula language: ``"Reaction ~ Days + (Days | Subject)"``. Random terms
        ``(1 | g)``, ``(x | g)``, ``(0 + x | g)``, ``(x || g)`` (uncorrelated), nested
        ``(1 | a/b)``, interactions ``(1 | a:b)`` and crossed factors ``(1 | a) + (1 | b)``.
    data
        The data; never modified. Rows with missing values in used columns are dropped
        and reported.
    reml
        Restricted maximum likelihood (True, the default) or maximum likelihood.

    Returns
    -------
    LmmResult

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Reaction ~ Days + (Days | Subject)", mixnb.load_dataset("sleepstudy"))
    >>> round(fit.reml_criterion, 2)
    1743.63
    """
    design = build_design(formula, data, context=_caller_namespace(), require_random=True)
    result = LmmResult(design, fit_lmm(design, reml=reml), formula)
    for note, category in (
        (singular_note(result), SingularFitWarning),
        (convergence_note(result), ConvergenceWarning),
    ):
        if note:
            warnings.warn(note, category, stacklevel=2)
    return result


def compare(small: OlsResult, big: OlsResult) -> LeastSquaresComparison:
    """Compare two nested least-squares fits with an F test (R's ``anova(small, big)``).

    Examples
    --------
    >>> import mixnb
    >>> data = mixnb.load_dataset("sleepstudy")
    >>> small = mixnb.ols("Reaction ~ 1", data)
    >>> big = mixnb.ols("Reaction ~ Days", data)
    >>> mixnb.compare(small, big).p < 1e-10
    True
    """
    if not (isinstance(small, OlsResult) and isinstance(big, OlsResult)):
        raise MixnbError(
            "compare() takes two least-squares fits from mixnb.ols (smaller model first); "
            f"got {type(small).__name__} and {type(big).__name__}."
        )
    return LeastSquaresComparison(small, big)
