"""Assignment templates, student copies and autograding (mixnb.teaching.assignments).

Kernels are expensive, so each template is graded once (solution, blank student copy and a
wrong answer in one call) and the results are shared by the tests of that template; the
behaviours that do not need mixnb in the kernel (loops, a dying kernel, tampering) use a tiny
synthetic template.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import html
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from mixnb.errors import MixnbWarning
from mixnb.teaching import assignments
from mixnb.teaching.assignments import (
    AssignmentError,
    check_template,
    questions,
    read_notebook,
    sandbox,
    values,
)
from mixnb.teaching.assignments import cli as assignment_cli
from mixnb.teaching.assignments.template import grade_id, is_solution, is_test, student_cell

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "notebooks" / "assignments").glob("*.ipynb"))

#: per template: the answer cell to spoil, the line that spoils it, the question that must fail
WRONG = {
    "01-traditional-approach": ("q4-answer", "r2_batches = r2_batches / 2", "q4"),
    "02-random-intercept": ("q4-answer", "u_E = u_E + 1", "q4"),
    "03-random-slope": ("q2-answer", "slope_high = slope_high + 1", "q2"),
    "04-inference": ("q2-answer", "df_recipe = df_recipe + 1", "q2"),
    "05-beyond-linear": ("q2-answer", "sd_district = sd_district + 1", "q2"),
}
NBGRADER_KEYS = {"grade", "grade_id", "locked", "points", "schema_version", "solution"}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def solution_lines(nb, begin: str, end: str) -> list[str]:
    """The non-trivial lines between the markers ``begin`` and ``end`` in any cell."""
    found = []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif inside and len(re.sub(r"\W", "", line)) >= 6:
                found.append(line.strip())
    return found


def spoil(nb, answer_id: str, line: str):
    """A copy of ``nb`` with ``line`` appended to the answer cell ``answer_id``."""
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb.cells if grade_id(c) == answer_id)
    cell.source += "\n" + line
    return nb


def total(table: pd.DataFrame, name: str) -> tuple[float, float]:
    rows = table[(table["submission"] == name) & table["autograded"]]
    return rows["points"].sum(), rows["max_points"].sum()


@pytest.fixture(scope="module", params=TEMPLATES, ids=lambda p: p.stem)
def graded(request, tmp_path_factory):
    """One release and one grading run (solution, blank, wrong answer) per template."""
    template = request.param
    before = digest(template)
    work = tmp_path_factory.mktemp(template.stem)
    released = assignments.release(template, work / "release")
    assert digest(template) == before, "release must not touch the template"
    submitted = work / "submitted"
    submitted.mkdir()
    nb = read_notebook(template)
    nbformat.write(nb, submitted / "solution.ipynb")
    (submitted / "blank.ipynb").write_bytes(released.read_bytes())
    answer_id, line, _ = WRONG[template.stem]
    nbformat.write(spoil(nb, answer_id, line), submitted / "wrong.ipynb")
    names = ["solution", "blank", "wrong"]
    table = assignments.grade(
        template, [submitted / f"{n}.ipynb" for n in names], out_dir=work / "grades"
    )
    return template, released, table, work


def test_every_chapter_has_a_template():
    assert [p.stem for p in TEMPLATES] == list(WRONG)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_template_is_valid_nbgrader(template):
    nb = read_notebook(template)
    check_template(nb, template.name)
    items = questions(nb)
    assert 4 <= len(items) <= 6
    auto = sum(q.points for q in items if q.autograded)
    assert 10 <= auto <= 20
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        assert set(meta) <= NBGRADER_KEYS and meta["schema_version"] == 3
        if is_test(cell):
            assert meta["locked"] and not meta["solution"] and meta["points"] > 0
        elif is_solution(cell) and cell.cell_type == "code":
            assert not meta["grade"] and not meta["locked"]
    for cell in nb.cells:  # the template is committed clean
        assert cell.cell_type != "code" or (not cell.outputs and cell.execution_count is None)


@pytest.mark.slow
def test_student_copy_has_no_solutions_or_hidden_tests(graded):
    template, released, _, _ = graded
    nb, student = read_notebook(template), read_notebook(released)
    text = "\n".join(c.source for c in student.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"):
        assert marker not in text
    student_lines = {line.strip() for line in text.splitlines()}
    secret = solution_lines(nb, "BEGIN SOLUTION", "END SOLUTION")
    secret += solution_lines(nb, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    assert secret and not student_lines & set(secret)
    assert [grade_id(c) for c in student.cells] == [grade_id(c) for c in nb.cells]
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        if is_solution(cell):
            assert "YOUR CODE HERE" in cell.source or "YOUR ANSWER HERE" in cell.source
        if cell.metadata.get("nbgrader", {}).get("locked"):
            assert cell.metadata["editable"] is False and cell.metadata["deletable"] is False


@pytest.mark.slow
def test_student_copy_runs_until_the_first_exercise(graded):
    _, released, _, _ = graded
    nb = read_notebook(released)
    client = NotebookClient(nb, timeout=300, kernel_name="python3")
    with pytest.raises(CellExecutionError) as failure:
        client.execute()
    assert failure.value.ename == "NotImplementedError"
    first_answer = next(i for i, c in enumerate(nb.cells) if is_solution(c))
    for index, cell in enumerate(nb.cells[: first_answer + 1]):
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, f"cell {index} did not run"
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert bool(errors) == (index == first_answer), f"cell {index}"


@pytest.mark.slow
def test_solution_gets_full_marks(graded):
    _, _, table, _ = graded
    rows = table[table["submission"] == "solution"]
    auto = rows[rows["autograded"]]
    assert (auto["status"] == "passed").all(), auto[["question", "reason"]].to_string()
    got, out_of = total(table, "solution")
    assert got == out_of > 0
    assert (rows.loc[~rows["autograded"], "status"] == "manual").all()
    assert (rows.loc[~rows["autograded"], "reason"] == "graded by hand").all()


@pytest.mark.slow
def test_blank_student_copy_gets_zero(graded):
    _, _, table, _ = graded
    rows = table[(table["submission"] == "blank") & table["autograded"]]
    assert (rows["points"] == 0).all() and (rows["status"] == "failed").all()
    assert rows["reason"].str.startswith("not answered").all()
    written = table[(table["submission"] == "blank") & ~table["autograded"]]
    assert (written["reason"] == "not answered").all()


@pytest.mark.slow
def test_wrong_answer_loses_exactly_that_question(graded):
    template, _, table, _ = graded
    question = WRONG[template.stem][2]
    rows = table[(table["submission"] == "wrong") & table["autograded"]].set_index("question")
    assert rows.loc[question, "status"] == "failed"
    assert rows.loc[question, "reason"].startswith("AssertionError")
    assert (rows.drop(question)["status"] == "passed").all()
    got, out_of = total(table, "wrong")
    assert got == out_of - rows.loc[question, "max_points"]


@pytest.mark.slow
def test_reports_are_written(graded):
    _, _, table, work = graded
    grades = pd.read_csv(work / "grades" / "grades.csv")
    assert len(grades) == len(table)
    totals = pd.read_csv(work / "grades" / "totals.csv", index_col="submission")
    assert list(totals.index) == ["solution", "blank", "wrong"]
    assert totals.loc["solution", "total"] == totals.loc["solution", "max"]
    assert totals.loc["blank", "total"] == 0
    page = (work / "grades" / "report.html").read_text()
    assert "solution: " in page and page.startswith("<!DOCTYPE html>")


@pytest.mark.slow
def test_crash_and_deleted_variable_get_partial_credit_through_the_cli(tmp_path, capsys):
    template = ROOT / "notebooks" / "assignments" / "02-random-intercept.ipynb"
    nb = read_notebook(template)
    # q2's answer crashes halfway (var_resid and icc never get set);
    # q3's answer deletes var_batch, which q4 needs
    crashing = copy.deepcopy(nb)
    cell = next(c for c in crashing.cells if grade_id(c) == "q2-answer")
    cell.source = cell.source.replace("var_resid = ", "1 / 0\nvar_resid = ")
    nbformat.write(crashing, tmp_path / "crasher.ipynb")
    nbformat.write(spoil(nb, "q3-answer", "del var_batch"), tmp_path / "deleter.ipynb")
    args = ["grade", str(template), str(tmp_path / "crasher.ipynb")]
    args += [str(tmp_path / "deleter.ipynb"), "--out", str(tmp_path / "grades")]
    assert assignment_cli.main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    points = {q.grade_id: q.points for q in questions(nb) if q.autograded}
    full = sum(points.values())
    crasher = f"crasher: {full - points['q2'] - points['q4']:g}/{full:g} points"
    deleter = f"deleter: {full - points['q4']:g}/{full:g} points"
    assert crasher in out and out[-1] == deleter
    table = pd.read_csv(tmp_path / "grades" / "grades.csv").set_index(["submission", "question"])
    reason = table.loc[("crasher", "q2"), "reason"]
    assert "failed first: ZeroDivisionError" in reason and "var_resid" in reason
    assert "NameError: name 'var_batch' is not defined" in table.loc[("deleter", "q4"), "reason"]
    assert table.loc[("deleter", "q5"), "status"] == "passed"


# --- a tiny template for the failure modes (no mixnb import in the kernel: fast) ---


def meta(gid, grade=False, solution=False, locked=False, points=None):
    m = {"grade": grade, "grade_id": gid, "locked": locked, "schema_version": 3}
    m["solution"] = solution
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def tiny_template():
    code, md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    cells = [
        md("# Tiny"),
        code(
            "import math\n\nimport numpy as np\n\nexpected_y = 3.0",
            metadata=meta("setup", locked=True),
        ),
        code(
            "### BEGIN SOLUTION\nx = 2\n### END SOLUTION", metadata=meta("q1-answer", solution=True)
        ),
        code(
            "assert isinstance(x, int)\n### BEGIN HIDDEN TESTS\nassert x == 2\n"
            "### END HIDDEN TESTS",
            metadata=meta("q1", grade=True, locked=True, points=1),
        ),
        code(
            "def f(a):\n    ### BEGIN SOLUTION\n    return a + 1\n    ### END SOLUTION",
            metadata=meta("q2-answer", solution=True),
        ),
        # a function is graded through values: a locked cell (run in the sandbox) calls it
        code("f_values = [f(0), f(1)]", metadata=meta("q2-probe", locked=True)),
        code("assert f_values == [1, 2]", metadata=meta("q2", grade=True, locked=True, points=2)),
        code(
            "### BEGIN SOLUTION\ny = 3.0\n### END SOLUTION",
            metadata=meta("q3-answer", solution=True),
        ),
        code(
            "assert np.isclose(y, expected_y)",
            metadata=meta("q3", grade=True, locked=True, points=3),
        ),
        md(
            "### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
            metadata=meta("q4", grade=True, solution=True, points=2),
        ),
        code("z = 2", metadata=meta("q5-answer", solution=True)),
        # nbgrader's rules: a number as the result is partial credit, stderr output a failure;
        # this test passes the student's own number on as the score, as a careless test might
        code(
            'import sys\n\nif z == -1:\n    print("z is -1", file=sys.stderr)\nz',
            metadata=meta("q5", grade=True, locked=True, points=2),
        ),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def with_sources(nb, changes: dict[str, str], drop=()):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if grade_id(cell) in changes:
            cell.source = changes[grade_id(cell)]
    nb.cells = [c for c in nb.cells if grade_id(c) not in drop]
    return nb


def test_student_cell_keeps_indentation_and_surroundings():
    nb = tiny_template()
    assert student_cell(nb.cells[4]).source == (
        "def f(a):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    )
    assert student_cell(nb.cells[3]).source == "assert isinstance(x, int)"
    assert student_cell(nb.cells[9]).source == "YOUR ANSWER HERE"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda nb: setattr(nb.cells[2], "source", "### BEGIN SOLUTION\nx = 2"), "never closed"),
        (
            lambda nb: setattr(nb.cells[1], "source", "### BEGIN SOLUTION\n### END SOLUTION"),
            "not a solution cell",
        ),
        (
            lambda nb: setattr(
                nb.cells[7], "source", "### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"
            ),
            "not a test cell",
        ),
        (lambda nb: nb.cells[6].metadata.nbgrader.pop("points"), "needs points"),
        (lambda nb: nb.cells[8].metadata.nbgrader.update(grade_id="q1"), "used twice"),
        (lambda nb: nb.cells[8].metadata.nbgrader.update(locked=False), "must be locked"),
        (lambda nb: nb.cells[9].metadata.nbgrader.update(solution=False), "Markdown answer"),
        (lambda nb: nb.cells[8].metadata.update(mixnb={"exports": []}), "would not be given"),
        (lambda nb: nb.cells[8].metadata.update(mixnb={"exports": ["no such"]}), "variable names"),
    ],
)
def test_check_template_rejects_broken_templates(edit, message):
    nb = tiny_template()
    check_template(nb)
    edit(nb)
    with pytest.raises(AssignmentError, match=message):
        check_template(nb)


def test_release_refuses_to_overwrite_and_grade_needs_real_paths(tmp_path, capsys):
    template = tmp_path / "tiny.ipynb"
    nbformat.write(tiny_template(), template)
    before = digest(template)
    out = assignments.release(template, tmp_path / "out")
    with pytest.raises(AssignmentError, match="already exists; pass --force"):
        assignments.release(template, tmp_path / "out")
    assert assignment_cli.main(["release", str(template), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "--force" in err and "force=True (" not in err
    args = ["release", str(template), "--out", str(tmp_path / "out"), "--force"]
    assert assignment_cli.main(args) == 0
    assert read_notebook(out).cells[2].source.endswith("raise NotImplementedError()")
    with pytest.raises(AssignmentError, match="overwrite"):
        assignments.release(template, tmp_path)
    assert digest(template) == before
    with pytest.raises(AssignmentError, match="No such submission"):
        assignments.grade(template, [tmp_path / "typo.ipynb"])


def test_release_warns_about_a_notebook_with_nothing_to_grade(tmp_path, capsys):
    plain = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), plain)
    with pytest.warns(MixnbWarning, match="no graded cells"):
        assignments.release(plain, tmp_path / "out")
    args = ["release", str(plain), "--out", str(tmp_path / "cli"), "--force"]
    assert assignment_cli.main(args) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == f"wrote {tmp_path / 'cli' / 'plain.ipynb'}"
    assert "warning: " in captured.err and "no graded cells" in captured.err


def test_release_and_grade_options_match_and_show_their_defaults(tmp_path, monkeypatch, capsys):
    parser = argparse.ArgumentParser(prog="mixnb assignment")
    assignment_cli.add_arguments(parser)
    for action in ("release", "grade"):
        with pytest.raises(SystemExit):
            parser.parse_args([action, "--help"])
        text = capsys.readouterr().out
        assert "--out DIR" in text and "--force" in text
        assert f"(default: {'release' if action == 'release' else 'grades'})" in text
    assert "(default: 60)" in text and "--unsafe-no-sandbox" in text and "sandbox" in text
    # without --out, both write into a folder of the current one
    monkeypatch.chdir(tmp_path)
    template = tmp_path / "tiny.ipynb"
    nbformat.write(tiny_template(), template)
    assert assignment_cli.main(["release", str(template)]) == 0
    assert (tmp_path / "release" / "tiny.ipynb").is_file()
    capsys.readouterr()
    args = ["grade", str(template), str(tmp_path / "release" / "tiny.ipynb")]
    assert assignment_cli.main(args) == 0
    err = capsys.readouterr().err
    assert "//" not in err and "grades/grades.csv" in err
    assert (tmp_path / "grades" / "totals.csv").is_file()
    # a second run does not silently replace the reports
    assert assignment_cli.main(args) == 1
    assert "pass --force" in capsys.readouterr().err
    assert assignment_cli.main([*args, "--force"]) == 0


def test_mixnb_command_line_has_the_assignment_commands(tmp_path, capsys):
    pytest.importorskip("mixnb.teaching.tutorials")
    from mixnb.cli import main

    template = tmp_path / "tiny.ipynb"
    nbformat.write(tiny_template(), template)
    assert main(["assignment", "release", str(template), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'out' / 'tiny.ipynb'}"


@pytest.mark.slow
def test_grader_survives_loops_dying_kernels_tampering_and_junk(tmp_path, capsys):
    nb = tiny_template()
    template = tmp_path / "tiny.ipynb"
    nbformat.write(nb, template)
    subs = tmp_path / "submitted"
    subs.mkdir()
    submissions = {
        # interrupted at the time limit; q3 still runs and passes
        "looper": with_sources(nb, {"q2-answer": "while True:\n    pass", "q5-answer": "z = 1"}),
        # ignores the interrupt: the run stops, later questions are not run
        "stubborn": with_sources(
            nb,
            {
                "q2-answer": "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n"
                "    except KeyboardInterrupt:\n        pass"
            },
        ),
        "dier": with_sources(nb, {"q2-answer": "import os\nos._exit(1)"}),
        # weakens a visible test, deletes another, duplicates a third
        "tamperer": with_sources(
            nb,
            {"q1-answer": "x = 5", "q1": "pass", "q2-answer": "def f(a):\n    return a"},
            drop=["q3"],
        ),
        "=<img src=x onerror=alert(1)>": with_sources(
            nb, {"q1-answer": 'raise ValueError("<b>")', "q5-answer": "z = -1"}
        ),
    }
    paths = []
    for name, sub in submissions.items():
        nbformat.write(sub, subs / f"{name}.ipynb")
        paths.append(subs / f"{name}.ipynb")
    dup = read_notebook(paths[3])
    clone = copy.deepcopy(dup.cells[3])
    clone["id"] = "duplicated-test"
    dup.cells.insert(4, clone)
    nbformat.write(dup, paths[3])
    (subs / "junk.ipynb").write_text("{not a notebook")
    paths.append(subs / "junk.ipynb")

    table = assignments.grade(template, paths, out_dir=tmp_path / "grades", timeout=3, verbose=True)
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "junk: 0/8 points"
    t = table.set_index(["submission", "question"])
    assert t.loc[("looper", "q1"), "status"] == "passed"
    assert "did not finish within 3 s" in t.loc[("looper", "q2"), "reason"]
    assert t.loc[("looper", "q3"), "status"] == "passed"
    assert t.loc[("stubborn", "q1"), "status"] == "passed"
    assert "stayed busy" in t.loc[("stubborn", "q3"), "reason"]
    assert t.loc[("dier", "q1"), "status"] == "passed"
    assert "kernel died" in t.loc[("dier", "q2"), "reason"]
    assert t.loc[("dier", "q3"), "status"] == "not run"
    # the hidden test and the deleted test came back; the duplicate ran once
    assert t.loc[("tamperer", "q1"), "reason"] == "AssertionError"
    assert t.loc[("tamperer", "q2"), "status"] == "failed"
    assert t.loc[("tamperer", "q3"), "status"] == "passed"
    assert t.loc[("junk", "q1"), "reason"].startswith("could not read the notebook")
    assert total(table, "tamperer") == (5, 8) and total(table, "junk") == (0, 8)
    # nbgrader's scoring of a test's result: a number is partial credit, stderr a failure
    assert t.loc[("looper", "q5"), ["status", "points"]].tolist() == ["partial", 1]
    evil = "=<img src=x onerror=alert(1)>"
    assert t.loc[(evil, "q5"), "reason"].startswith("the test wrote to stderr")
    assert t.loc[("stubborn", "q5"), "status"] == "not run"

    page = (tmp_path / "grades" / "report.html").read_text()
    assert "<img" not in page and "<b>" not in page
    assert html.escape("=<img src=x onerror=alert(1)>") in page
    grades = pd.read_csv(tmp_path / "grades" / "grades.csv")
    assert "'=<img src=x onerror=alert(1)>" in set(grades["submission"])


# --- the attack suite: students who want a better grade (docs/assignments.md, threat model) ---

NO_SANDBOX = sandbox.problem()
needs_sandbox = pytest.mark.skipif(NO_SANDBOX is not None, reason=f"no sandbox: {NO_SANDBOX}")


def sandbox_processes() -> list[int]:
    """Processes still running as one of the sandboxes' user ids (root grading only)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(next(li for li in status.read_text().splitlines() if li.startswith("Uid:"))
                      .split()[1])  # fmt: skip
        except (OSError, StopIteration, ValueError):
            continue
        if sandbox.FIRST_UID <= uid < sandbox.FIRST_UID + 16:
            found.append(int(status.parent.name))
    return found


def attacks(paths: dict[str, str], port: int) -> dict[str, tuple[dict[str, str], float]]:
    """Each attacker: its answer cells (on the blank student copy) and the points its honest
    work is worth. All answer q1 honestly first (x = 2, 1 point) unless said otherwise."""
    p = {k: repr(v) for k, v in paths.items()}
    return {
        # reads every command line and environment it can see for the template, then runs the
        # template's solutions; also tries the template's real path directly
        "proc-reader": (
            {
                "q1-answer": "x = 2",
                "q2-answer": f"""import glob, json
seen = []
for path in glob.glob("/proc/[0-9]*/cmdline") + glob.glob("/proc/[0-9]*/environ"):
    try:
        seen.append(open(path, "rb").read().decode(errors="replace"))
    except OSError:
        pass
words = " ".join(seen).replace("\\0", " ").split()
for candidate in [{p["template"]}] + [w for w in words if w.endswith(".ipynb")]:
    try:
        stolen = json.load(open(candidate))
    except OSError:
        continue
    for cell in stolen["cells"]:
        if "BEGIN SOLUTION" in "".join(cell["source"]):
            exec("".join(cell["source"]), globals())""",
            },
            1,
        ),
        # every later cell, the grader's included, runs as `pass`
        "transformer": (
            {
                "q1-answer": "x = 2",
                "q2-answer": "get_ipython().input_transformers_cleanup.append("
                'lambda ls: ["pass\\n"])',
            },
            1,
        ),
        # makes numpy's comparison always true, then gives a wrong answer
        "numpy-patcher": (
            {
                "q1-answer": "x = 2",
                "q3-answer": "import numpy\nnumpy.isclose = lambda *a, **k: True\n"
                "numpy.allclose = numpy.isclose\ny = 999.0",
            },
            1,
        ),
        # writes its own export file, with the setup's constant changed too, and stops the
        # grader's export cells from running
        "forger": (
            {
                "q1-answer": "x = 2",
                "q3-answer": "import json\ny = 999.0\njson.dump({'values': {'y': 999.0, "
                "'expected_y': 999.0}, 'problems': {}}, open('/submission/exports/q3.json', 'w'))"
                '\nget_ipython().input_transformers_cleanup.append(lambda ls: ["pass\\n"])',
            },
            1,
        ),
        # a detached grandchild waits for the reports and rewrites them with full marks
        "detached": (
            {
                "q1-answer": "x = 2",
                "q2-answer": f"""import os, subprocess, sys
payload = '''
import time
for _ in range(150):
    for path in ({p["totals"]}, {p["grades"]}):
        try:
            with open(path, "w") as handle:
                handle.write("submission,total,max\\\\ndetached,8,8\\\\n")
        except OSError:
            pass
    time.sleep(0.2)
'''
subprocess.Popen([sys.executable, "-c", payload], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        exec(payload)
    os._exit(0)""",
            },
            1,
        ),
        # blanks a classmate's notebook, copies the classmate's answers, deletes folders
        # outside its own, appends to the template, plants a .pth file in the environment
        "vandal": (
            {
                "q1-answer": "x = 2",
                "q2-answer": f"""import glob, json, os, shutil, site
for target in ({p["classmate"]}, {p["template"]}):
    try:
        stolen = json.load(open(target))
        for cell in stolen["cells"]:
            source = "".join(cell["source"])
            if "raise NotImplementedError" not in source and "assert" not in source:
                exec(source, globals())
    except Exception:
        pass
    try:
        open(target, "w").write("{{}}")
    except OSError:
        pass
try:
    open({p["template"]}, "a").write("appended")
except OSError:
    pass
for folder in ({p["precious"]}, {p["submitted"]}, {p["out"]}, {p["template_dir"]}):
    shutil.rmtree(folder, ignore_errors=True)
for folder in site.getsitepackages():
    try:
        open(os.path.join(folder, "mixnb_attack.pth"), "w").write("import os")
    except OSError:
        pass""",
            },
            1,
        ),
        "parent-killer": (
            {
                "q1-answer": "x = 2",
                "q2-answer": "import os, signal\nfor pid in (os.getppid(), 1):\n    try:\n"
                "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass",
            },
            1,
        ),
        "group-killer": (
            {
                "q1-answer": "x = 2",
                "q2-answer": "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\n"
                "except OSError:\n    pass\nos.killpg(0, signal.SIGKILL)",
            },
            1,
        ),
        "memory-hog": ({"q1-answer": "x = 2", "q2-answer": "block = bytearray(4 * 2**30)"}, 1),
        "caller": (
            {
                "q1-answer": "x = 2",
                "q2-answer": "import socket\n"
                f"s = socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
                "s.sendall(b'hello from a sandbox')",
            },
            1,
        ),
        # an error message that prints a fake score line (newline, carriage return, ANSI)
        "faker": (
            {
                "q1-answer": 'raise AssertionError("wrong\\n\\x1b[2K\\rfaker: 8/8 points'
                '\\x1b[0m\\r\\n\\x1b]0;title\\x07")',
            },
            0,
        ),
        # partial-credit tests fed a score the student chose
        "negative": ({"q1-answer": "x = 2", "q5-answer": "z = -3"}, 1),
        "not-a-number": (
            {"q1-answer": "x = 2", "q5-answer": "import numpy as np\nz = np.float64('nan')"},
            1,
        ),
        "too-much": ({"q1-answer": "x = 2", "q5-answer": "z = 99"}, 1),
        "zero": ({"q1-answer": "x = 2", "q5-answer": "z = 0"}, 1),
    }


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """One grading run: two honest students and every attacker, two at a time."""
    root = tmp_path_factory.mktemp("course")
    template_dir, submitted, out, precious = (root / n for n in ("t", "s", "grades", "keep"))
    for folder in (template_dir, submitted, precious):
        folder.mkdir()
    (precious / "gradebook.txt").write_text("keep me")
    template = template_dir / "tiny.ipynb"
    nbformat.write(tiny_template(), template)
    blank = read_notebook(assignments.release(template, root / "release"))
    paths = {
        "template": str(template),
        "template_dir": str(template_dir),
        "submitted": str(submitted),
        "classmate": str(submitted / "alice.ipynb"),
        "totals": str(out / "totals.csv"),
        "grades": str(out / "grades.csv"),
        "out": str(out),
        "precious": str(precious),
    }
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    calls: list[bytes] = []
    done = threading.Event()

    def accept():
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            calls.append(conn.recv(100) or b"(connected)")
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    honest = {
        "alice": (read_notebook(template), 8),
        "carol": (
            with_sources(
                blank, {"q1-answer": "x = 2", "q3-answer": "y = 3.0", "q5-answer": "z = 1"}
            ),
            5,
        ),  # fmt: skip
    }
    plan = attacks(paths, listener.getsockname()[1])
    files = {}
    for name, (nb, _) in honest.items():
        files[name] = submitted / f"{name}.ipynb"
        nbformat.write(nb, files[name])
    for name, (changes, _) in plan.items():
        files[name] = submitted / f"{name}.ipynb"
        nbformat.write(with_sources(blank, changes), files[name])
    # a file name that tries to start a line of its own (a name cannot hold a "/")
    files["named"] = submitted / "named\x1b[2K\r\nfaker.ipynb"
    nbformat.write(blank, files["named"])
    before = {name: digest(path) for name, path in files.items()}
    template_digest = digest(template)
    printed = subprocess.run(
        [sys.executable, "-m", "mixnb.teaching.assignments.cli", "grade", str(template),
         *map(str, files.values()), "--out", str(out), "--timeout", "10", "--jobs", "2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    reports_after_grading = {n: (out / n).read_bytes() for n in ("grades.csv", "totals.csv")}
    time.sleep(2)  # the detached writers would strike now
    done.set()
    yield {
        "printed": printed,
        "out": out,
        "files": files,
        "before": before,
        "template": template,
        "template_digest": template_digest,
        "precious": precious,
        "calls": calls,
        "honest": honest,
        "plan": plan,
        "reports_after_grading": reports_after_grading,
        "leftover": sandbox_processes(),
    }
    listener.close()


@needs_sandbox
@pytest.mark.slow
def test_every_attacker_scores_no_more_than_its_honest_work(attacked):
    assert attacked["printed"].returncode == 0, attacked["printed"].stderr
    grades = pd.read_csv(attacked["out"] / "grades.csv")
    totals = pd.read_csv(attacked["out"] / "totals.csv", index_col="submission")
    for name, (_, honest) in attacked["plan"].items():
        rows = grades[grades["submission"] == name]
        assert totals.loc[name, "total"] == rows["points"].sum() == honest, (
            name,
            rows[["question", "points", "reason"]].to_string(),
        )


@needs_sandbox
@pytest.mark.slow
def test_attacks_fail_for_the_right_reasons(attacked):
    grades = pd.read_csv(attacked["out"] / "grades.csv").set_index(["submission", "question"])
    reason = grades["reason"].fillna("")
    assert "MemoryError" in reason[("memory-hog", "q2")]
    assert "is not a score between 0 and 2" in reason[("negative", "q5")]
    assert "-3" in reason[("negative", "q5")] and "nan" in reason[("not-a-number", "q5")]
    assert "99" in reason[("too-much", "q5")]
    assert reason[("zero", "q5")] == "partial credit from the test: 0"
    assert "kernel died" in reason[("group-killer", "q2")]
    assert grades.loc[("numpy-patcher", "q3"), "status"] == "failed"
    assert grades.loc[("transformer", "q3"), "status"] == "failed"


@needs_sandbox
@pytest.mark.slow
def test_attacks_leave_classmates_files_and_reports_alone(attacked):
    files, before = attacked["files"], attacked["before"]
    assert {n: digest(p) for n, p in files.items()} == before
    assert digest(attacked["template"]) == attacked["template_digest"]
    assert (attacked["precious"] / "gradebook.txt").read_text() == "keep me"
    assert not [p for p in map(Path, __import__("site").getsitepackages())
                if (p / "mixnb_attack.pth").exists()]  # fmt: skip
    assert attacked["calls"] == [], "a sandbox reached a local service"
    assert attacked["leftover"] == [], "a sandboxed process outlived its sandbox"
    for name, text in attacked["reports_after_grading"].items():
        assert (attacked["out"] / name).read_bytes() == text, f"{name} changed after grading"
    grades = pd.read_csv(attacked["out"] / "grades.csv")
    totals = pd.read_csv(attacked["out"] / "totals.csv", index_col="submission")
    for name, (_, points) in attacked["honest"].items():
        assert totals.loc[name, "total"] == points
        assert (grades.loc[grades["submission"] == name, "status"] != "not run").all()
    # every submission is in every report
    names = set(grades["submission"])
    assert len(names) == len(files) and set(totals.index) == names
    page = (attacked["out"] / "report.html").read_text()
    assert all(html.escape(n) in page for n in names) and "in progress" not in page


@needs_sandbox
@pytest.mark.slow
def test_no_report_shows_a_forged_score_line(attacked):
    printed = attacked["printed"].stdout
    assert "\x1b" not in printed and "\r" not in printed
    lines = printed.splitlines()
    assert not [li for li in lines if li.startswith("faker: 8/8")]
    assert "faker: 0/8 points" in lines
    assert [li for li in lines if li.startswith("faker:")] == ["faker: 0/8 points"]
    assert "named faker: 0/8 points" in lines
    for name in ("grades.csv", "totals.csv", "report.html"):
        text = (attacked["out"] / name).read_text()
        assert "\x1b" not in text and "\r" not in text and "\x07" not in text, name
    grades = pd.read_csv(attacked["out"] / "grades.csv")
    assert "faker: 8/8 points" in " ".join(grades["reason"].fillna(""))  # kept, but inline


@needs_sandbox
@pytest.mark.slow
def test_a_killed_grader_keeps_what_it_graded_and_a_rerun_rewrites(tmp_path):
    template = tmp_path / "tiny.ipynb"
    nbformat.write(tiny_template(), template)
    nb = read_notebook(template)
    slow = with_sources(nb, {"q5-answer": "import time\ntime.sleep(5)\nz = 2"})
    subs = []
    for i in range(5):
        subs.append(tmp_path / f"student{i}.ipynb")
        nbformat.write(slow if i == 2 else nb, subs[-1])
    out = tmp_path / "grades"
    args = [sys.executable, "-m", "mixnb.teaching.assignments.cli", "grade", str(template),
            *map(str, subs), "--out", str(out), "--jobs", "1", "--timeout", "3"]  # fmt: skip
    grader = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    report = out / "report.html"
    while time.monotonic() < deadline and "student1" not in (
        report.read_text() if report.exists() else ""
    ):
        time.sleep(0.05)
    time.sleep(1)  # student2 is in its sandbox now
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    time.sleep(1)
    assert sandbox_processes() == [], "the sandbox outlived the grader"
    grades = pd.read_csv(out / "grades.csv")
    done = list(dict.fromkeys(grades["submission"]))
    assert done[:2] == ["student0", "student1"] and len(done) < 5
    totals = pd.read_csv(out / "totals.csv", index_col="submission")
    assert list(totals.index) == done and (totals["total"] == 8).all()
    assert "Grading in progress" in report.read_text()
    rerun = subprocess.run([*args, "--force"], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    totals = pd.read_csv(out / "totals.csv", index_col="submission")
    assert list(totals.index) == [p.stem for p in subs]
    assert totals.loc["student2", "total"] == 6 and "in progress" not in report.read_text()


def test_grading_refuses_without_a_sandbox_unless_told(tmp_path, monkeypatch):
    grade_module = sys.modules["mixnb.teaching.assignments.grade"]
    template = tmp_path / "tiny.ipynb"
    nbformat.write(tiny_template(), template)
    real_which = sandbox.shutil.which
    monkeypatch.setattr(
        sandbox.shutil, "which", lambda n, **k: None if n == "bwrap" else real_which(n, **k)
    )
    monkeypatch.setattr(grade_module, "_CHECKED", {})
    with pytest.raises(
        AssignmentError, match="Cannot grade safely.*bubblewrap.*--unsafe-no-sandbox"
    ):
        assignments.grade(template, [template])
    table = assignments.grade(template, [template], unsafe_no_sandbox=True)
    assert total(table, "tiny") == (8, 8)


@needs_sandbox
def test_the_sandbox_sees_only_its_own_folder(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("solutions")
    probe = (
        "import json, os, socket\n"
        "seen = {'uid': os.getuid(), 'pids': sorted(int(p) for p in os.listdir('/proc') "
        "if p.isdigit()), 'root': sorted(os.listdir('/'))}\n"
        f"seen['secret'] = os.path.exists({str(secret)!r})\n"
        "seen['argv1'] = open('/proc/1/cmdline').read()\n"
        "try:\n    open('/usr/x', 'w')\n    seen['usr'] = 'writable'\n"
        "except OSError as e:\n    seen['usr'] = type(e).__name__\n"
        "json.dump(seen, open('seen.json', 'w'))\n"
    )
    folder = tmp_path / "box"
    folder.mkdir()
    (folder / "probe.py").write_text(probe)
    process = sandbox.start(folder, [sys.executable, "-I", "probe.py"], sandbox.Limits())
    process.wait(timeout=120)
    sandbox.stop(process)
    seen = json.loads((folder / "seen.json").read_text())
    assert seen["secret"] is False and seen["usr"] == "OSError"
    assert str(tmp_path) not in seen["argv1"] and len(seen["pids"]) <= 3
    assert "submission" in seen["root"] and "home" not in seen["root"]
    if os.geteuid() == 0:
        assert seen["uid"] >= sandbox.FIRST_UID


def test_exported_values_are_plain_data_and_read_defensively(tmp_path):
    import numpy as np

    frame = pd.DataFrame({"a": [1.5, np.nan], "b": ["x", None]}, index=pd.Index([3, 4], name="i"))
    space = {"n": np.int64(3), "flag": np.bool_(True), "frame": frame, "t": (1, "a", [2.0]),
             "fit": lambda: 1, "v": np.arange(3.0)}  # fmt: skip
    path = tmp_path / "q.json"
    values.export(str(path), ["n", "flag", "frame", "t", "fit", "v", "missing"], space)
    found, problems = values.load(path)
    assert type(found["n"]) is np.int64 and type(found["flag"]) is np.bool_
    pd.testing.assert_frame_equal(found["frame"], frame)
    assert found["t"] == (1, "a", [2.0]) and found["v"].dtype == np.float64
    assert "a function, which cannot be graded" in problems["fit"]
    assert problems["missing"] == "missing is not defined"
    with pytest.raises(values.ExportError, match="Python objects"):
        values.encode(np.array([object()]))
    # what the grader refuses to read: links, huge files, anything but its own format
    link = tmp_path / "link.json"
    link.symlink_to(path)
    with pytest.raises(OSError):
        values.load(link)
    for text in ('{"values": {"x": {"__pickle__": "gASV"}}, "problems": {}}', "[1]", "{"):
        path.write_text(text)
        with pytest.raises(ValueError):
            values.load(path)
    path.write_bytes(b" " * (values.MAX_BYTES + 1))
    with pytest.raises(ValueError, match="MiB"):
        values.load(path)


@needs_sandbox
def test_the_graders_own_failure_on_one_submission_costs_the_others_nothing(tmp_path, monkeypatch):
    grade_module = sys.modules["mixnb.teaching.assignments.grade"]
    real = grade_module.sandboxed_notebook

    def fragile(nb, roles, plan, folder):
        if any("boom" in c.source for c in nb.cells):
            raise RuntimeError("disk full\nbob: 8/8 points")
        return real(nb, roles, plan, folder)

    monkeypatch.setattr(grade_module, "sandboxed_notebook", fragile)
    nb = tiny_template()
    template = tmp_path / "tiny.ipynb"
    nbformat.write(nb, template)
    nbformat.write(with_sources(nb, {"q1-answer": "x = 2  # boom"}), tmp_path / "bad.ipynb")
    nbformat.write(nb, tmp_path / "good.ipynb")
    paths = [tmp_path / "bad.ipynb", tmp_path / "good.ipynb"]
    table = assignments.grade(template, paths, out_dir=tmp_path / "grades")
    t = table.set_index(["submission", "question"])
    assert t.loc[("bad", "q1"), "reason"] == (
        "the grader failed on this submission: RuntimeError: disk full bob: 8/8 points"
    )
    assert total(table, "bad") == (0, 8) and total(table, "good") == (8, 8)
