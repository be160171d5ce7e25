"""What a result shows, as data: a :class:`Report` of title, key facts, tables and notes.

Every result type gets one function here that reads the result's public attributes and
says *what* to show; :mod:`mixnb.display.rich` says *how* (HTML, Markdown, LaTeX), once for
all of them, and :mod:`mixnb.display.text` lays the same results out as R's plain text.
Numbers stay numbers: each table column carries a format name, and the renderers turn
values into text.

Format names: ``"text"``, ``"int"``, ``"p"`` (R's p-value style), ``"df"`` (degrees of
freedom: whole numbers plain, others with 2 decimals), ``"sig:N"`` (N significant digits) and
``"fixed:N"`` (N decimals). Missing values (NaN, None) show as blank cells.

A new result type needs nothing here if it has a ``.table`` DataFrame (or a dict of them in
``.tables``) and optionally ``.title``, ``.formula``, ``.facts`` and ``.notes``: the generic
:func:`generic_report` shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import singledispatch
from typing import Any

import numpy as np
import pandas as pd

from mixnb.results.comparison import LeastSquaresComparison
from mixnb.results.gee import SE_LABELS, GeeResult
from mixnb.results.glm import GlmResult
from mixnb.results.least_squares import OlsResult
from mixnb.results.mcmc import McmcResult
from mixnb.results.mixed import LmmResult


@dataclass(frozen=True)
class Table:
    """One table of a report.

    Attributes
    ----------
    frame : pandas.DataFrame
        The cells, as values (numbers or text). Column names are the headers.
    formats : dict
        Column name to format name; a column not listed is ``"text"``.
    title : str
        A heading above the table (may be empty).
    index : str or None
        The header of the index column, or None to hide the index.
    collapsed : bool
        Shown folded (HTML ``<details>``) where the format allows it.
    key : str
        What the table is (``"fixed"``, ``"random"``, ...), for renderers that lay a
        report out in a fixed shape (lme4's text layout); empty for a generic table.
    """

    frame: pd.DataFrame
    formats: dict[str, str] = field(default_factory=dict)
    title: str = ""
    index: str | None = None
    collapsed: bool = False
    key: str = ""

    def format_of(self, column: Any) -> str:
        return self.formats.get(column, "text")


@dataclass(frozen=True)
class Fact:
    """A single labelled value in a report's header (``Observations: 180``)."""

    label: str
    value: Any
    format: str = "text"
    key: str = ""


@dataclass(frozen=True)
class Report:
    """Everything a display of a result shows, in reading order.

    ``meta`` holds what a fixed-shape layout needs beyond the tables (e.g. the name of
    the fixed-effect tests' df method); the generic renderers ignore it. :meth:`table` and
    :meth:`fact` find a part by its key.
    """

    title: str
    subtitle: str = ""
    facts: list[Fact] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def table(self, key: str) -> Table | None:
        """The table with this key (None if the report has none)."""
        return next((t for t in self.tables if t.key == key), None)

    def fact(self, key: str) -> Fact | None:
        """The fact with this key (None if the report has none)."""
        return next((f for f in self.facts if f.key == key), None)


# --------------------------------------------------------------------------- columns

#: Display names of the tidy column names the result tables use.
LABELS = {
    "estimate": "Estimate",
    "std_error": "Std. Error",
    "df": "df",
    "t": "t value",
    "z": "z value",
    "p": "p-value",
    "lower": "Lower",
    "upper": "Upper",
    "ci_lower": "Lower",
    "ci_upper": "Upper",
    "statistic": "Statistic",
    "df_resid": "Res. df",
    "rss": "RSS",
    "sum_sq": "Sum Sq",
    "mean_sq": "Mean Sq",
    "F": "F value",
    "F_scaling": "F scaling",
    "chisq": "Chisq",
    "loglik": "logLik",
    "deviance": "Deviance",
    "aic": "AIC",
    "bic": "BIC",
    "npar": "npar",
    "numdf": "NumDF",
    "dendf": "DenDF",
    "chisq_df": "Chisq df",
    "chisq_p": "Pr(>Chisq)",
    "p_mixture": "Pr (mixture)",
}

#: Formats of known tidy columns; others are guessed from their values.
FORMATS = {
    "df": "df",
    "df_resid": "df",
    "numdf": "df",
    "dendf": "df",
    "chisq_df": "df",
    "chisq_p": "p",
    "F_scaling": "sig:4",
    "estimate": "sig:5",
    "std_error": "sig:4",
    "t": "fixed:3",
    "z": "fixed:3",
    "F": "sig:4",
    "chisq": "sig:4",
    "statistic": "sig:4",
    "loglik": "sig:6",
    "deviance": "sig:6",
    "aic": "sig:6",
    "bic": "sig:6",
}

_P_NAMES = {"p", "p_value", "pvalue", "p.value", "pr", "Pr(>F)", "Pr(>Chisq)", "Pr(>|t|)"}


def guess_format(name: Any, values: pd.Series) -> str:
    """A format for a column from its name and values."""
    if str(name) in FORMATS:
        return FORMATS[str(name)]
    if str(name) in _P_NAMES or str(name).lower().startswith("p_"):
        return "p"
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "text"
    finite = values.dropna()
    if pd.api.types.is_integer_dtype(values) or (
        len(finite) and np.all(np.mod(finite.to_numpy(dtype=float), 1) == 0)
    ):
        return "int"
    return "sig:4"


def tidy_table(
    frame: pd.DataFrame,
    title: str = "",
    index: str | None = "",
    labels: dict[str, str] | None = None,
) -> Table:
    """A :class:`Table` from a tidy result table: known columns renamed, formats guessed.

    ``labels`` overrides :data:`LABELS` for this table. The index is shown (headed by
    ``index``, or by its name when ``index`` is ``""``) unless it is a plain 0, 1, 2, ...
    range.
    """
    names = {**LABELS, **(labels or {})}
    shown = frame.rename(columns={c: names.get(str(c), c) for c in frame.columns})
    formats = {names.get(str(c), c): guess_format(c, frame[c]) for c in frame.columns}
    if isinstance(frame.index, pd.RangeIndex):
        index = None
    elif index == "":
        index = "" if frame.index.name is None else str(frame.index.name)
    return Table(shown, formats, title=title, index=index)


def coefficient_table(frame: pd.DataFrame, title: str) -> Table:
    """Estimates with t (or z) tests, p-values headed as R does: ``Pr(>|t|)``, ``Pr(>|z|)``."""
    statistic = "z" if "z" in frame.columns and "t" not in frame.columns else "t"
    return tidy_table(frame, title=title, labels={"p": f"Pr(>|{statistic}|)"})


# --------------------------------------------------------------------------- mixed models


def lmm_report(result: Any, ddf: str | None = None) -> Report:
    """lme4's summary content for a :class:`~mixnb.results.mixed.LmmResult` (``ddf``: the
    fixed-effect tests' df method, the result's default when None).

    Every part has a key, so that lme4's text layout (:func:`mixnb.display.text.lme4_text`)
    renders the same report as HTML, Markdown and LaTeX do. What it shows follows the
    result: the REML criterion or the information criteria, t or z tests, a residual row
    only when the model has a dispersion.
    """
    facts = [Fact("Observations", result.nobs, "int", key="nobs")]
    facts += [
        Fact(f"{name} groups", n, "int", key=f"groups:{name}") for name, n in result.ngroups.items()
    ]
    if result.reml:
        facts.append(Fact("REML criterion", result.reml_criterion, "fixed:4", key="reml"))
    else:
        facts += [
            Fact("AIC", result.aic, "sig:6", key="aic"),
            Fact("BIC", result.bic, "sig:6", key="bic"),
            Fact("logLik", result.loglik, "sig:6", key="loglik"),
            Fact("Deviance", result.deviance, "sig:6", key="deviance"),
        ]
    facts.append(Fact("Parameters", result.n_parameters, "int", key="npar"))

    fixed = result.test_fixed(ddf) if ddf else result.fixed_effects
    tables = [
        random_effects_table(result),
        *_covariance_table(result),
        replace(coefficient_table(fixed, "Fixed effects"), key="fixed"),
    ]
    if getattr(result, "keeps_rows", True):  # a fit from cross-products has no residuals
        quantiles = _quantile_table(result.residual_quantiles, "Scaled residuals")
        tables.append(replace(quantiles, key="residuals"))
    if len(fixed) > 1:
        tables.append(_correlation_table(result.fixed_effects_correlation))
    return Report(
        title=result.title,
        subtitle=result.formula,
        facts=facts,
        tables=tables,
        notes=list(result.notes),
        meta={
            "ddf": fixed.attrs.get("ddf", "satterthwaite"),
            "ddf_requested": fixed.attrs.get("ddf"),
            # what SAS's layout (mixnb.display.sas) shows beyond lme4's
            "response": result.design.response_name,
            "reml": bool(result.reml),
            "fixed_columns": len(result.design.fixed.columns),
            "n_dropped": result.n_dropped,
            "random_blocks": [(b.factor.name, tuple(b.columns)) for b in result.design.random],
            "ngroups": dict(result.ngroups),
            "variance_components": result.variance_components,
            "criteria": {"deviance": result.deviance, "aic": result.aic, "bic": result.bic},
        },
    )


def random_effects_table(result: Any) -> Table:
    """Groups, Name, Variance, its Std. Error, Std.Dev. and correlations (lme4's layout)."""
    rows = []
    has_corr = False
    for group, block in _variance_blocks(result):
        variances = block[block["term1"] == block["term2"]]
        covs = block[block["term1"] != block["term2"]]
        names = list(variances["term1"])
        for i, (_, var) in enumerate(variances.iterrows()):
            corr = []
            for j in range(i):
                match = covs[(covs["term1"] == names[j]) & (covs["term2"] == names[i])]
                corr.append(f"{match['sd_corr'].iloc[0]:.2f}" if len(match) else "")
            has_corr = has_corr or any(corr)
            rows.append(
                {
                    "Groups": group if i == 0 else "",
                    "Name": var["term1"],
                    "Variance": var["estimate"],
                    "Std. Error": var["std_error"],
                    "Std.Dev.": var["sd_corr"],
                    "Corr": " ".join(corr),
                }
            )
    frame = pd.DataFrame(rows)
    if not has_corr:
        frame = frame.drop(columns="Corr")
    formats = {"Variance": "sig:4", "Std. Error": "sig:4", "Std.Dev.": "sig:4"}
    return Table(frame, formats, title="Random effects", key="random")


def _variance_blocks(result: Any) -> list[tuple[str, pd.DataFrame]]:
    """Rows of the variance table, one chunk per random term, then the residual."""
    vc = result.variance_components
    out, start = [], 0
    for block in result.design.random:
        stop = start + block.n_columns * (block.n_columns + 1) // 2
        out.append((block.factor.name, vc.iloc[start:stop]))
        start = stop
    if start < len(vc):  # a model with a dispersion (Gaussian): the residual row
        out.append(("Residual", vc.iloc[start:]))
    return out


def _covariance_table(result: Any) -> list[Table]:
    """The covariances with their standard errors (the seed's slide 6), if the model has any."""
    vc = result.variance_components
    covs = vc[(vc["term1"] != vc["term2"]) & (vc["group"] != "Residual")]
    if covs.empty:
        return []
    frame = pd.DataFrame(
        {
            "Groups": covs["group"].to_numpy(),
            "Terms": [f"{a}, {b}" for a, b in zip(covs["term1"], covs["term2"], strict=True)],
            "Covariance": covs["estimate"].to_numpy(),
            "Std. Error": covs["std_error"].to_numpy(),
        }
    )
    formats = {"Covariance": "sig:4", "Std. Error": "sig:4"}
    return [Table(frame, formats, title="Random-effect covariances")]


def _quantile_table(quantiles: pd.Series, title: str) -> Table:
    frame = pd.DataFrame([quantiles.to_numpy()], columns=list(quantiles.index))
    return Table(frame, dict.fromkeys(frame.columns, "fixed:4"), title=title)


def _correlation_table(corr: pd.DataFrame) -> Table:
    """Lower triangle of the fixed-effect correlations, folded away by default."""
    values = corr.to_numpy()
    lower = np.where(np.tri(len(corr), k=-1, dtype=bool), values, np.nan)
    frame = pd.DataFrame(lower[1:, :-1], index=corr.index[1:], columns=corr.columns[:-1])
    return Table(
        frame,
        dict.fromkeys(frame.columns, "fixed:3"),
        title="Correlation of fixed effects",
        index="",
        collapsed=True,
        key="correlation",
    )


# --------------------------------------------------------------------------- least squares


def ols_report(result: Any) -> Report:
    """R's ``summary.lm`` content for an :class:`~mixnb.results.least_squares.OlsResult`."""
    f, df1, df2, p = result.f_test
    facts = [
        Fact("Observations", result.nobs, "int", key="nobs"),
        Fact("Residual std. error", result.sigma, "sig:4", key="sigma"),
        Fact("Residual df", result.df_resid, "int", key="df_resid"),
        Fact("R-squared", result.rsquared, "fixed:4", key="rsquared"),
        Fact("Adjusted R-squared", result.rsquared_adj, "fixed:4", key="rsquared_adj"),
    ]
    if np.isfinite(f):
        facts += [
            Fact(f"F statistic on {df1} and {df2} df", f, "sig:4", key="f"),
            Fact("p-value (F)", p, "p", key="f_p"),
        ]
    return Report(
        title="Least-squares fit",
        subtitle=result.formula,
        facts=facts,
        tables=[
            replace(coefficient_table(result.coefficients, "Coefficients"), key="fixed"),
            replace(_quantile_table(result.residual_quantiles, "Residuals"), key="residuals"),
        ],
        notes=list(result.notes),
        meta={"f_df": (df1, df2)},
    )


def glm_report(result: Any) -> Report:
    """R's ``summary.glm`` content for a :class:`~mixnb.results.glm.GlmResult`."""
    facts = [
        Fact("Observations", result.nobs, "int", key="nobs"),
        Fact("Family", result.family.label, key="family"),
        Fact("Null deviance", result.null_deviance, "sig:6", key="null_deviance"),
        Fact("Residual deviance", result.deviance, "sig:6", key="deviance"),
        Fact("Residual df", result.df_resid, "int", key="df_resid"),
        Fact("Log-likelihood", result.loglik, "sig:6", key="loglik"),
        Fact("AIC", result.aic, "sig:6", key="aic"),
    ]
    if not result.family.scale_fixed:
        facts.insert(2, Fact("Dispersion", result.dispersion, "sig:5", key="dispersion"))
    if result.offset_spec.label:
        facts.insert(2, Fact("Offset", result.offset_spec.label, key="offset"))
    tables = [replace(coefficient_table(result.coefficients, "Coefficients"), key="fixed")]
    if result.family.link.name in ("logit", "log"):
        ratios = result.ratios()
        tables.append(
            Table(
                ratios,
                dict.fromkeys(ratios.columns, "sig:4"),
                title="Odds ratios" if result.family.link.name == "logit" else "Rate ratios",
                index="term",
                key="ratios",
            )
        )
    return Report(
        title="Generalised linear model (no random effects)",
        subtitle=result.formula,
        facts=facts,
        tables=tables,
        notes=list(result.notes),
        meta={
            "family": result.family.name,
            "dispersion": result.dispersion,
            "iterations": result.estimates.iterations,
        },
    )


def comparison_report(result: Any) -> Report:
    """R's ``anova(small, big)`` for a :class:`~mixnb.results.comparison.LeastSquaresComparison`."""
    t = result.table
    frame = pd.DataFrame(
        {
            "Res. df": t["df_resid"].to_numpy(),
            "RSS": t["rss"].to_numpy(),
            "df": t["df"].to_numpy(),
            "Sum Sq": t["sum_sq"].to_numpy(),
            "F value": t["F"].to_numpy(),
            "Pr(>F)": t["p"].to_numpy(),
        },
        index=t.index,
    )
    formats = {
        "Res. df": "int",
        "RSS": "sig:5",
        "df": "int",
        "Sum Sq": "sig:5",
        "F value": "sig:4",
        "Pr(>F)": "p",
    }
    return Report(
        title="Analysis of variance: nested least-squares models",
        facts=[Fact(f"Model {i + 1}", f) for i, f in enumerate(result.formulas)],
        tables=[Table(frame, formats, title="F test", index="Model")],
        notes=list(getattr(result, "notes", []) or []),
    )


# --------------------------------------------------------------------------- GEE


def gee_report(result: Any) -> Report:
    """geepack's summary content for a :class:`~mixnb.results.gee.GeeResult`."""
    sizes = result.cluster_sizes
    qic = result.qic
    facts = [
        Fact("Observations", result.nobs, "int", key="nobs"),
        Fact("Clusters", result.n_clusters, "int", key="clusters"),
        Fact(
            "Cluster size",
            f"{sizes.min()}-{sizes.max()}" if sizes.min() < sizes.max() else f"{sizes.min()}",
        ),
        Fact("Family", result.family.label, key="family"),
        Fact("Working correlation", result.correlation, key="correlation"),
        Fact("Scale", result.scale, "sig:5", key="scale"),
        Fact("Standard errors", SE_LABELS[result.se], key="se"),
        Fact("df", result.df_resid, "df"),
        Fact("QIC", qic["QIC"], "sig:6", key="qic"),
        Fact("QICu", qic["QICu"], "sig:6", key="qicu"),
        Fact("CIC", qic["CIC"], "sig:5", key="cic"),
        Fact("Iterations", result.iterations, "int"),
    ]
    if result.n_missing_times:
        facts.insert(3, Fact("Missing time points", result.n_missing_times, "int"))
    at = next(i for i, f in enumerate(facts) if f.label == "Family") + 1
    if result.offset_label:
        facts.insert(at, Fact("Offset", result.offset_label, key="offset"))
    if result.weights_label:
        facts.insert(at, Fact("Prior weights", result.weights_label, key="weights"))
    se = result.standard_errors.rename(columns=SE_LABELS)
    tables = [
        replace(
            coefficient_table(result.coefficients, "Coefficients (population-averaged)"),
            key="fixed",
        ),
        Table(
            se,
            dict.fromkeys(se.columns, "sig:4"),
            title="Standard errors by method",
            index="term",
            collapsed=True,
        ),
    ]
    if result.correlation != "independence":
        wc = result.working_correlation
        frame = pd.DataFrame(
            wc.to_numpy(), index=[str(i) for i in wc.index], columns=[str(c) for c in wc.columns]
        )
        tables.append(
            Table(
                frame,
                dict.fromkeys(frame.columns, "fixed:3"),
                title=f"Working correlation ({result.correlation}) over {wc.index.name}",
                index=str(wc.index.name),
            )
        )
    return Report(
        title="Marginal model fit by generalised estimating equations",
        subtitle=result.formula,
        facts=facts,
        tables=tables,
        notes=_as_notes(getattr(result, "notes", None)),
        meta={"alpha": result.alpha, "largest_cluster": int(sizes.max())},
    )


# --------------------------------------------------------------------------- MCMC


def mcmc_report(result: Any) -> Report:
    """Posterior summaries of a :class:`~mixnb.results.mcmc.McmcResult`."""
    labels = {
        "mean": "Mean",
        "median": "Median",
        "sd": "SD",
        "mcse_mean": "MCSE",
        "ess_bulk": "ESS bulk",
        "ess_tail": "ESS tail",
        "rhat": "R-hat",
    }
    formats = {
        "Mean": "sig:5",
        "Median": "sig:5",
        "SD": "sig:4",
        "Lower": "sig:5",
        "Upper": "sig:5",
        "MCSE": "sig:2",
        "ESS bulk": "fixed:0",
        "ESS tail": "fixed:0",
        "R-hat": "fixed:3",
    }
    columns = [
        "mean",
        "median",
        "sd",
        "lower",
        "upper",
        "mcse_mean",
        "ess_bulk",
        "ess_tail",
        "rhat",
    ]

    def table(frame: pd.DataFrame, title: str, index: str, key: str) -> Table:
        shown = frame[columns].rename(columns={**LABELS, **labels})
        return Table(shown, formats, title=title, index=index, key=key)

    facts = [Fact(str(k), v, guess_format(k, pd.Series([v]))) for k, v in result.facts.items()]
    facts = [
        Fact(f.label, f.value, "fixed:3" if f.label == "Largest R-hat" else f.format)
        if f.label != "Smallest ESS"
        else Fact(f.label, f.value, "fixed:0")
        for f in facts
    ]
    level = f"{100 * result.level:g}%"
    return Report(
        title=result.title,
        subtitle=result.formula,
        facts=facts,
        tables=[
            table(
                result.fixed_effects,
                f"Fixed effects (posterior, {level} intervals)",
                "term",
                "fixed",
            ),
            table(
                result.variance_components.set_index("parameter"),
                "Random part (variances, SDs, covariances, correlations)",
                "parameter",
                "random",
            ),
        ],
        notes=list(result.notes),
        meta={
            "chains": result.chains,
            "iterations": result.iterations,
            "burn_in": result.burn_in,
            "ngroups": dict(result.fit.ngroups),
            "nobs": result.fit.nobs,
            "level": result.level,
        },
    )


# --------------------------------------------------------------------------- anything else


def _title_from_class(obj: Any) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", type(obj).__name__)
    return words[:1].upper() + words[1:].lower()


def _as_notes(notes: Any) -> list[str]:
    if not notes:
        return []
    if isinstance(notes, str):
        return [notes]
    return [str(n) for n in notes]


def generic_report(result: Any) -> Report:
    """A report for any object with ``.table`` (or ``.tables``) and optional title, notes.

    ``.tables`` may be a dict of title to DataFrame; ``.facts`` a dict of label to value.
    """
    tables: list[Table] = []
    many = getattr(result, "tables", None)
    if isinstance(many, dict):
        tables += [tidy_table(frame, title=str(name)) for name, frame in many.items()]
    single = getattr(result, "table", None)
    if isinstance(single, pd.DataFrame):
        tables.insert(0, tidy_table(single))
    facts_in = getattr(result, "facts", None)
    facts = []
    if isinstance(facts_in, dict):
        for label, value in facts_in.items():
            fmt = guess_format(label, pd.Series([value]))
            facts.append(Fact(str(label), value, fmt))
    subtitle = getattr(result, "formula", "")
    return Report(
        title=str(getattr(result, "title", None) or _title_from_class(result)),
        subtitle=subtitle if isinstance(subtitle, str) else "",
        facts=facts,
        tables=tables,
        notes=_as_notes(getattr(result, "notes", None)),
    )


@singledispatch
def build_report(result: Any) -> Report:
    """The :class:`Report` of any result: the layout registered for its type, else generic.

    A new result type registers its layout with ``@build_report.register`` (see
    ``docs/architecture.md``); anything else with a ``.table`` gets :func:`generic_report`.

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.ols("Reaction ~ Days", mixnb.load_dataset("sleepstudy"))
    >>> report = build_report(fit)
    >>> report.title, [t.title for t in report.tables]
    ('Least-squares fit', ['Coefficients', 'Residuals'])
    """
    return generic_report(result)


def _itself(report: Report) -> Report:
    return report


build_report.register(Report, _itself)
build_report.register(LmmResult, lmm_report)
build_report.register(McmcResult, mcmc_report)
build_report.register(OlsResult, ols_report)
build_report.register(LeastSquaresComparison, comparison_report)
build_report.register(GeeResult, gee_report)
build_report.register(GlmResult, glm_report)
