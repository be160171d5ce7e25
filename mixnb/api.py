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
        Results of :func:`ols` or :func:`lmm`, fitted to the same rows; or only
        :func:`mixnb.glmm` fits (:meth:`GlmmResult.compare`).
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
    from mixnb.results.glmm import GlmmResult

    if fits and all(isinstance(fit, GlmmResult) for fit in fits):
        return fits[0].compare(*fits[1:], names=names)
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


def gee(
    formula: str,
    data: pd.DataFrame,
    groups: str = "id",
    family: str = "gaussian",
    correlation: str = "independence",
    time: str | None = None,
    *,
    link: str | None = None,
    weights: str | Any = None,
    offset: str | Any = None,
    se: str = "robust",
    df: str = "clusters",
    max_iterations: int = 100,
    tol: float = 1e-10,
):
    """Fit a marginal model by generalised estimating equations (geepack's ``geeglm``).

    Parameters
    ----------
    formula
        The mean model, in the same formula language as :func:`ols` (no random terms:
        GEE has none; for cluster-specific effects use :func:`lmm`). ``offset(expr)``
        terms (e.g. ``"y ~ trt + offset(np.log(weeks))"``) add a known part to the
        linear predictor, with no coefficient.
    data
        The data; never modified. Rows missing a used column (or the groups or time
        column) are dropped and reported.
    groups
        The column whose values identify the clusters (geepack's ``id``). Rows need not
        be sorted: they are ordered by cluster, then by ``time``.
    family
        ``"gaussian"``, ``"binomial"`` (0/1 responses) or ``"poisson"``; ``link``
        overrides the default link (binomial: ``"logit"``, ``"probit"``, ``"cloglog"``).
    correlation
        The working correlation: ``"independence"``, ``"exchangeable"``, ``"ar1"``
        (``alpha^|t_j - t_k|`` in time-index units) or ``"unstructured"``.
    time
        The column giving the time point of each row. Time points are numbered by the
        rank of their value among the distinct values (geepack's ``waves``), so a missing
        visit leaves a gap for ``"ar1"`` and ``"unstructured"``. Without it a row's time
        is its position within its cluster.
    se
        The standard errors the coefficient table uses: ``"robust"`` (sandwich, default),
        ``"naive"``, ``"df-adjusted"`` (x K/(K-p)), ``"mancl-derouen"``,
        ``"kauermann-carroll"``. Every kind is in ``fit.standard_errors``.
    df
        ``"clusters"``: t tests on K - p df (K clusters, p coefficients); ``"normal"``:
        z tests (geepack's).
    weights
        Prior weights (geepack's ``weights``): a column name or one positive number per
        row. A row of weight ``w`` counts as if its variance were ``phi V(mu) / w``:
        the estimating equations, the scale (``sum w r^2 / sum w``), the working
        correlation's moments (each pair weighted by ``w_j w_k``) and every standard
        error use them. For a binomial response of proportions, the weights are the
        numbers of trials.
    offset
        A column name or one number per row added to the linear predictor (with any
        ``offset()`` terms of the formula); rows where it is missing are dropped and
        counted.
    max_iterations, tol
        Iteration limit and tolerance on the largest change of any estimate.

    Returns
    -------
    GeeResult

    Examples
    --------
    >>> import mixnb
    >>> ohio = mixnb.load_dataset("ohio")
    >>> fit = mixnb.gee("resp ~ age * smoke", ohio, groups="id", family="binomial",
    ...                 correlation="exchangeable", time="age")
    >>> round(float(fit.alpha.iloc[0]), 4)
    0.3546
    """
    from mixnb.errors import DataError, FormulaError, MissingDataWarning, ModelError
    from mixnb.estimation.gee import fit_gee
    from mixnb.estimation.working_correlation import CORRELATIONS, make_clusters
    from mixnb.families import get_family
    from mixnb.formula import parse_formula
    from mixnb.offset import evaluate_offset, row_values, split_offset
    from mixnb.results.gee import GeeResult
    from mixnb.results.problems import describe_all

    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"data must be a pandas DataFrame, not {type(data).__name__}; "
            "wrap it with pandas.DataFrame(...)."
        )
    if parse_formula(formula).has_random:
        raise FormulaError(
            f"The formula {formula!r} has random-effect terms. A GEE (marginal model) has "
            "none: its clusters come from groups=, and their correlation from "
            "correlation=. For cluster-specific (conditional) effects fit a mixed model "
            "with mixnb.lmm (Gaussian) or mixnb.glmm (binomial, Poisson) instead."
        )
    correlation = str(correlation).lower()
    if correlation not in CORRELATIONS:
        raise ModelError(
            f"Unknown correlation {correlation!r}: use one of {', '.join(map(repr, CORRELATIONS))}."
        )
    fam = get_family(family, link)
    for name, role in ((groups, "groups"), (time, "time")):
        if name is not None and name not in data.columns:
            raise DataError(
                f"The {role} column {name!r} is not in the data (columns: "
                f"{', '.join(map(repr, map(str, data.columns[:20])))})."
            )
    context = _caller_namespace()
    mean_formula, offset_terms = split_offset(formula)
    offsets = evaluate_offset(offset_terms, data, context) if offset_terms else None
    given = row_values(offset, data, "offset")
    if given is not None:
        offsets = given if offsets is None else offsets + given
    prior_weights = row_values(weights, data, "weights")
    if prior_weights is not None:
        bad = prior_weights.notna() & (prior_weights <= 0)
        if bad.any():
            raise DataError(
                f"weights= must be positive, but {int(bad.sum())} of them are zero or "
                f"negative (e.g. {float(prior_weights[bad].iloc[0]):g}). A row of weight 0 "
                "carries no information: drop those rows instead."
            )
    keys = [groups] + ([time] if time is not None else [])
    reasons = {f"their {' or '.join(keys)} value": data[keys].isna().any(axis=1)}
    if offsets is not None:
        reasons["their offset"] = offsets.isna()
    if prior_weights is not None:
        reasons["their weight"] = prior_weights.isna()
    notes = []
    dropped = pd.Series(False, index=data.index)
    for reason, mask in reasons.items():
        new = mask & ~dropped
        if new.any():
            notes.append(
                f"{int(new.sum())} of {len(data)} rows were dropped because {reason} is missing."
            )
            warnings.warn(notes[-1], MissingDataWarning, stacklevel=2)
        dropped |= mask
    if dropped.any():
        data = data.loc[~dropped]
    design = build_design(mean_formula, data, context=context, forbid_random=True)
    frame = data.loc[design.row_index]
    clusters = make_clusters(
        frame[groups].to_numpy(), frame[time].to_numpy() if time is not None else None
    )
    if clusters.duplicated_times and correlation in ("ar1", "unstructured"):
        raise DataError(
            f"{clusters.duplicated_times} row(s) repeat a {time} value already present in "
            f"their cluster. The {correlation!r} working correlation needs one row per "
            f"cluster and time point: fix the duplicates or use 'exchangeable'."
        )
    p = design.fixed.matrix.shape[1]
    if clusters.layout.n_clusters <= p:
        raise ModelError(
            f"The model has {p} coefficients but only {clusters.layout.n_clusters} clusters "
            f"(groups={groups!r}). GEE's robust standard errors come from the variation "
            "between clusters, so it needs many more clusters than coefficients."
        )
    y = design.y[clusters.order]
    fam.check_response(y, design.response_name)
    x = design.fixed.matrix[clusters.order]

    def in_fit_order(values):
        return None if values is None else values.loc[design.row_index].to_numpy()[clusters.order]

    options = {
        "offset": in_fit_order(offsets),
        "weights": in_fit_order(prior_weights),
        "max_iterations": max_iterations,
        "tol": tol,
    }
    estimates = fit_gee(y, x, clusters.layout, fam, correlation, **options)

    def independence():
        # the independence fit of the same mean model, which QIC's penalty needs
        return fit_gee(y, x, clusters.layout, fam, "independence", **options)

    result = GeeResult(
        design,
        estimates,
        formula,
        fam,
        clusters,
        groups,
        time,
        se=se,
        df=df,
        extra_notes=notes,
        independence=None if correlation == "independence" else independence,
        offset_terms=offset_terms,
        offset_argument=offset,
        weights_argument=weights,
    )
    if estimates.problems:
        warnings.warn(" ".join(describe_all(estimates.problems)), ConvergenceWarning, stacklevel=2)
    return result
