"""How a GLMM looks: its report (HTML, Markdown, LaTeX) and glmer's summary text layout.

Registers :func:`glmm_report` with :func:`mixnb.display.report.build_report` and the
``"lme4"`` text layout with :func:`mixnb.display.summary.text_layouts`. Nothing here
computes a statistic: every number is read from the :class:`GlmmResult`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from mixnb.display.report import (
    Fact,
    Report,
    Table,
    _correlation_table,
    _covariance_table,
    _quantile_table,
    build_report,
    coefficient_table,
    random_effects_table,
)
from mixnb.display.summary import text_layouts
from mixnb.display.text import lme4_text
from mixnb.results.glmm import GlmmResult


def glmm_report(result: GlmmResult) -> Report:
    """glmer's summary content: the criteria, random effects (no residual), z tests,
    odds or rate ratios, the latent-scale ICC and the notes."""
    facts = [
        Fact("Family", f"{result.family.name} ({result.family.link.name})", key="family"),
        Fact("Method", _method(result), key="method"),
        Fact("Observations", result.nobs, "int", key="nobs"),
    ]
    facts += [
        Fact(f"{name} groups", n, "int", key=f"groups:{name}") for name, n in result.ngroups.items()
    ]
    if result.weights_label:
        facts.append(Fact("Prior weights", result.weights_label, key="weights"))
    if result.offset_label:
        facts.append(Fact("Offset", result.offset_label, key="offset"))
    facts += [
        Fact("AIC", result.aic, "sig:6", key="aic"),
        Fact("BIC", result.bic, "sig:6", key="bic"),
        Fact("logLik", result.loglik, "sig:6", key="loglik"),
        Fact("Deviance", result.deviance, "sig:6", key="deviance"),
        Fact("Parameters", result.n_parameters, "int", key="npar"),
        Fact("Residual df", result.df_resid, "int", key="df_resid"),
    ]
    if result.family.name == "poisson":
        ratio = result.overdispersion()["ratio"]
        facts.append(Fact("Dispersion (Pearson chi2 / df)", ratio, "fixed:3", key="dispersion"))
    random = random_effects_table(result)
    random = replace(random, frame=random.frame.drop(columns="Std. Error"))
    tables = [
        random,
        *_covariance_table(result),
        replace(coefficient_table(result.fixed_effects, "Fixed effects"), key="fixed"),
    ]
    if result.ratio_name is not None:
        ratios = result.ratios()
        tables.append(
            Table(
                ratios.rename(
                    columns={
                        "ratio": result.ratio_name.capitalize(),
                        "lower": "2.5 %",
                        "upper": "97.5 %",
                    }
                ),
                {result.ratio_name.capitalize(): "sig:4", "2.5 %": "sig:4", "97.5 %": "sig:4"},
                title=f"{result.ratio_name.capitalize()}s (exp of the coefficients, Wald "
                "95% intervals), conditional on the random effects",
                index="term",
                key="ratios",
            )
        )
    try:
        icc = result.icc()
    except Exception:  # no random intercept: no ICC table
        icc = None
    if icc is not None:
        tables.append(
            Table(
                icc.rename(
                    columns={
                        "group": "Groups",
                        "variance": "Variance",
                        "icc": "ICC",
                        "latent_residual_variance": "Latent residual variance",
                    }
                ),
                {"Variance": "sig:4", "ICC": "fixed:3", "Latent residual variance": "sig:4"},
                title="Intraclass correlation (latent scale)",
                key="icc",
            )
        )
    tables.append(
        replace(
            _quantile_table(result.residual_quantiles, "Scaled (Pearson) residuals"),
            key="residuals",
        )
    )
    if len(result.fixed_effects) > 1:
        tables.append(_correlation_table(result.fixed_effects_correlation))
    return Report(
        title=result.title,
        subtitle=result.formula,
        facts=facts,
        tables=tables,
        notes=list(result.notes),
        meta={"ddf": "normal"},
    )


def _method(result: GlmmResult) -> str:
    if result.nagq == 0:
        return "nAGQ = 0 (fixed effects inside PIRLS)"
    if result.nagq == 1:
        return "Laplace approximation"
    return f"Adaptive Gauss-Hermite quadrature, {result.nagq} points"


def glmm_text(result: GlmmResult) -> str:
    """glmer's ``summary`` layout: lme4's text of the report, with the family line."""
    report = glmm_report(result)
    random = report.table("random")
    with_se = replace(random, frame=random.frame.assign(**{"Std. Error": np.nan}))
    tables = [with_se if t is random else t for t in report.tables]
    kept = [t for t in tables if t.key in ("random", "fixed", "residuals", "correlation")]
    text = lme4_text(replace(report, tables=kept, notes=[]))
    lines = text.split("\n")
    family = result.family
    lines.insert(1, f" Family: {family.name}  ( {family.link.name} )")
    extra = []
    ratios = report.table("ratios")
    if ratios is not None:
        frame = ratios.frame.map(lambda v: f"{v:.4g}")
        extra += ["", ratios.title + ":", _plain(frame)]
    icc = report.table("icc")
    if icc is not None:
        rows = [f"  {g}: {v:.3f}" for g, v in zip(icc.frame["Groups"], icc.frame["ICC"])]
        extra += ["", "Intraclass correlation (latent scale):", *rows]
    for note in report.notes:
        extra += ["", f"Note: {note}"]
    return "\n".join(lines + extra)


def _plain(frame: pd.DataFrame) -> str:
    cells = [[""] + list(map(str, frame.columns))]
    cells += [[str(i)] + list(row) for i, row in zip(frame.index, frame.itertuples(index=False))]
    widths = [max(len(r[c]) for r in cells) for c in range(len(cells[0]))]
    return "\n".join(
        " ".join([r[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(r[1:], widths[1:])])
        for r in cells
    )


build_report.register(GlmmResult, glmm_report)
text_layouts.register(GlmmResult, lambda r: {"lme4": glmm_text})
