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
from mixnb.results.comparison import LeastSquaresComparison, likelihood_ratio_table
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


def lmm(formula: str, data: pd.DataFrame, reml: bool = True, method: str = "PLS") -> LmmResult:
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
    method
        ``"PLS"`` (default): optimise lme4's profiled deviance. ``"IGLS"`` / ``"RIGLS"``:
        Goldstein's iterative generalised least squares (ML) and its restricted version
        (REML); ``reml`` is then implied by the method, and ``fit.history`` keeps the
        estimates and deviance of every iteration.

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
    method = method.upper()
    if method == "PLS":
        result = LmmResult(design, fit_lmm(design, reml=reml), formula)
    elif method in ("IGLS", "RIGLS"):
        from mixnb.estimation.igls import fit_igls

        estimates, history = fit_igls(design, restricted=method == "RIGLS")
        result = LmmResult(design, estimates, formula, history=history)
    else:
        raise MixnbError(f"Unknown method {method!r}: use 'PLS', 'IGLS' or 'RIGLS'.")
    for note, category in (
        (singular_note(result), SingularFitWarning),
        (convergence_note(result), ConvergenceWarning),
    ):
        if note:
            warnings.warn(note, category, stacklevel=2)
    return result


def compare(*fits, names: list[str] | None = None):
    """Compare nested models.

    Two least-squares fits: the F test of the extra terms (R's ``anova(small, big)``).
    Otherwise (any mixed model among them): likelihood-ratio tests in lme4's ``anova``
    layout, ordered by number of parameters. REML fits are compared by their REML
    likelihoods when their fixed parts agree, and refitted by ML otherwise (with a note).
    A least-squares fit can stand for the model without random effects. When the bigger
    model adds a variance, whose null value 0 lies on the boundary, the table also gives
    the chi-bar-square mixture p-value (``p_mixture``) and a note says why it differs.

    Parameters
    ----------
    *fits
        Results of :func:`ols` or :func:`lmm`, fitted to the same rows.
    names
        Labels for the models (default ``m1``, ``m2``, ... in the order given).

    Examples
    --------
    >>> import mixnb
    >>> data = mixnb.load_dataset("sleepstudy")
    >>> small = mixnb.ols("Reaction ~ 1", data)
    >>> big = mixnb.ols("Reaction ~ Days", data)
    >>> mixnb.compare(small, big).p < 1e-10
    True
    >>> ri = mixnb.lmm("Reaction ~ Days + (1 | Subject)", data, reml=False)
    >>> rs = mixnb.lmm("Reaction ~ Days + (Days | Subject)", data, reml=False)
    >>> round(float(mixnb.compare(ri, rs).table["chisq"].iloc[1]), 3)
    42.139
    """
    for fit in fits:
        if not isinstance(fit, OlsResult | LmmResult):
            raise MixnbError(
                f"compare() takes fits from mixnb.ols or mixnb.lmm, not {type(fit).__name__}."
            )
    labels = list(names) if names else [f"m{i + 1}" for i in range(len(fits))]
    if len(labels) != len(fits):
        raise MixnbError(f"{len(fits)} models but {len(labels)} names.")
    if len(fits) == 2 and all(isinstance(f, OlsResult) for f in fits):
        return LeastSquaresComparison(*fits)
    return likelihood_ratio_table(list(fits), labels)
