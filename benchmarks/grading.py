"""Time grading a class: 30 honest submissions of an assignment, each in its own sandbox.

    python benchmarks/grading.py [--template notebooks/assignments/02-random-intercept.ipynb]
                                 [--students 30] [--jobs 2]

The submissions are the template's solution (each one a full-marks notebook, so every cell
and every hidden test runs). Prints the wall-clock time of the whole ``grade`` call, the
time per submission, the CPU seconds used (the grader, its trusted test interpreters and
each sandbox's notebook run, which reports its own since it is no child the grader waits
for) and the machine's load average at the start and the end: on a shared machine the wall
clock grows with the load, the CPU seconds do not.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from mixnb.teaching import assignments

_grade_module = __import__("sys").modules["mixnb.teaching.assignments.grade"]

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--template", default=str(ROOT / "notebooks/assignments/02-random-intercept.ipynb")
    )
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    template = Path(args.template)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(args.students):
            paths.append(Path(folder) / f"student{i:02d}.ipynb")
            shutil.copy(template, paths[-1])
        load = os.getloadavg()[0]
        sandboxed = _count_sandbox_cpu()
        start, cpu = time.perf_counter(), _cpu()
        table = assignments.grade(template, paths, out_dir=Path(folder) / "grades", jobs=args.jobs)
        wall, used = time.perf_counter() - start, _cpu() - cpu + sum(sandboxed)
    totals = assignments.totals(table)
    full = int((totals["total"] == totals["max"]).sum())
    print(f"template: {template.name}; {args.students} submissions, {args.jobs} at a time")
    print(f"full marks: {full} of {args.students}")
    print(f"wall clock: {wall:.1f} s ({wall / args.students:.2f} s per submission)")
    print(f"CPU: {used:.1f} s in all ({sum(sandboxed):.1f} s in the sandboxes) on "
          f"{os.cpu_count()} cores, {used / args.students:.2f} s per submission")  # fmt: skip
    print(f"load average: {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")


def _cpu() -> float:
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def _count_sandbox_cpu() -> list[float]:
    """Collect the CPU seconds each sandbox's run reports in its outcome log."""
    found: list[float] = []
    real = _grade_module._read_outcomes

    def reading(path, ended):
        try:
            for line in path.read_text().splitlines():
                entry = json.loads(line)
                if entry.get("status") == "cpu":
                    found.append(float(entry["detail"]))
        except (OSError, ValueError):
            pass
        return real(path, ended)

    _grade_module._read_outcomes = reading
    return found


if __name__ == "__main__":
    main()
