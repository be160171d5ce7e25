"""The functions a user calls: ``ols``, ``lmm`` and ``compare``."""

from __future__ import annotations

import difflib
import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mixnb.design import build_design, check_residual_left
from mixnb.errors import ConvergenceWarning, MixnbError, SingularFitWarning
from mixnb.estimation.least_squares import fit_least_squares
from mixnb.estimation.lmm import fit_lmm
from mixnb.results.comparison import LeastSquaresComparison, likelihood_ratio_table
from mixnb.results.explain import convergence_note, singular_note
from mixnb.results.glm import GlmResult
from mixnb.results.least_squares import OlsResult
from mixnb.results.mixed import LmmResult


def _caller_namespace(depth: int = 2) -> dict[str, Any]:
    """The caller's globals and locals, so formulas can use their functions (``np.log``)."""
    frame = sys._getframe(depth)
    return {**frame.f_globals, **frame.f_locals}


def _refuse_unknown_arguments(function: str, given: dict[str, Any], known: list[str]) -> None:
    """A clear error for a keyword the function does not have (``REML=`` for ``reml=``)."""
    if not given:
        return
    lines = []
    for name in given:
        near = [k for k in known if k.lower() == name.lower()]
        near = near or difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" Did you mean {near[0]}={given[name]!r}?" if near else ""
        lines.append(f"{function}() has no argument {name!r}.{hint}")
    lines.append(f"Its arguments are: {', '.join(known)}.")
    raise MixnbError(" ".join(lines))


def _check_reml(reml: Any) -> bool:
    if isinstance(reml, bool | np.bool_):
        return bool(reml)
    raise MixnbError(
        f"reml must be True or False, not {reml!r} ({type(reml).__name__}). "
        + (
            f"Write reml={reml.strip().capitalize()} without quotes."
            if isinstance(reml, str) and reml.strip().lower() in ("true", "false")
            else "Write reml=False for maximum likelihood, reml=True (the default) for REML."
        )
    )


def ols(formula: str, data: pd.DataFrame, **unknown: Any) -> OlsResult:
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
    _refuse_unknown_arguments("ols", unknown, ["formula", "data"])
    design = build_design(formula, data, context=_caller_namespace(), forbid_random=True)
    check_residual_left(design)
    return OlsResult(design, fit_least_squares(design.fixed.matrix, design.y), formula)


def lmm(
    formula: str, data: pd.DataFrame, reml: bool = True, method: str = "PLS", **unknown: Any
) -> LmmResult:
    """Fit a linear mixed model by REML (default) or maximum likelihood.

    Parameters
    ----------
    formula
        lme4's formula language: ``"Reaction ~ Days + (Days | Subject)"``. Random terms
        ``(1 | g)``, ``(x | g)``, ``(0 + x | g)``, ``(x || g)`` (uncorrelated), nested
        ``(1 | a/b)``, interactions ``(1 | a:b)`` and crossed factors ``(1 | a) + (1 | b)``.
    data
        The data; never modified. Rows with missing values in used columns are dropped
        and reported. A Dask DataFrame (``mixnb[dask]``, one grouping factor) is fitted
        from per-group cross-products formed partition by partition: the same estimates,
        and a :class:`~mixnb.results.crossproducts.CrossproductsResult` that keeps no
        rows (``docs/dask.md``).
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
    _refuse_unknown_arguments("lmm", unknown, ["formula", "data", "reml", "method"])
    reml = _check_reml(reml)
    method = _check_method(method)
    from mixnb.estimation.dask_fit import is_dask_dataframe

    if is_dask_dataframe(data):
        return _lmm_dask(formula, data, reml, method, _caller_namespace())
    design = build_design(formula, data, context=_caller_namespace(), require_random=True)
    check_residual_left(design)
    if method == "PLS":
        result = LmmResult(design, fit_lmm(design, reml=reml), formula)
    elif method in ("IGLS", "RIGLS"):
        from mixnb.estimation.igls import fit_igls

        estimates, history = fit_igls(design, restricted=method == "RIGLS")
        result = LmmResult(design, estimates, formula, history=history)
    _warn_fit(result)
    return result


def _warn_fit(result: LmmResult) -> None:
    for note, category in (
        (singular_note(result), SingularFitWarning),
        (convergence_note(result), ConvergenceWarning),
    ):
        if note:
            warnings.warn(note, category, stacklevel=3)


def _lmm_dask(formula: str, ddf: Any, reml: bool, method: str, context: dict):
    """:func:`lmm` on a Dask DataFrame: cross-products per partition, summed, then fitted."""
    from mixnb.estimation.dask_fit import dask_crossproducts

    if method.upper() != "PLS":
        raise MixnbError(
            f"method={method!r} needs the rows; a Dask DataFrame is fitted by 'PLS' (lme4's "
            "profiled deviance) from per-group cross-products."
        )
    crossproducts, encoding, n_partitions = dask_crossproducts(formula, ddf, context)
    return _fit_crossproducts(crossproducts, reml, formula, encoding, n_partitions)


def _fit_crossproducts(crossproducts, reml, formula, encoding=None, n_partitions=None):
    from mixnb.estimation.crossproducts import fit_crossproducts
    from mixnb.estimation.dask_fit import warn_dropped_columns
    from mixnb.results.crossproducts import CrossproductsResult

    fit = fit_crossproducts(crossproducts, reml=reml)
    result = CrossproductsResult(crossproducts, fit, formula, encoding, n_partitions)
    warn_dropped_columns(result.dropped_fixed_effects)
    _warn_fit(result)
    return result


def from_crossproducts(crossproducts, reml: bool = True, formula: str | None = None):
    """Fit a one-factor linear mixed model from its per-group cross-products.

    The entry point for any engine that can form sums where the data live (Spark, DuckDB,
    Polars, a database): with one grouping factor the fit depends on the rows only through
    ``Z_g'Z_g`` and ``Z_g'[X_g y_g]`` per group, ``[X y]'[X y]``, the number of rows and
    the column sums of ``Z``. :func:`mixnb.crossproducts` forms them for a pandas chunk,
    :func:`mixnb.combine_crossproducts` adds two chunks' (``docs/dask.md``).

    Parameters
    ----------
    crossproducts
        A :class:`~mixnb.estimation.crossproducts.GroupCrossproducts`, or the chunk
        statistics returned by :func:`mixnb.crossproducts` / :func:`mixnb.combine_crossproducts`.
    reml
        Restricted maximum likelihood (True, the default) or maximum likelihood.
    formula
        The formula, for the result's title (optional).

    Returns
    -------
    CrossproductsResult
        The in-memory fit's estimates, standard errors, Satterthwaite df, BLUPs and
        conditional variances; what needs the rows raises ``RowsNotAvailableError``.

    Examples
    --------
    >>> import mixnb
    >>> sleep = mixnb.load_dataset("sleepstudy")
    >>> formula = "Reaction ~ Days + (Days | Subject)"
    >>> halves = [mixnb.crossproducts(formula, part) for part in (sleep[:90], sleep[90:])]
    >>> fit = mixnb.from_crossproducts(mixnb.combine_crossproducts(*halves))
    >>> round(fit.reml_criterion, 2)
    1743.63
    """
    from mixnb.estimation.crossproducts import ChunkCrossproducts, finish

    encoding = None
    if isinstance(crossproducts, ChunkCrossproducts):
        formula = formula or crossproducts.formula
        encoding = crossproducts.encoding
        crossproducts = finish(crossproducts.statistics, encoding)
    return _fit_crossproducts(crossproducts, reml, formula, encoding)


def crossproducts(formula: str, data: pd.DataFrame, levels: dict | None = None):
    """The cross-products of one chunk of rows (a pandas DataFrame), for
    :func:`from_crossproducts`.

    Parameters
    ----------
    formula
        An lme4-style formula with one grouping factor.
    data
        The chunk; never modified. Incomplete rows are dropped and counted.
    levels
        For each string column used as a predictor, its levels across all chunks (so that
        every chunk has the same dummy columns); by default the chunk's own.

    Returns
    -------
    ChunkCrossproducts
        Add chunks with :func:`combine_crossproducts`.
    """
    from mixnb.estimation.crossproducts import ChunkCrossproducts, chunk_statistics
    from mixnb.estimation.encoding import learn_encoding, string_levels

    context = _caller_namespace()
    if not isinstance(data, pd.DataFrame):
        raise MixnbError(
            f"data must be a pandas DataFrame, not {type(data).__name__}; for a Dask "
            "DataFrame call mixnb.lmm(formula, ddf), which forms the chunks itself."
        )
    levels = string_levels(formula, data, context) if levels is None else levels
    encoding = learn_encoding(formula, data, levels, context)
    return ChunkCrossproducts(formula, encoding, chunk_statistics(data, encoding))


def combine_crossproducts(*parts):
    """The cross-products of several chunks together (from :func:`crossproducts`)."""
    from mixnb.estimation.crossproducts import ChunkCrossproducts, combine_all

    if not parts or not all(isinstance(p, ChunkCrossproducts) for p in parts):
        raise MixnbError("combine_crossproducts takes the results of mixnb.crossproducts.")
    first = parts[0]
    for part in parts[1:]:
        if part.encoding.columns() != first.encoding.columns():
            raise MixnbError(
                "The chunks were encoded with different columns "
                f"({first.encoding.columns()} and {part.encoding.columns()}), e.g. because a "
                "string predictor has other levels in another chunk: pass every chunk the "
                "same levels= (all the levels across the chunks)."
            )
    total = combine_all([p.statistics for p in parts])
    return ChunkCrossproducts(first.formula, first.encoding, total)


def _check_method(method: Any) -> str:
    name = str(method).upper()
    if name in ("PLS", "IGLS", "RIGLS"):
        return name
    hint = ""
    if name in ("ML", "MLE", "REML"):
        hint = " The method is the algorithm; ML or REML is chosen by reml: write " + (
            "reml=False for maximum likelihood." if name != "REML" else "reml=True (the default)."
        )
    raise MixnbError(f"Unknown method {method!r}: use 'PLS', 'IGLS' or 'RIGLS'.{hint}")


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


def glm(
    formula: str,
    data: pd.DataFrame,
    family: str = "binomial",
    *,
    link: str | None = None,
    weights: str | Any = None,
    offset: str | Any = None,
) -> GlmResult:
    """Fit a generalised linear model (no random effects) by IRLS, as R's ``glm``.

    The traditional logistic (or Poisson) regression that treats every row as
    independent: the seed's "traditional model" beside the hierarchical one.

    Parameters
    ----------
    formula
        The model in the formula language of :func:`ols` (no random terms), with
        ``offset(expr)`` terms allowed.
    data
        The data; never modified. Rows missing a used column, their offset or their
        weight are dropped and reported.
    family, link
        ``"binomial"`` (0/1 responses, or proportions with ``weights=`` trials; links
        ``"logit"``, ``"probit"``, ``"cloglog"``), ``"poisson"`` (log) or ``"gaussian"``.
    weights
        Prior weights: a column name or one positive number per row.
    offset
        A column name or one number per row added to the linear predictor.

    Returns
    -------
    GlmResult

    Examples
    --------
    >>> import mixnb
    >>> ohio = mixnb.load_dataset("ohio")
    >>> fit = mixnb.glm("resp ~ age + smoke", ohio, family="binomial")
    >>> fit.coefficients.columns.tolist()[:4]
    ['estimate', 'std_error', 'z', 'p']
    """
    from mixnb.errors import FormulaError
    from mixnb.estimation.glm import fit_glm
    from mixnb.families import get_family
    from mixnb.formula import parse_formula
    from mixnb.offset import OffsetSpec, prepare_rows
    from mixnb.results.problems import describe_all

    if isinstance(formula, str) and parse_formula(formula).has_random:
        raise FormulaError(
            f"The formula {formula!r} has random-effect terms, which a generalised linear "
            "model cannot fit: use mixnb.glmm for a hierarchical (mixed) model, or remove "
            "the '( ... | group)' terms."
        )
    fam = get_family(family, link)
    context = _caller_namespace()
    rows = prepare_rows(formula, data, context, offset=offset, weights=weights)
    design = build_design(rows.formula, rows.data, context=context, forbid_random=True)
    fam.check_response(design.y, design.response_name)

    def in_design(values):
        return None if values is None else values.loc[design.row_index].to_numpy()

    prior = in_design(rows.weights)
    estimates = fit_glm(
        design.fixed.matrix, design.y, fam, weights=prior, offset=in_design(rows.offsets)
    )
    result = GlmResult(
        design,
        estimates,
        formula,
        fam,
        weights=prior,
        offset_spec=OffsetSpec(tuple(rows.offset_terms), offset),
        extra_notes=rows.notes,
    )
    if estimates.problems:
        warnings.warn(" ".join(describe_all(estimates.problems)), ConvergenceWarning, stacklevel=2)
    return result


def marginal_vs_conditional(marginal: Any, conditional: Any):
    """A marginal model's coefficients beside a GLMM's, with the attenuation expected.

    Parameters
    ----------
    marginal
        A population-averaged fit: :func:`gee` (or the traditional :func:`glm`).
    conditional
        A cluster-specific fit of the same data: :func:`mixnb.glmm`.

    Returns
    -------
    MarginalVsConditional
        ``.table``: per shared coefficient, both estimates and SEs, their ratio and the
        ratio random intercepts of the GLMM's variance imply
        (:mod:`mixnb.results.marginal` gives the formulas).
    """
    from mixnb.results.marginal import MarginalVsConditional

    return MarginalVsConditional(marginal, conditional)


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
    from mixnb.errors import DataError, FormulaError, ModelError
    from mixnb.estimation.gee import fit_gee
    from mixnb.estimation.working_correlation import CORRELATIONS, make_clusters
    from mixnb.families import get_family
    from mixnb.formula import parse_formula
    from mixnb.offset import prepare_rows
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
    keys = (groups,) + ((time,) if time is not None else ())
    rows = prepare_rows(formula, data, context, offset=offset, weights=weights, keys=keys)
    data, offsets, prior_weights, notes = rows.data, rows.offsets, rows.weights, rows.notes
    mean_formula, offset_terms = rows.formula, rows.offset_terms
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
