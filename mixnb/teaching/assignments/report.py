"""Score reports: text for the terminal, CSV for a gradebook, HTML to read.

Every string that comes from a submission (its file name, the messages its code raised) is
one line of printable text (:func:`clean`: no terminal escape codes, no control characters,
no newlines), HTML-escaped in the HTML report, and defused in the CSV files so that a
spreadsheet does not run it as a formula. The reports are written atomically (a complete
new file replaces the old one), so a reader, or a grader killed halfway, never leaves half
a report.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
import unicodedata
from pathlib import Path

import pandas as pd

#: terminal escape sequences: CSI (colours, cursor moves), OSC (titles, links), and the rest
_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]"
)
#: the longest reason kept (characters)
REASON_LENGTH = 300


def clean(text: object, length: int = REASON_LENGTH) -> str:
    """``text`` as one line of printable text, at most ``length`` characters.

    Escape sequences are removed; every other control or format character (newlines, tabs,
    carriage returns, backspaces, bidirectional overrides) becomes a space.

    >>> clean("AssertionError: wrong\\n\\x1b[32mbob: 14/14 points\\x1b[0m\\r")
    'AssertionError: wrong bob: 14/14 points'
    """
    text = _ESCAPE.sub("", str(text))
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 3] + "..."


def format_points(value: float) -> str:
    """Points as a person writes them: ``2``, ``1.5``, ``-`` when missing.

    >>> format_points(2.0), format_points(1.5), format_points(float("nan"))
    ('2', '1.5', '-')
    """
    if pd.isna(value):
        return "-"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def totals(table: pd.DataFrame) -> pd.DataFrame:
    """One row per submission: points per question, then ``total`` and ``max`` (autograded).

    Written answers (graded by hand) are empty columns, to be filled in.
    """
    if table.empty:
        return pd.DataFrame(columns=["total", "max"])
    order = list(dict.fromkeys(table["question"]))
    wide = table.pivot(index="submission", columns="question", values="points")
    wide = wide.reindex(index=list(dict.fromkeys(table["submission"])), columns=order)
    auto = table[table["autograded"]]
    wide["total"] = auto.groupby("submission")["points"].sum()
    wide["max"] = auto.groupby("submission")["max_points"].sum()
    wide.columns.name = None
    return wide


def submission_text(rows: pd.DataFrame) -> str:
    """A submission's scores for the terminal; the last line is ``NAME: X/Y points``."""
    name = clean(rows["submission"].iloc[0])
    width = max(len(q) for q in rows["question"])
    lines = [name]
    for row in rows.itertuples():
        if row.autograded:
            score = f"{format_points(row.points)}/{format_points(row.max_points)}"
            note = row.status + (f": {clean(row.reason)}" if row.reason else "")
        else:
            score = f"-/{format_points(row.max_points)}"
            note = f"written answer, {clean(row.reason)}"
        lines.append(f"  {row.question:<{width}}  {score:>7}  {note}")
    auto = rows[rows["autograded"]]
    got, out_of = format_points(auto["points"].sum()), format_points(auto["max_points"].sum())
    lines.append(f"{name}: {got}/{out_of} points")
    return "\n".join(lines)


def write_reports(
    table: pd.DataFrame, out_dir: Path, title: str = "assignment", expected: int | None = None
) -> list[Path]:
    """Write ``grades.csv``, ``totals.csv`` and ``report.html`` into ``out_dir``, atomically.

    ``expected`` is the number of submissions in the run: while fewer are graded, the HTML
    report says so.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "grades.csv", out_dir / "totals.csv", out_dir / "report.html"]
    wide = totals(table)
    wide.index = [_defuse(name) for name in wide.index]
    _replace(paths[0], _defused(table).to_csv(index=False))
    _replace(paths[1], wide.to_csv(index_label="submission"))
    _replace(paths[2], html_report(table, title, expected))
    return paths


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that ``path`` is always a complete file (old or new)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _defuse(text: object) -> object:
    """Keep a spreadsheet from reading a submitted string as a formula."""
    if isinstance(text, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r", "|"):
        return "'" + text
    return text


def _defused(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    for column in ("submission", "reason"):
        table[column] = table[column].map(_defuse)
    return table


def _progress(table: pd.DataFrame, expected: int | None) -> list[str]:
    done = table["submission"].nunique() if not table.empty else 0
    if expected is None or done >= expected:
        return []
    return [f"<p><strong>Grading in progress: {done} of {expected} submissions.</strong></p>"]


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.passed { color: #17663a; } .failed, .not-run { color: #a4161a; } .manual { color: #555; }
"""


def html_report(table: pd.DataFrame, title: str = "assignment", expected: int | None = None) -> str:
    """A self-contained HTML page: the totals, then each submission question by question."""
    e = html.escape
    wide = totals(table)
    head = "".join(f"<th>{e(str(c))}</th>" for c in ["submission", *wide.columns])
    anchor = {name: f"submission-{i + 1}" for i, name in enumerate(wide.index)}
    body = []
    for name, row in wide.iterrows():
        cells = "".join(f'<td class="num">{e(format_points(v))}</td>' for v in row)
        body.append(f'<tr><td><a href="#{anchor[name]}">{e(name)}</a></td>{cells}</tr>')
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Grades: {e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Grades: {e(title)}</h1>",
        "<p>Points from the autograded tests; written answers are graded by hand.</p>",
        *_progress(table, expected),
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
    ]
    for name, rows in table.groupby("submission", sort=False):
        auto = rows[rows["autograded"]]
        got, out_of = format_points(auto["points"].sum()), format_points(auto["max_points"].sum())
        parts.append(f'<h2 id="{anchor[name]}">{e(name)}: {got}/{out_of} points</h2>')
        parts.append(
            "<table><thead><tr><th>question</th><th>points</th><th>status</th>"
            "<th>reason</th></tr></thead><tbody>"
        )
        for row in rows.itertuples():
            score = f"{format_points(row.points)}/{format_points(row.max_points)}"
            css = row.status.replace(" ", "-")
            parts.append(
                f'<tr><td>{e(row.question)}</td><td class="num">{e(score)}</td>'
                f'<td class="{e(css)}">{e(row.status)}</td><td>{e(row.reason)}</td></tr>'
            )
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
