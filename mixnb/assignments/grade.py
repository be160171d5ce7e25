"""Grade: run submissions with the template's tests in a fresh kernel and score each question.

Grading never trusts the submission's copy of anything the student may not change: every
locked cell (the tests, hidden tests included, and e.g. the setup cell) is taken from the
template by its nbgrader ``grade_id``, and a locked cell the student deleted is put back after
the template cell that preceded it. The notebook then runs top to bottom in a new kernel with
errors allowed, so each test cell is judged on its own, by nbgrader's rule: no points if it
raised or wrote to stderr, partial credit if its result is a number, full points otherwise. A
cell that runs too long is interrupted; a kernel that dies or stays stuck ends the run, and
the questions not reached score zero with that reason.
"""

from __future__ import annotations

import copy
import logging
import re
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd

from mixnb.assignments.report import submission_text, write_reports
from mixnb.assignments.template import (
    TEXT_STUB,
    AssignmentError,
    Question,
    check_template,
    grade_id,
    is_locked,
    questions,
    read_notebook,
)

#: ename of the reply nbclient gives for a cell interrupted at its time limit
_TIMEOUT = "MixnbCellTimeout"
#: seconds to wait for an interrupted kernel to answer again
_PROBE_SECONDS = 5
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_REASON_LENGTH = 300

COLUMNS = ["submission", "question", "points", "max_points", "autograded", "status", "reason"]

_log = logging.getLogger("mixnb.assignments.kernel")
_log.addHandler(logging.NullHandler())
_log.propagate = False


@dataclass(frozen=True)
class _Outcome:
    """What happened to one code cell: ``ok``, ``error``, ``timeout`` or ``not run``."""

    status: str
    detail: str = ""


def grade(
    template: str | Path,
    submissions: Iterable[str | Path],
    out_dir: str | Path | None = None,
    timeout: int = 60,
    total_timeout: int = 600,
    kernel_name: str = "python3",
    verbose: bool = False,
) -> pd.DataFrame:
    """Grade student notebooks against a template; one row per submission and question.

    Each submission runs in a fresh kernel (working directory: the submission's folder) with
    the template's tests, hidden tests included, in place of whatever the submission has.

    Parameters
    ----------
    template
        The instructor's notebook with solutions and tests.
    submissions
        Student notebooks. A submission's name is its file stem (``alice.ipynb`` -> ``alice``),
        or ``folder/stem`` when two submissions share a stem.
    out_dir
        If given, write ``grades.csv`` (this table), ``totals.csv`` (one row per
        submission) and ``report.html`` there.
    timeout
        Seconds one cell may run before it is interrupted.
    total_timeout
        Seconds a whole submission may run; questions not reached by then score zero.
    kernel_name
        The Jupyter kernel to run submissions in.
    verbose
        Print each submission's scores as it finishes, ending with ``NAME: X/Y points``.

    Returns
    -------
    pandas.DataFrame
        Columns ``submission``, ``question``, ``points``, ``max_points``, ``autograded``
        (False for written answers graded by hand: their ``points`` are missing),
        ``status`` (``passed``, ``partial``, ``failed``, ``not run`` or ``manual``) and
        ``reason`` (why points were lost).
    """
    template = Path(template)
    template_nb = read_notebook(template)
    check_template(template_nb, str(template))
    _check_kernel(kernel_name)
    paths = [Path(s) for s in submissions]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise AssignmentError(f"No such submission: {', '.join(missing)}")
    parts: list[pd.DataFrame] = []
    for name, path in zip(_names(paths), paths):
        part = grade_one(template_nb, path, name, timeout, total_timeout, kernel_name)
        if verbose:
            print(submission_text(part), flush=True)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    if out_dir is not None:
        write_reports(table, Path(out_dir), title=template.stem)
    return table


def grade_one(
    template_nb: nbformat.NotebookNode,
    path: Path,
    name: str,
    timeout: int = 60,
    total_timeout: int = 600,
    kernel_name: str = "python3",
) -> pd.DataFrame:
    """Grade one submission (the rows :func:`grade` returns for it)."""
    items = questions(template_nb)
    try:
        nb, roles = assemble(template_nb, read_notebook(path))
    except Exception as exc:  # not a notebook, unreadable, invalid JSON, broken cells ...
        reason = _clip(f"could not read the notebook: {type(exc).__name__}: {exc}")
        verdicts = {
            q.grade_id: ("not run", 0.0 if q.autograded else float("nan"), reason) for q in items
        }
        return _rows(name, items, verdicts)
    outcomes = execute(nb, path.parent, timeout, total_timeout, kernel_name)
    return _rows(name, items, _judge(nb, roles, outcomes, items))


def assemble(
    template_nb: nbformat.NotebookNode, submission: nbformat.NotebookNode
) -> tuple[nbformat.NotebookNode, list[str | None]]:
    """The notebook to run: the student's cells with every locked cell taken from the template.

    Returns the notebook and, for each cell, the grade_id of the template cell it is (tests
    and other locked cells) or None for the student's own cells.
    """
    locked = {grade_id(c): c for c in template_nb.cells if is_locked(c) and grade_id(c)}
    cells: list[nbformat.NotebookNode] = []
    roles: list[str | None] = []
    for cell in submission.cells:
        gid = grade_id(cell)
        if gid in locked:
            if gid in roles:  # a duplicated locked cell runs once
                continue
            cell = locked[gid]
        else:
            gid = None
        cells.append(_fresh(cell))
        roles.append(gid)
    earlier: list[str] = []  # grade_ids of the template cells seen so far, in order
    for cell in template_nb.cells:
        gid = grade_id(cell)
        if gid is None:
            continue
        if gid in locked and gid not in roles:
            anchors = [roles.index(a) if a in roles else _position(cells, a) for a in earlier]
            at = max((a + 1 for a in anchors if a is not None), default=0)
            cells.insert(at, _fresh(cell))
            roles.insert(at, gid)
        earlier.append(gid)
    nb = nbformat.v4.new_notebook(metadata=copy.deepcopy(template_nb.metadata))
    nb.cells = cells
    return nb, roles


def _position(cells: list[nbformat.NotebookNode], gid: str) -> int | None:
    """Index of the first student cell carrying ``gid`` (an answer cell), if any."""
    return next((i for i, c in enumerate(cells) if grade_id(c) == gid), None)


def _fresh(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cell = copy.deepcopy(cell)
    if cell.get("cell_type") == "code":
        cell.outputs = []
        cell.execution_count = None
    return cell


def execute(
    nb: nbformat.NotebookNode,
    cwd: Path,
    timeout: int = 60,
    total_timeout: int = 600,
    kernel_name: str = "python3",
) -> dict[int, _Outcome]:
    """Run every code cell of ``nb`` in a new kernel; the outcome of each, by cell index."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    replies: dict[int, dict] = {}

    def record(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply or {}

    client = NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=timeout,
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": _TIMEOUT, "evalue": "", "traceback": []},
        shutdown_kernel="immediate",
        on_cell_executed=record,
        resources={"metadata": {"path": str(cwd)}},
        log=_log,
    )
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    outcomes: dict[int, _Outcome] = {}

    def stop(at: int, reason: str) -> None:
        for index in code[at:]:
            outcomes.setdefault(index, _Outcome("not run", reason))

    deadline = time.monotonic() + total_timeout
    try:
        # the kernel process's own output (its log, raw C-level prints) stays off our stdout
        with client.setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            for position, index in enumerate(code):
                left = deadline - time.monotonic()
                if left < 1:
                    stop(
                        position,
                        f"the time limit for the whole notebook ({total_timeout} s) ran out",
                    )
                    break
                client.timeout = int(min(timeout, left))
                try:
                    client.execute_cell(nb.cells[index], index)
                except DeadKernelError:
                    outcomes[index] = _Outcome("error", "the Python kernel died in this cell")
                    stop(position, "the Python kernel died in an earlier cell")
                    break
                outcomes[index] = _outcome(replies.pop(index, {}), client.timeout)
                if outcomes[index].status == "timeout" and not _responds(client, replies):
                    stop(
                        position + 1,
                        "the kernel stayed busy after an earlier cell was "
                        "interrupted (a loop that ignores interrupts?)",
                    )
                    break
    except Exception as exc:  # the kernel would not start, or would not stop
        stop(0, _clip(f"the grader could not run the kernel: {exc}"))
    return outcomes


def _outcome(reply: dict, seconds: int) -> _Outcome:
    content = reply.get("content", {})
    status = content.get("status", "error")
    if status == "ok":
        return _Outcome("ok")
    if content.get("ename") == _TIMEOUT:
        return _Outcome("timeout", f"did not finish within {seconds} s")
    ename, evalue = content.get("ename", "error"), content.get("evalue", "")
    return _Outcome("error", _clip(f"{ename}: {evalue}" if evalue else ename))


def _responds(client, replies: dict[int, dict]) -> bool:
    """Whether an interrupted kernel runs a trivial cell again within a few seconds."""
    probe = nbformat.v4.new_code_cell("None")
    client.nb.cells.append(probe)  # nbclient stores the executed cell back at its index
    try:
        client.timeout = _PROBE_SECONDS
        client.execute_cell(probe, len(client.nb.cells) - 1, store_history=False)
    finally:
        client.nb.cells.pop()
    return _outcome(replies.pop(len(client.nb.cells), {}), _PROBE_SECONDS).status == "ok"


def _judge(
    nb: nbformat.NotebookNode,
    roles: list[str | None],
    outcomes: dict[int, _Outcome],
    items: list[Question],
) -> dict[str, tuple[str, float, str]]:
    """(status, points, reason) per question from the executed notebook."""
    points = {q.grade_id: q.points for q in items if q.autograded}
    verdicts: dict[str, tuple[str, float, str]] = {}
    own: list[_Outcome] = []  # outcomes of the other code cells since the previous test
    for index, (cell, role) in enumerate(zip(nb.cells, roles)):
        outcome = outcomes.get(index)
        if role in points:
            verdicts[role] = _verdict(cell, outcome, own, points[role])
            own = []
        elif outcome is not None:
            own.append(outcome)
    for q in items:
        if not q.autograded:
            answers = [
                c for c, r in zip(nb.cells, roles) if r is None and grade_id(c) == q.grade_id
            ]
            answered = any(c.source.strip() not in ("", "\n".join(TEXT_STUB)) for c in answers)
            reason = "graded by hand" if answered else "not answered"
            verdicts[q.grade_id] = ("manual", float("nan"), reason)
        verdicts.setdefault(q.grade_id, ("not run", 0.0, "the test cell was not run"))
    return verdicts


def _verdict(
    cell: nbformat.NotebookNode, outcome: _Outcome | None, own: list[_Outcome], points: float
) -> tuple[str, float, str]:
    """Score one test cell as nbgrader does, with the reason for lost points."""
    if outcome is None:
        return "not run", 0.0, "the test cell was not run"
    if outcome.status == "not run":
        return "not run", 0.0, outcome.detail
    if outcome.status == "ok":
        return _score_outputs(cell, points)
    reason = f"test {outcome.detail}" if outcome.status == "timeout" else outcome.detail
    first = next((o for o in own if o.status != "ok"), None)
    if first is None and reason.startswith("NotImplementedError"):
        return "failed", 0.0, "not answered (your code still raises NotImplementedError)"
    if first is None:
        return "failed", 0.0, reason
    if first.detail.startswith("NotImplementedError"):
        return "failed", 0.0, "not answered (the answer cell still raises NotImplementedError)"
    if first.status == "timeout":
        cause = f"the code before this test {first.detail} (an endless loop?)"
    else:
        cause = f"the code before this test failed first: {first.detail}"
    return "failed", 0.0, _clip(f"{cause}; {reason}")


def _score_outputs(cell: nbformat.NotebookNode, points: float) -> tuple[str, float, str]:
    """nbgrader's rule for a test cell that ran: anything on stderr fails it, and a number
    as its result is partial credit; otherwise full points."""
    for output in cell.outputs:
        if output.output_type == "stream" and output.name == "stderr":
            first = output.text.strip().splitlines()[0] if output.text.strip() else ""
            return "failed", 0.0, _clip(f"the test wrote to stderr (a failure): {first}")
        if output.output_type == "execute_result":
            try:
                value = float(output.get("data", {}).get("text/plain", ""))
            except ValueError:
                break
            if 0 <= value < points:
                return ("partial" if value else "failed"), value, "partial credit from the test"
            break
    return "passed", points, ""


def _rows(
    name: str, items: list[Question], verdicts: dict[str, tuple[str, float, str]]
) -> pd.DataFrame:
    rows = []
    for q in items:
        status, points, reason = verdicts[q.grade_id]
        rows.append([name, q.grade_id, points, q.points, q.autograded, status, reason])
    return pd.DataFrame(rows, columns=COLUMNS)


def _names(paths: list[Path]) -> list[str]:
    """Submission names: the file stem, or folder/stem where stems repeat."""
    stems = [p.stem for p in paths]
    names = [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]
    for name in {n for n in names if names.count(n) > 1}:
        raise AssignmentError(f"Two submissions would both be called {name!r}; rename one.")
    return names


def _clip(text: str) -> str:
    text = _ANSI.sub("", text).strip()
    return text if len(text) <= _REASON_LENGTH else text[: _REASON_LENGTH - 3] + "..."


def _check_kernel(kernel_name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise AssignmentError(
            f"There is no Jupyter kernel called {kernel_name!r} here; install one "
            "(python -m ipykernel install --user) or pass another kernel name."
        ) from None
