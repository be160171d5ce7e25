"""Time grading a class: 30 honest submissions of an assignment, each in its own sandbox.

    python benchmarks/grading.py [--template notebooks/assignments/02-random-intercept.ipynb]
                                 [--students 30] [--jobs 2]

The submissions are the template's solution (each one a full-marks notebook, so every cell
and every hidden test runs). Prints the wall-clock time of the whole ``grade`` call, the
time per submission and the machine's load average at the start and the end (on a shared
machine the wall clock grows with the load; the sandboxed processes' CPU time cannot be
read from here, since they are not the grader's waited-for children).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from mixnb import assignments

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
        start = time.perf_counter()
        table = assignments.grade(template, paths, out_dir=Path(folder) / "grades", jobs=args.jobs)
        wall = time.perf_counter() - start
    totals = assignments.totals(table)
    full = int((totals["total"] == totals["max"]).sum())
    print(f"template: {template.name}; {args.students} submissions, {args.jobs} at a time")
    print(f"full marks: {full} of {args.students}")
    print(f"wall clock: {wall:.1f} s ({wall / args.students:.2f} s per submission)")
    print(f"cores: {os.cpu_count()}")
    print(f"load average: {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
