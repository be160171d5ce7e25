"""Plain-text summaries in R's layouts (lme4's ``summary.merMod`` and ``summary.lm``).

These functions only format numbers the result objects already hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixnb.display.report import (
    Report,
    gee_report,
    glm_report,
    lmm_report,
    mcmc_report,
    ols_report,
)

if TYPE_CHECKING:  # pragma: no cover
    from mixnb.results.comparison import LeastSquaresComparison
    from mixnb.results.gee import GeeResult
    from mixnb.results.glm import GlmResult
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
    """R ``summary.lm``-style summary of a least-squares fit: :func:`lm_text` of its report."""
    return lm_text(ols_report(result))


def _coefficient_rows(fe: pd.DataFrame) -> dict[str, list[str]]:
    """A report's coefficient table (R's column names) formatted as R prints it."""
    stat = "t" if "t value" in fe.columns else "z"
    columns = {
        "Estimate": [significant(v, 5) for v in fe["Estimate"]],
        "Std. Error": [significant(v, 4) for v in fe["Std. Error"]],
    }
    columns[f"{stat} value"] = [f"{v:.3f}" for v in fe[f"{stat} value"]]
    columns[f"Pr(>|{stat}|)"] = [format_p(v) for v in fe[f"Pr(>|{stat}|)"]]
    return columns


def lm_text(report: Report) -> str:
    """A least-squares report (:func:`~mixnb.display.report.ols_report`) in R's
    ``summary.lm`` layout."""
    quantiles = report.table("residuals").frame
    fe = report.table("fixed").frame
    lines = [
        "Least-squares fit (mixnb)",
        f"Formula: {report.subtitle}",
        "",
        "Residuals:",
        _table(quantiles.apply(lambda c: c.map(lambda v: f"{v:.4f}")).set_axis([""], axis=0)),
        "",
        "Coefficients:",
        _table(pd.DataFrame(_coefficient_rows(fe), index=fe.index)),
        "",
        f"Residual standard error: {significant(report.fact('sigma').value)} on "
        f"{report.fact('df_resid').value} degrees of freedom",
        f"Multiple R-squared:  {report.fact('rsquared').value:.4f},\tAdjusted R-squared:  "
        f"{report.fact('rsquared_adj').value:.4f}",
    ]
    f = report.fact("f")
    if f is not None:
        df1, df2 = report.meta["f_df"]
        lines.append(
            f"F-statistic: {significant(f.value)} on {df1} and {df2} DF,  p-value: "
            f"{format_p(report.fact('f_p').value)}"
        )
    lines += [f"Note: {n}" for n in report.notes]
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
    """geepack's ``summary.geeglm`` layout for a GEE fit: :func:`geepack_text` of its report."""
    return geepack_text(gee_report(result))


def geepack_text(report: Report) -> str:
    """A GEE report (:func:`~mixnb.display.report.gee_report`) in geepack's layout (t tests
    on K - p df by default)."""
    fe = report.table("fixed").frame
    stat = "t" if "t value" in fe.columns else "z"
    columns = {
        "Estimate": [significant(v, 5) for v in fe["Estimate"]],
        "Std.err": [significant(v, 4) for v in fe["Std. Error"]],
    }
    if "df" in fe.columns:
        columns["df"] = [f"{v:.0f}" for v in fe["df"]]
    columns[f"{stat} value"] = [f"{v:.3f}" for v in fe[f"{stat} value"]]
    columns[f"Pr(>|{stat}|)"] = [format_p(v) for v in fe[f"Pr(>|{stat}|)"]]
    alpha = report.meta["alpha"]
    weights, offset = report.fact("weights"), report.fact("offset")
    lines = [
        "Generalised estimating equations (mixnb; geepack's estimators)",
        f"Formula: {report.subtitle}",
        f"Family: {report.fact('family').value}",
        *([f"Prior weights: {weights.value}"] if weights else []),
        *([f"Offset: {offset.value}"] if offset else []),
        "",
        f" Coefficients ({report.fact('se').value} standard errors):",
        _table(pd.DataFrame(columns, index=fe.index)),
        "",
        f"Correlation structure = {report.fact('correlation').value}",
        "Estimated Scale Parameters:",
        "",
        _table(
            pd.DataFrame(
                {"Estimate": [significant(report.fact("scale").value, 5)]}, index=["(Intercept)"]
            )
        ),
    ]
    lines.append("  Link = identity")
    if len(alpha):
        lines += [
            "",
            "Estimated Correlation Parameters:",
            _table(
                pd.DataFrame(
                    {"Estimate": [significant(v, 5) for v in alpha]},
                    index=alpha.index,
                )
            ),
        ]
    lines += [
        f"Number of clusters:   {report.fact('clusters').value}  Maximum cluster size: "
        f"{report.meta['largest_cluster']} ",
        f"QIC: {significant(report.fact('qic').value, 6)}  "
        f"QICu: {significant(report.fact('qicu').value, 6)}  "
        f"CIC: {significant(report.fact('cic').value, 5)}",
    ]
    lines += [f"Note: {n}" for n in report.notes]
    return "\n".join(lines)


def _posterior_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A report's posterior table: mean, median, SD, credible interval, R-hat and ESS."""
    return pd.DataFrame(
        {
            "Mean": [significant(v, 5) for v in table["Mean"]],
            "Median": [significant(v, 5) for v in table["Median"]],
            "SD": [significant(v, 4) for v in table["SD"]],
            "Lower": [significant(v, 5) for v in table["Lower"]],
            "Upper": [significant(v, 5) for v in table["Upper"]],
            "R-hat": [f"{v:.3f}" for v in table["R-hat"]],
            "ESS bulk": [significant(v, 4) for v in table["ESS bulk"]],
            "ESS tail": [significant(v, 4) for v in table["ESS tail"]],
        },
        index=table.index,
    )


def mcmc_summary(result: McmcResult) -> str:
    """Posterior summaries of an MCMC fit: :func:`posterior_text` of its report."""
    return posterior_text(mcmc_report(result))


def posterior_text(report: Report) -> str:
    """An MCMC report (:func:`~mixnb.display.report.mcmc_report`): fixed effects, random
    part, notes."""
    meta = report.meta
    lines = [
        f"{report.title} (mixnb)",
        f"Formula: {report.subtitle}",
        f"{meta['chains']} chains x {meta['iterations']} draws after {meta['burn_in']} "
        "burn-in; groups: "
        + "; ".join(f"{k}, {v}" for k, v in meta["ngroups"].items())
        + f"; observations: {meta['nobs']}",
        "",
        f"Fixed effects (posterior; {100 * meta['level']:g}% equal-tailed credible intervals):",
        _table(_posterior_rows(report.table("fixed").frame)),
        "",
        "Random part (variances, SDs, covariances, correlations):",
        _table(_posterior_rows(report.table("random").frame)),
    ]
    lines += [""] + [f"Note: {n}" for n in report.notes]
    return "\n".join(lines)


def glm_summary(result: GlmResult) -> str:
    """R's ``summary.glm`` layout for a generalised linear model: :func:`glm_text` of its
    report."""
    return glm_text(glm_report(result))


def glm_text(report: Report) -> str:
    """A GLM report (:func:`~mixnb.display.report.glm_report`) in R's ``summary.glm`` layout."""
    fe = report.table("fixed").frame
    meta = report.meta
    nobs = report.fact("nobs").value
    offset = report.fact("offset")
    lines = [
        "Generalised linear model (mixnb; R's glm)",
        f"Formula: {report.subtitle}",
        f"Family: {report.fact('family').value}",
        *([f"Offset: {offset.value}"] if offset else []),
        "",
        "Coefficients:",
        _table(pd.DataFrame(_coefficient_rows(fe), index=fe.index)),
        "",
        f"(Dispersion parameter for {meta['family']} family taken to be {meta['dispersion']:.6g})",
        "",
        f"    Null deviance: {significant(report.fact('null_deviance').value, 6)}  on "
        f"{nobs - 1 if len(fe) else nobs}  degrees of freedom",
        f"Residual deviance: {significant(report.fact('deviance').value, 6)}  on "
        f"{report.fact('df_resid').value}  degrees of freedom",
        f"AIC: {significant(report.fact('aic').value, 6)}",
        "",
        f"Number of Fisher Scoring iterations: {meta['iterations']}",
    ]
    lines += [f"Note: {n}" for n in report.notes]
    return "\n".join(lines)
