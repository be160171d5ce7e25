"""Plain-text summaries in R's layouts (lme4's ``summary.merMod`` and ``summary.lm``).

These functions only format numbers the result objects already hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixnb.display.report import Report, lmm_report
from mixnb.results.gee import SE_LABELS

if TYPE_CHECKING:  # pragma: no cover
    from mixnb.results.comparison import LeastSquaresComparison
    from mixnb.results.gee import GeeResult
    from mixnb.results.inference import TestResult
    from mixnb.results.least_squares import OlsResult
    from mixnb.results.mcmc import McmcResult
    from mixnb.results.mixed import LmmResult


def format_p(p: float) -> str:
    """R's style for p-values: ``< 2e-16`` below machine precision, 3 significant digits."""
    if not np.isfinite(p):
        return "NA"
    if p < 2.2e-16:
        return "< 2e-16"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}"


def _table(frame: pd.DataFrame, index_title: str = "") -> str:
    """Right-aligned columns with the index on the left."""
    cells = [[index_title] + [str(c) for c in frame.columns]]
    for label, row in zip(frame.index, frame.itertuples(index=False)):
        cells.append([str(label)] + [str(v) for v in row])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = []
    for r in cells:
        first = r[0].ljust(widths[0])
        rest = " ".join(v.rjust(w) for v, w in zip(r[1:], widths[1:]))
        lines.append(f"{first} {rest}".rstrip())
    return "\n".join(lines)


def significant(
    x: float, digits: int = 4, missing: str = "", exponent: str = "e", largest: float = 1e7
) -> str:
    """``x`` to ``digits`` significant digits, plain from 1e-4 up to ``largest`` (R's and
    SAS's style; SAS writes ``missing="."``, ``exponent="E"``, ``largest=1e8``)."""
    if x is None or not np.isfinite(x):
        return missing
    if x == 0:
        return "0"
    if 1e-4 <= abs(x) < largest:
        decimals = max(digits - 1 - int(np.floor(np.log10(abs(x)))), 0)
        return f"{x:.{decimals}f}"
    return f"{x:.{digits - 1}{exponent}}"


def _left_table(frame: pd.DataFrame) -> str:
    """Text columns left-aligned, numbers right-aligned (for the variance table)."""
    cols = list(frame.columns)
    widths = {c: max(len(c), *(len(v) for v in frame[c])) for c in cols}
    left = {"Groups", "Name", "Corr"}

    def cell(col: str, v: str) -> str:
        return v.ljust(widths[col]) if col in left else v.rjust(widths[col])

    lines = [" ".join(cell(c, c) for c in cols).rstrip()]
    lines += [" ".join(cell(c, r[c]) for c in cols).rstrip() for _, r in frame.iterrows()]
    return "\n".join(" " + line for line in lines)


#: How the fixed-effects heading names each denominator-df method's tests.
TESTS_BY_DDF = {
    "satterthwaite": "t tests with Satterthwaite's degrees of freedom",
    "kenward-roger": "t tests with Kenward-Roger's degrees of freedom and standard errors",
    "between-within": "t tests with between-within degrees of freedom",
    "containment": "t tests with containment degrees of freedom",
    "residual": "t tests on n - p degrees of freedom",
    "normal": "z tests",
}


def lmm_summary(result: LmmResult, ddf: str | None = None) -> str:
    """lme4-style summary of a mixed model (``ddf``: the fixed-effect tests' df method):
    :func:`lme4_text` of the result's report."""
    return lme4_text(lmm_report(result, ddf))


def lme4_text(report: Report) -> str:
    """A mixed model's report in lme4's ``summary.merMod`` text layout.

    Reads the report's keyed parts: the criterion facts (``reml``, or ``aic``, ``bic``,
    ``loglik``, ``deviance``, ``npar``), ``nobs`` and ``groups:*``, the tables
    ``residuals``, ``random``, ``fixed`` and ``correlation``, and ``meta["ddf"]``. A model
    family whose report has these parts (a GLMM's: z tests, no residual row) gets the
    layout too.
    """
    lines = [f"{report.title} (mixnb)", f"Formula: {report.subtitle}", ""]
    reml = report.fact("reml")
    if reml is not None:
        lines.append(f"REML criterion at convergence: {reml.value:.4f}")
    else:
        values = [
            significant(report.fact(k).value, 6) for k in ("aic", "bic", "loglik", "deviance")
        ]
        columns = ["AIC", "BIC", "logLik", "deviance", "npar"]
        row = values + [str(report.fact("npar").value)]
        lines.append(_table(pd.DataFrame([row], columns=columns, index=[""])))
    residuals = report.table("residuals")
    random = report.table("random").frame.drop(columns="Std. Error")
    for column in ("Variance", "Std.Dev."):
        random[column] = random[column].map(significant)
    groups = [
        (f.label.removesuffix(" groups"), f.value)
        for f in report.facts
        if f.key.startswith("groups:")
    ]
    if residuals is not None:
        quantiles = residuals.frame.apply(lambda column: column.map(lambda v: f"{v:.4f}"))
        lines += ["", "Scaled residuals:", _table(quantiles.set_axis([""], axis=0))]
    lines += [
        "",
        "Random effects:",
        _left_table(random),
        f"Number of obs: {report.fact('nobs').value}, groups:  "
        + "; ".join(f"{name}, {n}" for name, n in groups),
        "",
    ]
    fe = report.table("fixed").frame
    stat = "t" if "t value" in fe.columns else "z"
    method = report.meta.get("ddf", "satterthwaite")
    lines.append(f"Fixed effects ({TESTS_BY_DDF.get(method, f'{stat} tests')}):")
    columns = {
        "Estimate": [significant(v, 5) for v in fe["Estimate"]],
        "Std. Error": [significant(v, 4) for v in fe["Std. Error"]],
    }
    if "df" in fe.columns:
        columns["df"] = [significant(v, 4) for v in fe["df"]]
    columns[f"{stat} value"] = [f"{v:.3f}" for v in fe[f"{stat} value"]]
    columns[f"Pr(>|{stat}|)"] = [format_p(v) for v in fe[f"Pr(>|{stat}|)"]]
    lines.append(_table(pd.DataFrame(columns, index=fe.index)))
    correlation = report.table("correlation")
    if correlation is not None:
        corr = correlation.frame
        body = corr.apply(lambda column: column.map(lambda v: "" if pd.isna(v) else f"{v:.3f}"))
        body.columns = [str(c)[:6] for c in corr.columns]
        lines += ["", "Correlation of Fixed Effects:", _table(body)]
    if report.notes:
        lines += [""] + [f"Note: {n}" for n in report.notes]
    return "\n".join(lines)


def ols_summary(result: OlsResult) -> str:
    """R ``summary.lm``-style summary of a least-squares fit."""
    co = result.coefficients
    shown = pd.DataFrame(
        {
            "Estimate": [significant(v, 5) for v in co["estimate"]],
            "Std. Error": [significant(v, 4) for v in co["std_error"]],
            "t value": [f"{v:.3f}" for v in co["t"]],
            "Pr(>|t|)": [format_p(v) for v in co["p"]],
        },
        index=co.index,
    )
    f, df1, df2, p = result.f_test
    lines = [
        "Least-squares fit (mixnb)",
        f"Formula: {result.formula}",
        "",
        "Residuals:",
        _table(
            pd.DataFrame(
                [[f"{v:.4f}" for v in result.residual_quantiles]],
                columns=result.residual_quantiles.index,
                index=[""],
            )
        ),
        "",
        "Coefficients:",
        _table(shown),
        "",
        f"Residual standard error: {significant(result.sigma)} on {result.df_resid} "
        "degrees of freedom",
        f"Multiple R-squared:  {result.rsquared:.4f},\tAdjusted R-squared:  "
        f"{result.rsquared_adj:.4f}",
    ]
    if np.isfinite(f):
        lines.append(
            f"F-statistic: {significant(f)} on {df1} and {df2} DF,  p-value: {format_p(p)}"
        )
    lines += [f"Note: {n}" for n in result.notes]
    return "\n".join(lines)


def comparison_text(result: LeastSquaresComparison) -> str:
    """R ``anova(small, big)``-style table for nested least-squares fits."""
    t = result.table
    shown = pd.DataFrame(
        {
            "Res.Df": t["df_resid"].map(str),
            "RSS": t["rss"].map(significant),
            "Df": t["df"].map(lambda v: "" if pd.isna(v) else str(int(v))),
            "Sum of Sq": t["sum_sq"].map(significant),
            "F": t["F"].map(significant),
            "Pr(>F)": t["p"].map(lambda v: "" if pd.isna(v) else format_p(v)),
        },
        index=t.index,
    )
    header = "Analysis of variance table (nested least-squares models)\n"
    models = "\n".join(f"Model {i + 1}: {f}" for i, f in enumerate(result.formulas))
    return header + models + "\n" + _table(shown)


def _cell(column: str, value) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if column.lower() in ("p", "p_mixture", "chisq_p") or column.startswith("Pr"):
        return format_p(float(value))
    if isinstance(value, int | np.integer):
        return str(value)
    if column in ("df", "numdf", "npar", "chisq_df") and float(value).is_integer():
        return str(int(value))
    return significant(float(value), 5)


def test_result_text(result: TestResult) -> str:
    """Any test result: its title, its table and its notes."""
    t = result.table
    shown = pd.DataFrame(
        {c: [_cell(c, v) for v in t[c]] for c in t.columns}, index=[str(i) for i in t.index]
    )
    lines = [result.title, "", _table(shown)]
    if result.notes:
        lines.append("")
        lines += [f"Note: {n}" for n in result.notes]
    return "\n".join(lines)


def plain_table_text(result: Any) -> str:
    """A title, a table printed by pandas (6 significant digits) and notes (bootstrap results)."""
    lines = [result.title, "", result.table.to_string(float_format=lambda v: f"{v:.6g}")]
    if result.notes:
        lines.append("")
        lines.extend(f"Note: {note}" for note in result.notes)
    return "\n".join(lines)


def gee_summary(result: GeeResult) -> str:
    """geepack's ``summary.geeglm`` layout for a GEE fit (t tests on K - p df by default)."""
    co = result.coefficients
    stat = "t" if "t" in co.columns else "z"
    columns = {
        "Estimate": [significant(v, 5) for v in co["estimate"]],
        "Std.err": [significant(v, 4) for v in co["std_error"]],
    }
    if "df" in co.columns:
        columns["df"] = [f"{v:.0f}" for v in co["df"]]
    columns[f"{stat} value"] = [f"{v:.3f}" for v in co[stat]]
    columns[f"Pr(>|{stat}|)"] = [format_p(v) for v in co["p"]]
    qic = result.qic
    lines = [
        "Generalised estimating equations (mixnb; geepack's estimators)",
        f"Formula: {result.formula}",
        f"Family: {result.family.label}",
        *([f"Prior weights: {result.weights_label}"] if result.weights_label else []),
        *([f"Offset: {result.offset_label}"] if result.offset_label else []),
        "",
        f" Coefficients ({SE_LABELS[result.se]} standard errors):",
        _table(pd.DataFrame(columns, index=co.index)),
        "",
        f"Correlation structure = {result.correlation}",
        "Estimated Scale Parameters:",
        "",
        _table(pd.DataFrame({"Estimate": [significant(result.scale, 5)]}, index=["(Intercept)"])),
    ]
    lines.append("  Link = identity")
    if len(result.alpha):
        lines += [
            "",
            "Estimated Correlation Parameters:",
            _table(
                pd.DataFrame(
                    {"Estimate": [significant(v, 5) for v in result.alpha]},
                    index=result.alpha.index,
                )
            ),
        ]
    sizes = result.cluster_sizes
    lines += [
        f"Number of clusters:   {result.n_clusters}  Maximum cluster size: {sizes.max()} ",
        f"QIC: {significant(qic['QIC'], 6)}  QICu: {significant(qic['QICu'], 6)}  "
        f"CIC: {significant(qic['CIC'], 5)}",
    ]
    lines += [f"Note: {n}" for n in result.notes]
    return "\n".join(lines)


def _posterior_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, median, SD, credible interval, R-hat and ESS, formatted."""
    return pd.DataFrame(
        {
            "Mean": [significant(v, 5) for v in table["mean"]],
            "Median": [significant(v, 5) for v in table["median"]],
            "SD": [significant(v, 4) for v in table["sd"]],
            "Lower": [significant(v, 5) for v in table["lower"]],
            "Upper": [significant(v, 5) for v in table["upper"]],
            "R-hat": [f"{v:.3f}" for v in table["rhat"]],
            "ESS bulk": [significant(v, 4) for v in table["ess_bulk"]],
            "ESS tail": [significant(v, 4) for v in table["ess_tail"]],
        },
        index=table.index,
    )


def mcmc_summary(result: McmcResult) -> str:
    """Posterior summaries of an MCMC fit: fixed effects, random part, notes."""
    lines = [
        f"{result.title} (mixnb)",
        f"Formula: {result.formula}",
        f"{result.chains} chains x {result.iterations} draws after {result.burn_in} burn-in; "
        + "groups: "
        + "; ".join(f"{k}, {v}" for k, v in result.fit.ngroups.items())
        + f"; observations: {result.fit.nobs}",
        "",
        f"Fixed effects (posterior; {100 * result.level:g}% equal-tailed credible intervals):",
        _table(_posterior_rows(result.fixed_effects)),
        "",
        "Random part (variances, SDs, covariances, correlations):",
        _table(_posterior_rows(result.variance_components.set_index("parameter"))),
    ]
    lines += [""] + [f"Note: {n}" for n in result.notes]
    return "\n".join(lines)
