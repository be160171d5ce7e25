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


def _model_information(result: LmmResult, fixed: pd.DataFrame) -> list[str]:
    blocks = result.design.random
    structure = "Unstructured" if any(b.n_columns > 1 for b in blocks) else "Variance Components"
    subjects = ", ".join(dict.fromkeys(b.factor.name for b in blocks))
    items = [
        ("Dependent Variable", result.design.response_name),
        ("Covariance Structure", structure),
        ("Subject Effect" + ("s" if "," in subjects else ""), subjects),
        ("Estimation Method", "REML" if result.reml else "ML"),
        ("Residual Variance Method", "Profile"),
        ("Fixed Effects SE Method", "Model-Based"),
    ]
    ddf = fixed.attrs.get("ddf")
    if ddf:
        items.append(("Degrees of Freedom Method", DDF_NAMES.get(ddf, str(ddf))))
    return _section("Model Information", _pairs(items))


def _dimensions(result: LmmResult) -> list[str]:
    design = result.design
    n_cov = len(result.variance_components)
    items = [
        ("Covariance Parameters", str(n_cov)),
        ("Columns in X", str(len(design.fixed.columns))),
    ]
    names = list(dict.fromkeys(b.factor.name for b in design.random))
    if len(names) == 1:
        per_subject = sum(b.n_columns for b in design.random)
        items += [
            ("Columns in Z per Subject", str(per_subject)),
            ("Subjects", str(result.ngroups[names[0]])),
        ]
    else:
        items += [(f"Levels of {name}", str(n)) for name, n in result.ngroups.items()]
    items += [
        ("Observations Used", str(result.nobs)),
        ("Observations Not Used", str(result.n_dropped)),
    ]
    return _section("Dimensions", _pairs(items))


def _covariance_parameters(result: LmmResult) -> list[str]:
    """SAS's names: the term for a single-column block, ``UN(i,j)`` for an unstructured one."""
    vc = result.variance_components
    rows, legend, start = [], [], 0
    for block in result.design.random:
        c = block.n_columns
        chunk = vc.iloc[start : start + c * (c + 1) // 2]
        start += c * (c + 1) // 2
        if c == 1:
            row = chunk.iloc[0]
            rows.append([block.columns[0], block.factor.name, row["estimate"], row["std_error"]])
            continue
        position = {name: k + 1 for k, name in enumerate(block.columns)}
        entries = []
        for _, row in chunk.iterrows():
            i, j = sorted((position[row["term1"]], position[row["term2"]]), reverse=True)
            entries.append(((i, j), row))
        for (i, j), row in sorted(entries, key=lambda e: e[0]):
            rows.append([f"UN({i},{j})", block.factor.name, row["estimate"], row["std_error"]])
        legend.append(
            f"{block.factor.name}: " + ", ".join(f"{k} = {name}" for name, k in position.items())
        )
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


def _fit_statistics(result: LmmResult) -> list[str]:
    label = "-2 Res Log Likelihood" if result.reml else "-2 Log Likelihood"
    items = [
        (label, _best(result.deviance, 6)),
        ("AIC (Smaller is Better)", _best(result.aic, 6)),
        ("BIC (Smaller is Better)", _best(result.bic, 6)),
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
    effects = [_effect(str(term)) for term in fe.index]
    level_columns = list(dict.fromkeys(v for _, lv in effects for v in lv))
    header = ["Effect", *level_columns, "Estimate", "Standard Error"]
    right = [False] * (1 + len(level_columns)) + [True, True]
    extra: list[tuple[str, Any]] = []
    if "df" in fe:
        extra.append(("DF", lambda r: _df(r["df"])))
    if "t" in fe:
        extra.append(("t Value", lambda r: f"{r['t']:.2f}" if np.isfinite(r["t"]) else "."))
    if "p" in fe:
        extra.append(("Pr > |t|", lambda r: _sas_p(r["p"])))
    header += [name for name, _ in extra]
    right += [True] * len(extra)
    rows = []
    for (effect, levels), (_, row) in zip(effects, fe.iterrows(), strict=True):
        cells = [effect, *(levels.get(v, "") for v in level_columns)]
        cells += [_best(row["estimate"]), _best(row["std_error"])]
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
    fixed = result.test_fixed(ddf) if ddf else result.fixed_effects
    lines = ["The Mixed Procedure (mixnb)".center(_WIDTH).rstrip()]
    lines += _model_information(result, fixed)
    lines += _dimensions(result)
    lines += _covariance_parameters(result)
    lines += _fit_statistics(result)
    lines += _fixed_effects(fixed)
    for note in result.notes:
        wrapped = textwrap.wrap(f"NOTE: {note}", width=_WIDTH, subsequent_indent="      ")
        lines += [""] + wrapped
    return "\n".join(lines)
