"""A mixed model in SAS PROC MIXED's plain-text layout (``fit.summary(style="sas")``).

The seed's batting-average slide shows PROC MIXED output; students who meet SAS in a
course or a paper can read a mixnb fit in the same shape: "Model Information",
"Dimensions", "Covariance Parameter Estimates", "Fit Statistics" and "Solution for Fixed
Effects". Only numbers the result already holds are shown.
"""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixnb.display.report import Report, lmm_report
from mixnb.display.text import significant

if TYPE_CHECKING:  # pragma: no cover
    from mixnb.results.mixed import LmmResult

#: Display names of the denominator-df methods the results layer knows.
DDF_NAMES = {
    "satterthwaite": "Satterthwaite",
    "kenward-roger": "Kenward-Roger",
    "between-within": "Between-Within",
    "containment": "Containment",
    "residual": "Residual",
    "normal": "None (z tests)",
}

_WIDTH = 78


def _best(x: float, digits: int = 5) -> str:
    """SAS's BEST-like number: ``digits`` significant digits, plain for moderate sizes."""
    return significant(x, digits, missing=".", exponent="E", largest=1e8)


def _sas_p(p: float) -> str:
    """SAS's PVALUE6.4 format: ``<.0001`` or four decimals without the leading zero."""
    if p is None or not np.isfinite(p):
        return "."
    if p < 1e-4:
        return "<.0001"
    return f"{p:.4f}".removeprefix("0")


def _df(x: float) -> str:
    if not np.isfinite(x):
        return "."
    return f"{x:.0f}" if abs(x - round(x)) < 1e-3 else f"{x:.1f}"


def _section(title: str, lines: list[str], footnote: list[str] | None = None) -> list[str]:
    """A title centred over its table, SAS style, then the table and any footnote lines."""
    width = max([len(title)] + [len(line) for line in lines])
    return ["", title.center(width).rstrip(), ""] + lines + (["", *footnote] if footnote else [])


def _columns(header: list[str], rows: list[list[str]], right: list[bool]) -> list[str]:
    """A plain table: text columns left-aligned, numbers right-aligned, two spaces apart."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        out = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "  ".join(out).rstrip()

    return [line(header)] + [line(r) for r in rows]


def _pairs(items: list[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in items)
    return [f"{k.ljust(width)}    {v}" for k, v in items]


# --------------------------------------------------------------------------- sections


def _model_information(report: Report) -> list[str]:
    meta = report.meta
    blocks = meta["random_blocks"]
    structure = (
        "Unstructured" if any(len(cols) > 1 for _, cols in blocks) else "Variance Components"
    )
    subjects = ", ".join(dict.fromkeys(name for name, _ in blocks))
    items = [
        ("Dependent Variable", meta["response"]),
        ("Covariance Structure", structure),
        ("Subject Effect" + ("s" if "," in subjects else ""), subjects),
        ("Estimation Method", "REML" if meta["reml"] else "ML"),
        ("Residual Variance Method", "Profile"),
        ("Fixed Effects SE Method", "Model-Based"),
    ]
    ddf = meta.get("ddf_requested")
    if ddf:
        items.append(("Degrees of Freedom Method", DDF_NAMES.get(ddf, str(ddf))))
    return _section("Model Information", _pairs(items))


def _dimensions(report: Report) -> list[str]:
    meta = report.meta
    items = [
        ("Covariance Parameters", str(len(meta["variance_components"]))),
        ("Columns in X", str(meta["fixed_columns"])),
    ]
    names = list(dict.fromkeys(name for name, _ in meta["random_blocks"]))
    if len(names) == 1:
        per_subject = sum(len(cols) for _, cols in meta["random_blocks"])
        items += [
            ("Columns in Z per Subject", str(per_subject)),
            ("Subjects", str(meta["ngroups"][names[0]])),
        ]
    else:
        items += [(f"Levels of {name}", str(n)) for name, n in meta["ngroups"].items()]
    items += [
        ("Observations Used", str(report.fact("nobs").value)),
        ("Observations Not Used", str(meta["n_dropped"])),
    ]
    return _section("Dimensions", _pairs(items))


def _covariance_parameters(report: Report) -> list[str]:
    """SAS's names: the term for a single-column block, ``UN(i,j)`` for an unstructured one."""
    vc = report.meta["variance_components"]
    rows, legend, start = [], [], 0
    for name, columns in report.meta["random_blocks"]:
        c = len(columns)
        chunk = vc.iloc[start : start + c * (c + 1) // 2]
        start += c * (c + 1) // 2
        if c == 1:
            row = chunk.iloc[0]
            rows.append([columns[0], name, row["estimate"], row["std_error"]])
            continue
        position = {term: k + 1 for k, term in enumerate(columns)}
        entries = []
        for _, row in chunk.iterrows():
            i, j = sorted((position[row["term1"]], position[row["term2"]]), reverse=True)
            entries.append(((i, j), row))
        for (i, j), row in sorted(entries, key=lambda e: e[0]):
            rows.append([f"UN({i},{j})", name, row["estimate"], row["std_error"]])
        legend.append(f"{name}: " + ", ".join(f"{k} = {term}" for term, k in position.items()))
    if start < len(vc):  # a model with a dispersion (Gaussian): the residual variance
        resid = vc.iloc[start]
        rows.append(["Residual", "", resid["estimate"], resid["std_error"]])
    shown = [[a, b, _best(e), _best(s)] for a, b, e, s in rows]
    lines = _columns(
        ["Cov Parm", "Subject", "Estimate", "Standard Error"], shown, [False, False, True, True]
    )
    footnote = None
    if legend:
        footnote = [
            "UN(i,j): row i, column j of the unstructured covariance matrix; terms",
            *(f"  {entry}" for entry in legend),
        ]
    return _section("Covariance Parameter Estimates", lines, footnote)


def _fit_statistics(report: Report) -> list[str]:
    criteria = report.meta["criteria"]
    label = "-2 Res Log Likelihood" if report.meta["reml"] else "-2 Log Likelihood"
    items = [
        (label, _best(criteria["deviance"], 6)),
        ("AIC (Smaller is Better)", _best(criteria["aic"], 6)),
        ("BIC (Smaller is Better)", _best(criteria["bic"], 6)),
    ]
    footnote = [
        "AIC and BIC as lme4 computes them (every parameter counted, n = observations);",
        "SAS counts only covariance parameters under REML and uses n = subjects for BIC.",
    ]
    return _section("Fit Statistics", _pairs(items), footnote)


_LEVEL = re.compile(r"^(?P<var>.+?)\[(?:T\.)?(?P<level>[^\]]*)\]$")
_CALL = re.compile(r"^C\(\s*([^,\)]+?)\s*(?:,.*)?\)$")


def _effect(term: str) -> tuple[str, dict[str, str]]:
    """``recipe[T.B]:temp`` -> (``recipe*temp``, ``{"recipe": "B"}``), SAS's effect naming."""
    names, levels = [], {}
    for part in term.split(":"):
        match = _LEVEL.match(part)
        if match:
            var = match.group("var")
            call = _CALL.match(var)
            var = call.group(1) if call else var
            names.append(var)
            levels[var] = match.group("level")
        else:
            names.append(part)
    return "*".join(names), levels


def _fixed_effects(fe: pd.DataFrame) -> list[str]:
    """The report's fixed-effects table (lme4's column names) in SAS's layout."""
    effects = [_effect(str(term)) for term in fe.index]
    level_columns = list(dict.fromkeys(v for _, lv in effects for v in lv))
    header = ["Effect", *level_columns, "Estimate", "Standard Error"]
    right = [False] * (1 + len(level_columns)) + [True, True]
    extra: list[tuple[str, Any]] = []
    if "df" in fe:
        extra.append(("DF", lambda r: _df(r["df"])))
    if "t value" in fe:
        extra.append(
            ("t Value", lambda r: f"{r['t value']:.2f}" if np.isfinite(r["t value"]) else ".")
        )
    if "Pr(>|t|)" in fe:
        extra.append(("Pr > |t|", lambda r: _sas_p(r["Pr(>|t|)"])))
    header += [name for name, _ in extra]
    right += [True] * len(extra)
    rows = []
    for (effect, levels), (_, row) in zip(effects, fe.iterrows(), strict=True):
        cells = [effect, *(levels.get(v, "") for v in level_columns)]
        cells += [_best(row["Estimate"]), _best(row["Std. Error"])]
        cells += [fmt(row) for _, fmt in extra]
        rows.append(cells)
    return _section("Solution for Fixed Effects", _columns(header, rows, right))


def sas_summary(result: LmmResult, ddf: str | None = None) -> str:
    """A fitted mixed model in SAS PROC MIXED's layout, as plain text.

    ``ddf`` picks the degrees-of-freedom method of the fixed-effects solution (e.g.
    ``"between-within"``, SAS's default for this layout of model); by default the result's
    ``fixed_effects`` table (Satterthwaite) is shown.

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.lmm("Yield ~ 1 + (1 | Batch)", mixnb.load_dataset("dyestuff"))
    >>> text = sas_summary(fit)
    >>> "Covariance Parameter Estimates" in text and "Solution for Fixed Effects" in text
    True
    """
    return sas_text(lmm_report(result, ddf))


def sas_text(report: Report) -> str:
    """A mixed model's report (:func:`~mixnb.display.report.lmm_report`) in PROC MIXED's
    layout: the same report lme4's text, HTML, Markdown and LaTeX render."""
    lines = ["The Mixed Procedure (mixnb)".center(_WIDTH).rstrip()]
    lines += _model_information(report)
    lines += _dimensions(report)
    lines += _covariance_parameters(report)
    lines += _fit_statistics(report)
    lines += _fixed_effects(report.table("fixed").frame)
    for note in report.notes:
        wrapped = textwrap.wrap(f"NOTE: {note}", width=_WIDTH, subsequent_indent="      ")
        lines += [""] + wrapped
    return "\n".join(lines)
