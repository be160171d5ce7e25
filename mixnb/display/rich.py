"""Rich display of every result: one :class:`~mixnb.display.report.Report`, three renderers.

``to_html`` (notebooks; reads well in light and dark JupyterLab themes, no external assets,
every user-supplied string escaped), ``to_markdown`` and ``to_latex`` (booktabs). The result
types only decide *what* to show (:func:`mixnb.display.report.build_report`); this module
decides *how*, once for all of them.
"""

from __future__ import annotations

import html
import math
import numbers
import re
from typing import Any

from mixnb.display.report import Report, Table, build_report
from mixnb.display.text import format_p, significant

# --------------------------------------------------------------------------- cells


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(isinstance(value, numbers.Number) and math.isnan(value))
    except TypeError:  # pragma: no cover - exotic numbers
        return False


def format_cell(value: Any, spec: str) -> str:
    """A value as text, by format name (see :mod:`mixnb.display.report`).

    Examples
    --------
    >>> format_cell(251.40510, "sig:5"), format_cell(3.2e-20, "p"), format_cell(None, "int")
    ('251.41', '< 2e-16', '')
    """
    if _missing(value):
        return ""
    if spec == "text" or isinstance(value, str) or not isinstance(value, numbers.Number):
        return str(value)
    x = float(value)
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if spec == "int":
        return f"{x:.0f}" if x == round(x) else significant(x, 4)
    if spec == "p":
        return format_p(x)
    if spec == "df":
        return f"{x:.0f}" if abs(x - round(x)) < 1e-3 else f"{x:.2f}"
    kind, _, digits = spec.partition(":")
    n = int(digits or 4)
    if kind == "fixed":
        return f"{x:.{n}f}"
    return significant(x, n)


def _is_numeric(spec: str) -> bool:
    return spec != "text"


def _rows(table: Table) -> list[tuple[str, list[str]]]:
    """Index label and formatted cells of every row."""
    columns = list(table.frame.columns)
    out = []
    for label, row in zip(table.frame.index, table.frame.itertuples(index=False, name=None)):
        cells = [format_cell(v, table.format_of(c)) for c, v in zip(columns, row)]
        out.append((str(label), cells))
    return out


# --------------------------------------------------------------------------- HTML

_FONT = "var(--jp-content-font-family, system-ui, -apple-system, 'Segoe UI', sans-serif)"
_MONO = "var(--jp-code-font-family, ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace)"
_TEXT = "var(--jp-content-font-color1, inherit)"
_RULE = "var(--jp-border-color1, rgba(128, 128, 128, 0.55))"
_HAIRLINE = "var(--jp-border-color2, rgba(128, 128, 128, 0.3))"
_SHADE = "rgba(128, 128, 128, 0.12)"
_WARN = "var(--jp-warn-color1, #e08a00)"
_WARN_BG = "rgba(240, 160, 0, 0.13)"

_STYLE = {
    "report": (
        f"font-family: {_FONT}; font-size: 13px; line-height: 1.45; color: {_TEXT}; "
        "max-width: 100%; overflow-x: auto; padding: 2px 0;"
    ),
    "title": "font-weight: 600; font-size: 14px; margin: 0 0 2px 0;",
    "formula": (
        f"font-family: {_MONO}; font-size: 12.5px; background: {_SHADE}; "
        "padding: 1px 6px; border-radius: 3px; white-space: pre-wrap; word-break: break-word;"
    ),
    "facts": "margin: 6px 0 2px 0; display: flex; flex-wrap: wrap; gap: 2px 18px;",
    "fact_label": "opacity: 0.72;",
    "fact_value": "font-weight: 600; font-variant-numeric: tabular-nums;",
    "section": (
        "font-weight: 600; font-size: 12px; letter-spacing: 0.02em; opacity: 0.8; "
        "margin: 10px 0 3px 0;"
    ),
    "table": (
        f"border-collapse: collapse; border-top: 1.5px solid {_RULE}; "
        f"border-bottom: 1.5px solid {_RULE}; font-size: 12.5px; margin: 0; color: {_TEXT}; "
        "font-variant-numeric: tabular-nums;"
    ),
    "th": (
        f"border-bottom: 1px solid {_RULE}; padding: 3px 10px; font-weight: 600; "
        "white-space: nowrap; background: transparent; color: inherit;"
    ),
    "tr": "background: transparent;",
    "td": (
        f"border-top: 1px solid {_HAIRLINE}; padding: 2px 10px; white-space: nowrap; "
        "background: transparent; color: inherit;"
    ),
    "note": (
        f"margin: 8px 0 2px 0; padding: 5px 10px; border-left: 3px solid {_WARN}; "
        f"background: {_WARN_BG}; border-radius: 0 3px 3px 0; max-width: 70em; "
        "white-space: normal;"
    ),
    "summary": (
        "cursor: pointer; font-weight: 600; font-size: 12px; opacity: 0.8; margin: 10px 0 3px 0;"
    ),
}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(table: Table) -> str:
    align = {c: "right" if _is_numeric(table.format_of(c)) else "left" for c in table.frame.columns}
    head = []
    if table.index is not None:
        head.append(f'<th style="{_STYLE["th"]} text-align: left;">{_e(table.index)}</th>')
    head += [
        f'<th style="{_STYLE["th"]} text-align: {align[c]};">{_e(c)}</th>'
        for c in table.frame.columns
    ]
    body = []
    for label, cells in _rows(table):
        row = []
        if table.index is not None:
            row.append(f'<td style="{_STYLE["td"]} text-align: left;">{_e(label)}</td>')
        row += [
            f'<td style="{_STYLE["td"]} text-align: {align[c]};">{_e(v)}</td>'
            for c, v in zip(table.frame.columns, cells)
        ]
        body.append(f'<tr style="{_STYLE["tr"]}">' + "".join(row) + "</tr>")
    table_html = (
        f'<table style="{_STYLE["table"]}">'
        f'<thead><tr style="{_STYLE["tr"]}">{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    if table.collapsed:
        return (
            f'<details><summary style="{_STYLE["summary"]}">{_e(table.title)}</summary>'
            f"{table_html}</details>"
        )
    title = f'<div style="{_STYLE["section"]}">{_e(table.title)}</div>' if table.title else ""
    return title + table_html


def render_html(report: Report) -> str:
    """A report as a self-contained HTML fragment (inline styles, no scripts)."""
    parts = [f'<div class="mixnb-report" style="{_STYLE["report"]}">']
    parts.append(f'<div style="{_STYLE["title"]}">{_e(report.title)}</div>')
    if report.subtitle:
        parts.append(f'<div><code style="{_STYLE["formula"]}">{_e(report.subtitle)}</code></div>')
    if report.facts:
        facts = "".join(
            f'<span><span style="{_STYLE["fact_label"]}">{_e(f.label)}:</span> '
            f'<span style="{_STYLE["fact_value"]}">{_e(format_cell(f.value, f.format))}</span>'
            "</span>"
            for f in report.facts
        )
        parts.append(f'<div style="{_STYLE["facts"]}">{facts}</div>')
    parts += [_html_table(t) for t in report.tables]
    parts += [
        f'<div class="mixnb-note" role="note" style="{_STYLE["note"]}">'
        f"<strong>Note:</strong> {_e(note)}</div>"
        for note in report.notes
    ]
    parts.append("</div>")
    return "".join(parts)


# --------------------------------------------------------------------------- Markdown

_MD_SPECIAL = str.maketrans(
    {
        "\\": "\\\\",
        "|": "\\|",
        "*": "\\*",
        "_": "\\_",
        "`": "\\`",
        "[": "\\[",
        "]": "\\]",
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "#": "\\#",
        "$": "\\$",
        "\n": " ",
    }
)


def _md(text: Any) -> str:
    return str(text).translate(_MD_SPECIAL)


def _md_code(text: str) -> str:
    """``text`` as a Markdown code span that nothing in it can close.

    The fence is a backtick run longer than any run in the text (CommonMark closes a span
    only at a run of the same length); it is padded with a space, which CommonMark strips,
    when the text has backticks or starts and ends with a space.

    Examples
    --------
    >>> print(_md_code("y ~ x"), _md_code("`a``b` ~ x"))
    `y ~ x` ``` `a``b` ~ x ```
    """
    text = text.replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    spaced = len(text) > 1 and text[0] == " " and text[-1] == " "
    pad = " " if longest or spaced else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_table(table: Table) -> str:
    columns = list(table.frame.columns)
    head = ([_md(table.index)] if table.index is not None else []) + [_md(c) for c in columns]
    rule = (["---"] if table.index is not None else []) + [
        "--:" if _is_numeric(table.format_of(c)) else ":--" for c in columns
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
    for label, cells in _rows(table):
        row = ([_md(label)] if table.index is not None else []) + [_md(v) for v in cells]
        lines.append("| " + " | ".join(row) + " |")
    title = f"*{_md(table.title)}*\n\n" if table.title else ""
    return title + "\n".join(lines)


def render_markdown(report: Report) -> str:
    """A report as Markdown (pipe tables; notes as block quotes)."""
    parts = [f"**{_md(report.title)}**"]
    if report.subtitle:
        parts.append(_md_code(report.subtitle))
    if report.facts:
        parts.append(
            " · ".join(
                f"{_md(f.label)}: **{_md(format_cell(f.value, f.format))}**" for f in report.facts
            )
        )
    parts += [_md_table(t) for t in report.tables]
    parts += [f"> **Note:** {_md(note)}" for note in report.notes]
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- LaTeX

_TEX_SPECIAL = str.maketrans(
    {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "<": r"\textless{}",
        ">": r"\textgreater{}",
        "\n": " ",
    }
)


def _tex(text: Any) -> str:
    return str(text).translate(_TEX_SPECIAL)


def _tex_table(table: Table) -> str:
    columns = list(table.frame.columns)
    spec = ("l" if table.index is not None else "") + "".join(
        "r" if _is_numeric(table.format_of(c)) else "l" for c in columns
    )
    head = ([_tex(table.index)] if table.index is not None else []) + [_tex(c) for c in columns]
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(head) + r" \\", r"\midrule"]
    for label, cells in _rows(table):
        row = ([_tex(label)] if table.index is not None else []) + [_tex(v) for v in cells]
        lines.append(" & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    title = f"\\textit{{{_tex(table.title)}}}\\par\\smallskip\n" if table.title else ""
    return title + "\n".join(lines)


def render_latex(report: Report) -> str:
    """A report as LaTeX: booktabs tables (``\\usepackage{booktabs}``) and paragraphs."""
    parts = [rf"\textbf{{{_tex(report.title)}}}"]
    if report.subtitle:
        parts.append(rf"\texttt{{{_tex(report.subtitle)}}}")
    if report.facts:
        parts.append(
            "; ".join(
                f"{_tex(f.label)}: {_tex(format_cell(f.value, f.format))}" for f in report.facts
            )
        )
    parts += [_tex_table(t) for t in report.tables]
    parts += [rf"\emph{{Note:}} {_tex(note)}" for note in report.notes]
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- entry points


def to_html(result: Any) -> str:
    """The HTML display of any result (``_repr_html_``).

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.ols("Reaction ~ Days", mixnb.load_dataset("sleepstudy"))
    >>> "Coefficients" in to_html(fit)
    True
    """
    return render_html(build_report(result))


def to_markdown(result: Any) -> str:
    """The Markdown display of any result (``_repr_markdown_`` and ``to_markdown()``).

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.ols("Reaction ~ Days", mixnb.load_dataset("sleepstudy"))
    >>> print(to_markdown(fit).splitlines()[0])
    **Least-squares fit**
    """
    return render_markdown(build_report(result))


def to_latex(result: Any) -> str:
    """The LaTeX tables of any result (``to_latex()``; needs ``\\usepackage{booktabs}``).

    Examples
    --------
    >>> import mixnb
    >>> fit = mixnb.ols("Reaction ~ Days", mixnb.load_dataset("sleepstudy"))
    >>> r"\\toprule" in to_latex(fit)
    True
    """
    return render_latex(build_report(result))
