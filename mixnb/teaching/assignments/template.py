"""The assignment template format: nbgrader cell metadata plus solution and hidden-test markers.

A template is an ordinary notebook. Cells that matter for grading carry nbgrader's cell
metadata (schema version 3) under ``cell.metadata["nbgrader"]``:

* a **solution cell** (``solution: true``) holds the instructor's answer between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the student copy gets a prompt instead;
* a **test cell** (``grade: true, solution: false, locked: true``) checks an answer and is
  worth ``points``; lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``
  are removed from the student copy but run when grading;
* a **written answer** (``grade: true, solution: true``, usually Markdown) is graded by hand;
* any other **locked** cell (``locked: true``, e.g. the setup cell) is restored from the
  template when grading, so a student cannot change it.

A test never runs in the student's kernel: it runs in the grader's own interpreter on the
values its question **exports**, the names listed in ``cell.metadata["mixnb"]["exports"]``
(when a test cell does not list them, the names it uses that the template's locked cells do
not define).

See ``docs/assignments.md`` for the whole format.
"""

from __future__ import annotations

import ast
import builtins
import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from mixnb.errors import MixnbError

#: the prompt that replaces a code solution in the student copy (nbgrader's default)
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
#: the prompt that replaces a Markdown solution in the student copy (nbgrader's default)
TEXT_STUB = ["YOUR ANSWER HERE"]

_GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")


def _marker(words: str) -> re.Pattern[str]:
    """A marker line: ``### BEGIN SOLUTION`` (any number of ``#``, any surrounding space)."""
    return re.compile(r"^\s*#+\s*" + words + r"\s*$")


SOLUTION = (_marker("BEGIN SOLUTION"), _marker("END SOLUTION"))
HIDDEN_TESTS = (_marker("BEGIN HIDDEN TESTS"), _marker("END HIDDEN TESTS"))


class AssignmentError(MixnbError):
    """A template, submission or output path cannot be used (the message says why)."""


@dataclass(frozen=True)
class Question:
    """One graded item of a template: a test cell, or a written answer graded by hand."""

    grade_id: str
    points: float
    autograded: bool


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read a notebook as nbformat version 4."""
    return nbformat.read(str(path), as_version=4)


def nbgrader(cell: nbformat.NotebookNode) -> dict:
    """The cell's nbgrader metadata (an empty dict for an ordinary cell)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    """The cell's nbgrader ``grade_id``, if it has one."""
    value = nbgrader(cell).get("grade_id")
    return value if isinstance(value, str) and value else None


def is_solution(cell: nbformat.NotebookNode) -> bool:
    return bool(nbgrader(cell).get("solution"))


def is_test(cell: nbformat.NotebookNode) -> bool:
    """An autograder test cell: graded, not a solution, code."""
    meta = nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def is_locked(cell: nbformat.NotebookNode) -> bool:
    """A cell the student may not change: restored from the template when grading."""
    return bool(nbgrader(cell).get("locked")) or is_test(cell)


def _names(source: str) -> tuple[set[str], set[str], bool]:
    """(names read, names bound, star import) of Python source; empty if it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set(), False
    read, bound, star = set(), set(), False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.alias):
            star = star or node.name == "*"
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return read, bound, star


def setup_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """The template's locked code cells that need nothing from the student (e.g. imports and
    data): they run again in the grader's interpreter before the tests.

    A locked cell that uses a name only the student's cells define (say ``f_at_1 = f(1)``,
    to grade a function through a value) runs in the sandbox only.
    """
    found, known = [], set(dir(builtins))
    for cell in nb.cells:
        if cell.cell_type == "code" and is_locked(cell) and not is_test(cell):
            read, bound, star = _names(cell.source)
            if star or read <= known | bound:
                found.append(cell)
                known |= bound
    return found


def defined_by_locked_cells(nb: nbformat.NotebookNode) -> set[str] | None:
    """Names the template's setup cells define (None after a ``*`` import)."""
    names: set[str] = set()
    for cell in setup_cells(nb):
        _, bound, star = _names(cell.source)
        if star:
            return None
        names |= bound
    return names


def needed_names(cell: nbformat.NotebookNode, provided: set[str] | None) -> list[str]:
    """The names a test cell uses that neither it, the locked cells nor Python define."""
    read, bound, _ = _names(cell.source)
    free = read - bound - set(dir(builtins)) - (provided or set())
    return sorted(free)


def exports(cell: nbformat.NotebookNode, provided: set[str] | None = None) -> list[str]:
    """The names whose values a test cell is given: declared, or else inferred."""
    declared = cell.get("metadata", {}).get("mixnb", {})
    if isinstance(declared, dict) and "exports" in declared:
        return [str(n) for n in declared["exports"]]
    return needed_names(cell, provided)


def questions(nb: nbformat.NotebookNode) -> list[Question]:
    """The graded items of a template, in notebook order."""
    found = []
    for cell in nb.cells:
        meta = nbgrader(cell)
        if meta.get("grade"):
            found.append(Question(meta["grade_id"], float(meta["points"]), is_test(cell)))
    return found


def _regions(lines: list[str], markers: tuple[re.Pattern[str], re.Pattern[str]], where: str):
    """(start, end) line indices of each marked region; raise on unbalanced markers."""
    begin, end = markers
    regions, start = [], None
    for number, line in enumerate(lines):
        if begin.match(line):
            if start is not None:
                raise AssignmentError(
                    f"{where}: a BEGIN marker on line {number + 1} opens a "
                    "region inside another one; close the first region first."
                )
            start = number
        elif end.match(line):
            if start is None:
                raise AssignmentError(
                    f"{where}: an END marker on line {number + 1} has no BEGIN marker before it."
                )
            regions.append((start, number))
            start = None
    if start is not None:
        raise AssignmentError(
            f"{where}: the BEGIN marker on line {start + 1} is never closed by its END marker."
        )
    return regions


def check_template(nb: nbformat.NotebookNode, name: str = "template") -> None:
    """Raise :class:`AssignmentError` listing every way ``nb`` breaks the template format."""
    problems: list[str] = []
    seen: set[str] = set()
    provided = defined_by_locked_cells(nb)
    for index, cell in enumerate(nb.cells):
        where = f"cell {index + 1}"
        meta = nbgrader(cell)
        lines = cell.source.splitlines()
        try:
            solutions = _regions(lines, SOLUTION, where)
            hidden = _regions(lines, HIDDEN_TESTS, where)
        except AssignmentError as exc:
            problems.append(str(exc))
            continue
        if solutions and not meta.get("solution"):
            problems.append(
                f"{where} has a solution region but is not a solution cell "
                '(set metadata nbgrader "solution": true).'
            )
        if hidden and not is_test(cell):
            problems.append(
                f"{where} has hidden tests but is not a test cell "
                '(nbgrader "grade": true, "solution": false, a code cell).'
            )
        if not meta:
            continue
        if meta.get("schema_version") != 3:
            problems.append(f'{where}: nbgrader metadata needs "schema_version": 3.')
        gid = meta.get("grade_id")
        if meta.get("grade") or meta.get("solution") or meta.get("locked"):
            if not isinstance(gid, str) or not _GRADE_ID.match(gid):
                problems.append(f"{where}: grade_id {gid!r} must be letters, digits, _ or -.")
            elif gid in seen:
                problems.append(f"{where}: grade_id {gid!r} is used twice.")
            else:
                seen.add(gid)
        if meta.get("grade"):
            points = meta.get("points")
            if not isinstance(points, int | float) or isinstance(points, bool) or points < 0:
                problems.append(f"{where}: a graded cell needs points (a number >= 0).")
            if is_test(cell) and not meta.get("locked"):
                problems.append(f'{where}: a test cell must be locked ("locked": true).')
        if is_test(cell):
            problems += _export_problems(cell, provided, where)
        if cell.cell_type == "markdown" and bool(meta.get("grade")) != bool(meta.get("solution")):
            problems.append(
                f"{where}: a Markdown answer must be both a grade and a solution "
                "cell (nbgrader's rule for written answers)."
            )
    if problems:
        raise AssignmentError(
            f"{name} is not a valid assignment template:\n  - " + "\n  - ".join(problems)
        )


def _export_problems(cell: nbformat.NotebookNode, provided: set[str] | None, where: str):
    declared = cell.get("metadata", {}).get("mixnb", {})
    if not isinstance(declared, dict) or "exports" not in declared:
        return []
    names = declared["exports"]
    if not isinstance(names, list) or not all(str(n).isidentifier() for n in names):
        return [f'{where}: metadata "mixnb": {{"exports": [...]}} must list variable names.']
    if provided is None:
        return []
    missing = [n for n in needed_names(cell, provided) if n not in names]
    if missing:
        return [
            f"{where}: the test uses {', '.join(missing)}, which it would not be given: add "
            'them to its metadata "mixnb": {"exports": [...]} (the answers it checks) or '
            "define them in a locked cell."
        ]
    return []


def _replace_regions(source: str, markers, stub: list[str] | None, where: str) -> str:
    """Replace each marked region by ``stub`` (indented like its BEGIN line), or drop it."""
    lines = source.splitlines()
    for start, end in reversed(_regions(lines, markers, where)):
        indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        lines[start : end + 1] = [indent + line for line in stub] if stub else []
    return "\n".join(lines)


def student_cell(cell: nbformat.NotebookNode, where: str = "cell") -> nbformat.NotebookNode:
    """The student's version of one template cell."""
    cell = copy.deepcopy(cell)
    stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
    if is_solution(cell):
        if _regions(cell.source.splitlines(), SOLUTION, where):
            cell.source = _replace_regions(cell.source, SOLUTION, stub, where)
        else:  # a solution cell without markers is all solution (as in nbgrader)
            cell.source = "\n".join(stub)
    if is_test(cell):
        cell.source = _replace_regions(cell.source, HIDDEN_TESTS, None, where).rstrip()
    if is_locked(cell):
        cell.metadata["editable"] = False
        cell.metadata["deletable"] = False
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    return cell


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student copy of a template: no solutions, no hidden tests, no outputs."""
    student = copy.deepcopy(nb)
    student.cells = [student_cell(c, f"cell {i + 1}") for i, c in enumerate(nb.cells)]
    for index, cell in enumerate(student.cells):
        lines = cell.source.splitlines()
        if _regions(lines, SOLUTION, "") or _regions(lines, HIDDEN_TESTS, ""):
            raise AssignmentError(f"cell {index + 1} still has solution or hidden-test markers.")
    return student
