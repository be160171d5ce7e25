"""Grade: run each submission in its own sandbox, then its values through the template's tests.

A submission is code written by someone who would like a better grade, so grading keeps the
two sides apart:

1. **The student's side** (:mod:`mixnb.teaching.assignments.sandbox`). The student's cells run in a
   fresh kernel inside a bubblewrap sandbox of their own, with every locked cell (e.g. the
   setup) taken from the template and, in place of each test cell, a cell that exports the
   values the test checks (the names its question declares) in a plain-data format
   (:mod:`mixnb.teaching.assignments.values`). Nothing of the tests, hidden or visible,
   enters it.
2. **The grader's side** (:mod:`mixnb.teaching.assignments._trusted`). In a separate
   interpreter that never runs student code, the template's locked cells run once, and each
   test runs on the values its question exported, by nbgrader's rule: no points if it raised
   or wrote to stderr, partial credit if its result is a number, full points otherwise.

A cell that runs too long is interrupted; a kernel that dies, a sandbox that ends early (the
student's code killed it) or runs out of time end the run, and the questions not reached
score zero with that reason. Each submission's result is written to the reports as soon as it
is known, so a crash of one submission, or of the grader itself, loses nothing already graded.
"""

from __future__ import annotations

import copy
import json
import math
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pandas as pd

from mixnb.teaching.assignments import sandbox
from mixnb.teaching.assignments.report import clean, submission_text, write_reports
from mixnb.teaching.assignments.template import (
    TEXT_STUB,
    AssignmentError,
    Question,
    check_template,
    defined_by_locked_cells,
    exports,
    grade_id,
    is_locked,
    is_test,
    questions,
    read_notebook,
    setup_cells,
    student_cell,
)

COLUMNS = ["submission", "question", "points", "max_points", "autograded", "status", "reason"]

_RUNNER = Path(__file__).with_name("_runner.py")
_TRUSTED = Path(__file__).with_name("_trusted.py")
_VALUES = Path(__file__).with_name("values.py")
#: the most of a sandbox's outcome log the grader reads (bytes)
_OUTCOME_BYTES = 2**20
#: seconds the grader allows a sandbox beyond its total time limit before killing it
_GRACE = 30


@dataclass(frozen=True)
class _Outcome:
    """What happened to one code cell: ``ok``, ``error``, ``timeout`` or ``not run``."""

    status: str
    detail: str = ""


@dataclass
class _Plan:
    """What every submission of one grading run is graded against, and how."""

    template_nb: nbformat.NotebookNode
    items: list[Question]
    tests: list[dict]
    setup: list[str]
    timeout: int
    total_timeout: int
    limits: sandbox.Limits
    sandboxed: bool
    root: Path
    runners: dict[int, _TestRunner] = field(default_factory=dict)


def grade(
    template: str | Path,
    submissions: Iterable[str | Path],
    out_dir: str | Path | None = None,
    timeout: int = 60,
    total_timeout: int = 600,
    verbose: bool = False,
    jobs: int = 2,
    memory: int = 2 * 2**30,
    unsafe_no_sandbox: bool = False,
) -> pd.DataFrame:
    """Grade student notebooks against a template; one row per submission and question.

    Each submission runs in a fresh kernel in a sandbox of its own (see
    ``docs/assignments.md``, "Threat model"), and the template's tests, hidden ones included,
    run outside it on the values each question exports.

    Parameters
    ----------
    template
        The instructor's notebook with solutions and tests.
    submissions
        Student notebooks. A submission's name is its file stem (``alice.ipynb`` -> ``alice``),
        or ``folder/stem`` when two submissions share a stem.
    out_dir
        If given, write ``grades.csv`` (this table), ``totals.csv`` (one row per
        submission) and ``report.html`` there, rewritten (atomically) as each submission's
        result is known.
    timeout
        Seconds one cell (or one test) may run before it is interrupted.
    total_timeout
        Seconds a whole submission may run; questions not reached by then score zero. It is
        also each sandboxed process's limit of CPU seconds.
    verbose
        Print each submission's scores (in submission order), ending with ``NAME: X/Y points``.
    jobs
        Submissions graded at the same time (each in its own sandbox).
    memory
        Address space each sandboxed process may use, in bytes.
    unsafe_no_sandbox
        Run submissions without the sandbox (with the resource limits only, and your
        permissions) where bubblewrap cannot run. Without it, grading refuses, saying why.

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
    paths = [Path(s) for s in submissions]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise AssignmentError(f"No such submission: {', '.join(missing)}")
    if jobs < 1 or timeout < 1 or total_timeout < 1:
        raise AssignmentError("jobs, timeout and total_timeout must be at least 1.")
    names = _names(paths)
    limits = sandbox.Limits(memory=int(memory), cpu_seconds=int(total_timeout) + _GRACE)
    if not unsafe_no_sandbox:
        _check_sandbox(limits, [template, *paths] + ([Path(out_dir)] if out_dir else []))
    provided = defined_by_locked_cells(template_nb)
    tests = [
        {
            "grade_id": grade_id(c),
            "source": c.source,
            "points": float(c.metadata["nbgrader"]["points"]),
            "exports": exports(c, provided),
        }
        for c in template_nb.cells
        if is_test(c)
    ]
    setup = [c.source for c in setup_cells(template_nb)]
    out = Path(out_dir) if out_dir is not None else None
    parts: dict[int, pd.DataFrame] = {}
    printed = 0
    with tempfile.TemporaryDirectory(prefix="mixnb-grade-") as root:
        plan = _Plan(
            template_nb, questions(template_nb), tests, setup, int(timeout),
            int(total_timeout), limits, not unsafe_no_sandbox, Path(root),
        )  # fmt: skip
        slots: queue.Queue[int] = queue.Queue()
        for slot in range(jobs):
            slots.put(slot)

        def work(index: int) -> pd.DataFrame:
            slot = slots.get()
            try:
                return _grade_submission(plan, index, paths[index], names[index], slot)
            except Exception as exc:  # the grader's own failure on one submission
                reason = clean(f"the grader failed on this submission: {type(exc).__name__}: {exc}")
                return _rows(names[index], plan.items, _not_run(plan.items, reason))
            finally:
                slots.put(slot)

        try:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(work, i): i for i in range(len(paths))}
                for future in as_completed(futures):
                    parts[futures[future]] = future.result()
                    table = _table(parts)
                    if out is not None:
                        write_reports(table, out, title=template.stem, expected=len(paths))
                    while verbose and printed in parts:
                        print(submission_text(parts[printed]), flush=True)
                        printed += 1
        finally:
            for runner in plan.runners.values():
                runner.close()
    table = _table(parts)
    if out is not None and not parts:
        write_reports(table, out, title=template.stem, expected=0)
    return table


def _table(parts: dict[int, pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat([parts[i] for i in sorted(parts)], ignore_index=True)


def _check_sandbox(limits: sandbox.Limits, paths: list[Path]) -> None:
    """Refuse to grade when the sandbox cannot run or would see the grader's files."""
    reason = _sandbox_problem(limits)
    if reason is not None:
        raise AssignmentError(
            f"Cannot grade safely: {reason}. The submissions' code would run with your "
            "permissions, able to read the template and change the reports; to do that "
            "anyway (a throw-away machine), pass --unsafe-no-sandbox "
            "(unsafe_no_sandbox=True)."
        )
    for path in paths:
        inside = sandbox.exposed(path)
        if inside is not None:
            raise AssignmentError(
                f"{path} is inside {inside}, which every sandbox can read; move it out "
                "of the Python environment and system folders."
            )


_CHECKED: dict[sandbox.Limits, str | None] = {}


def _sandbox_problem(limits: sandbox.Limits) -> str | None:
    if limits not in _CHECKED:
        _CHECKED[limits] = sandbox.problem(limits)
    return _CHECKED[limits]


def _grade_submission(plan: _Plan, index: int, path: Path, name: str, slot: int) -> pd.DataFrame:
    """Grade one submission in its own sandbox (the rows :func:`grade` returns for it)."""
    items = plan.items
    try:
        nb, roles = assemble(plan.template_nb, read_notebook(path))
    except Exception as exc:  # not a notebook, unreadable, invalid JSON, broken cells ...
        reason = clean(f"could not read the notebook: {type(exc).__name__}: {exc}")
        return _rows(name, items, _not_run(items, reason))
    runner = plan.runners.get(slot)
    if runner is None:
        runner = plan.runners[slot] = _TestRunner(plan)
    runner.start()
    folder = plan.root / f"submission-{index}"
    folder.mkdir(mode=0o755)
    inside = Path(sandbox.INSIDE if plan.sandboxed else folder)
    run_nb = sandboxed_notebook(nb, roles, plan, inside / "exports")
    job = {
        "timeout": plan.timeout,
        "total_timeout": plan.total_timeout,
        "cells": [
            {"index": i, "source": c.source}
            for i, c in enumerate(run_nb.cells)
            if c.cell_type == "code"
        ],
    }
    (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
    ended = ""
    try:
        process = sandbox.start(
            folder, [sys.executable, "-I", str(_RUNNER)], plan.limits, slot, plan.sandboxed
        )
    except (OSError, sandbox.SandboxUnavailable) as exc:
        ended = clean(f"the grader could not start the sandbox: {exc}")
    else:
        try:
            process.wait(timeout=plan.total_timeout + _GRACE)
        except subprocess.TimeoutExpired:
            ended = f"the time limit for the whole notebook ({plan.total_timeout} s) ran out"
        finally:
            sandbox.stop(process)
    outcomes = _read_outcomes(folder / "outcomes.jsonl", ended)
    exported = folder / "exports"
    if exported.is_symlink() or not exported.is_dir():
        exported = plan.root / "no-exports"
    results = runner.run(exported, plan.root / f"results-{index}.json")
    shutil.rmtree(folder, ignore_errors=True)
    return _rows(name, items, _judge(nb, roles, outcomes, items, results))


def _not_run(items: list[Question], reason: str) -> dict[str, tuple[str, float, str]]:
    return {q.grade_id: ("not run", 0.0 if q.autograded else float("nan"), reason) for q in items}


def _read_outcomes(path: Path, ended: str) -> dict:
    """The sandbox's log of cell outcomes, read as untrusted data (bounded, sanitised).

    A cell that started and has no outcome ended the process (``os._exit``, a crash, a
    kill): it is an error, and the cells after it were not run.
    """
    outcomes: dict = {}
    started: list[int] = []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            text = handle.read(_OUTCOME_BYTES).decode("utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            index, status = int(entry["index"]), str(entry["status"])
            detail = clean(str(entry.get("detail", "")))
        except (ValueError, KeyError, TypeError):
            continue
        if status == "started":
            started.append(index)
        elif status in ("ok", "error", "timeout", "not run"):
            outcomes.setdefault(index, _Outcome(status, detail))
    died = [i for i in started if i not in outcomes]
    if died:
        outcomes[died[0]] = _Outcome("error", "the Python kernel died in this cell")
        ended = "the Python kernel died in an earlier cell"
    if ended:
        outcomes["ended"] = _Outcome("not run", ended)
    return outcomes


def sandboxed_notebook(
    nb: nbformat.NotebookNode, roles: list[str | None], plan: _Plan, folder: Path
) -> nbformat.NotebookNode:
    """What runs in the sandbox: ``nb`` with each test replaced by its export cell.

    Locked cells are the template's student version (nothing hidden); a test cell becomes a
    cell that writes the values its question declares to ``folder/<grade_id>.json``.
    """
    tests = {t["grade_id"]: t for t in plan.tests}
    locked = {grade_id(c): c for c in plan.template_nb.cells if is_locked(c)}
    cells = []
    for cell, role in zip(nb.cells, roles):
        if role in tests:
            cell = nbformat.v4.new_code_cell(
                _export_source(folder / f"{role}.json", tests[role]["exports"])
            )
        elif role is not None:
            cell = _fresh(student_cell(locked[role]))
        cells.append(cell)
    metadata = {k: v for k, v in plan.template_nb.metadata.items() if k in ("kernelspec",)}
    run = nbformat.v4.new_notebook(metadata=copy.deepcopy(metadata))
    run.cells = cells
    return run


def _export_source(path: Path, names: list[str]) -> str:
    """The cell that exports ``names`` to ``path`` (run in the student's kernel)."""
    return f"""def _mixnb_export():
    import importlib.util
    import sys

    module = sys.modules.get("_mixnb_values")
    if module is None:
        spec = importlib.util.spec_from_file_location("_mixnb_values", {str(_VALUES)!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["_mixnb_values"] = module
    module.export({str(path)!r}, {names!r}, globals())


_mixnb_export()
del _mixnb_export"""


class _TestRunner:
    """One trusted interpreter (:mod:`mixnb.teaching.assignments._trusted`) per parallel worker."""

    def __init__(self, plan: _Plan):
        self.plan = plan
        self.process: subprocess.Popen | None = None
        self.ready = False
        self.lock = threading.Lock()

    def _start(self) -> None:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(_TRUSTED)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self.plan.root,
            env=env,
            start_new_session=True,
        )
        self._send({"setup": self.plan.setup})
        self.ready = False

    def start(self) -> None:
        """Start the interpreter (it imports and runs the setup while the sandbox runs)."""
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self._start()

    def _send(self, message: dict) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()

    def run(self, exported: Path, result: Path) -> dict | str:
        """Run every test on the values in ``exported``; their results, or why there are none."""
        plan = self.plan
        request = {
            "exports": str(exported),
            "result": str(result),
            "timeout": plan.timeout,
            "memory": plan.limits.memory,
            "tests": [{k: t[k] for k in ("grade_id", "source", "exports")} for t in plan.tests],
        }
        request["deadline"] = plan.timeout * max(1, len(plan.tests)) + 10
        with self.lock:
            try:
                if self.process is None or self.process.poll() is not None:
                    self._start()
                if not self.ready:
                    if _read_line(self.process.stdout, 300) is None:
                        raise RuntimeError("the grader's test interpreter did not start")
                    self.ready = True
                self._send(request)
                reply = _read_line(self.process.stdout, request["deadline"] + 30)
            except (OSError, RuntimeError, ValueError) as exc:
                self.close()
                return f"the tests could not be run: {exc}"
            if reply is None:
                self.close()
                return "the tests could not be run: the grader's test interpreter stopped"
        status = json.loads(reply).get("status")
        if status == "timeout":
            return f"the tests did not finish within {request['deadline']} s"
        try:
            return json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return f"the tests could not be run on these values ({status})"

    def close(self) -> None:
        if self.process is None:
            return
        try:
            if self.process.stdin:
                self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.process.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        self.process = None


def _read_line(stream, seconds: float) -> str | None:
    """One line from a pipe within ``seconds`` (None on timeout or end of file)."""
    fd = stream.fileno()
    data = b""
    deadline = time.monotonic() + seconds
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        data += chunk
    return data.decode()


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


def _judge(
    nb: nbformat.NotebookNode,
    roles: list[str | None],
    outcomes: dict,
    items: list[Question],
    results: dict | str,
) -> dict[str, tuple[str, float, str]]:
    """(status, points, reason) per question from the sandbox's outcomes and the tests'."""
    points = {q.grade_id: q.points for q in items if q.autograded}
    ended = outcomes.get("ended")
    if isinstance(results, dict):
        by_id = {r.get("grade_id"): r for r in results.get("results", [])}
        setup_errors = results.get("setup_errors", [])
    else:
        by_id, setup_errors = {}, []
    verdicts: dict[str, tuple[str, float, str]] = {}
    own: list[_Outcome] = []  # outcomes of the other code cells since the previous test
    for index, (cell, role) in enumerate(zip(nb.cells, roles)):
        outcome = outcomes.get(index)
        if role in points:
            if outcome is None:
                outcome = ended or _Outcome(
                    "not run",
                    "the submission's code stopped its own run before this question "
                    "(it killed its kernel or the grader's runner in the sandbox)",
                )
            if outcome.status == "not run":
                verdicts[role] = ("not run", 0.0, clean(outcome.detail))
            elif isinstance(results, str):
                verdicts[role] = ("failed", 0.0, clean(results))
            else:
                verdict = _verdict(outcome, own, by_id.get(role), points[role])
                if verdict[0] == "failed" and setup_errors:
                    note = f" (the template's setup failed in the grader: {setup_errors[0]})"
                    verdict = (verdict[0], verdict[1], verdict[2] + note)
                verdicts[role] = (verdict[0], verdict[1], clean(verdict[2]))
            own = []
        elif outcome is not None and cell.cell_type == "code":
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
    export: _Outcome, own: list[_Outcome], result: dict | None, points: float
) -> tuple[str, float, str]:
    """Score one test by nbgrader's rule, with the reason for lost points.

    ``export`` is what happened to the cell that exported the question's values, ``own``
    the outcomes of the student's cells since the previous test, ``result`` what the test
    did with the values in the grader's interpreter.
    """
    if result is None:
        return "failed", 0.0, "the test was not run"
    if result.get("status") == "ok":
        return _score(result, points)
    reason = str(result.get("detail", "error"))
    if result.get("status") == "timeout":
        reason = f"test {reason}"
    needed = result.get("name")
    problems = result.get("problems", {})
    if needed and needed in problems:
        reason = problems[needed]
    elif needed and result.get("missing"):
        reason = f"{reason} (the values for this question were not exported"
        reason += f": {export.detail})" if export.detail else ")"
    first = next((o for o in own if o.status != "ok"), None)
    if first is None:
        return "failed", 0.0, reason
    if first.detail.startswith("NotImplementedError"):
        return "failed", 0.0, "not answered (the answer cell still raises NotImplementedError)"
    if first.status == "timeout":
        cause = f"the code before this test {first.detail} (an endless loop?)"
    else:
        cause = f"the code before this test failed first: {first.detail}"
    return "failed", 0.0, f"{cause}; {reason}"


def _score(result: dict, points: float) -> tuple[str, float, str]:
    """nbgrader's rule for a test that ran: anything on stderr fails it, and a number as its
    result is partial credit (a result outside [0, points], or NaN, is an error worth 0 and a
    result of 0 is worth 0); otherwise full points."""
    stderr = str(result.get("stderr", "")).strip()
    if stderr:
        first = stderr.splitlines()[0]
        return "failed", 0.0, f"the test wrote to stderr (a failure): {first}"
    if "value" not in result:
        return "passed", points, ""
    value, text = result["value"], str(result.get("value_text", result["value"]))
    if not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= points:
        return (
            "failed",
            0.0,
            f"the test's result {text} is not a score between 0 and {points:g}: "
            "counted as an error (0 points)",
        )
    if value == points:
        return "passed", points, ""
    if value == 0:
        return "failed", 0.0, "partial credit from the test: 0"
    return "partial", float(value), f"partial credit from the test: {value:g} of {points:g}"


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
    names = [clean(n) or "(no name)" for n in names]  # a file name may hold escape codes
    for name in {n for n in names if names.count(n) > 1}:
        raise AssignmentError(f"Two submissions would both be called {name!r}; rename one.")
    return names
