"""``mixnb assignment release|grade``: the command line for course assignments.

``mixnb/cli.py`` calls :func:`add_arguments` and :func:`run`; ``python -m
mixnb.teaching.assignments.cli`` runs the same commands on their own. Both commands write into
``--out`` (``release/`` and ``grades/`` of the current folder by default) and refuse to
overwrite what is there unless given ``--force``.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from mixnb.cli import HelpFormatter
from mixnb.errors import MixnbError
from mixnb.teaching.assignments.grade import grade
from mixnb.teaching.assignments.release import release

_RELEASE = """Write the student copy of each TEMPLATE into --out: every solution replaced by
a prompt, hidden tests removed, outputs cleared, locked cells marked read-only. The template
itself is only read."""

_GRADE = """Grade each SUBMISSION against TEMPLATE. Each submission runs in a sandbox of its
own (bubblewrap: no network, a read-only system, only its own notebook, resource limits); the
template's tests, hidden ones included, run outside it on the values each question exports.
Each submission's block ends with 'NAME: X/Y points'; grades.csv, totals.csv and report.html
in --out are rewritten as each result is known."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``release`` and ``grade`` subcommands to ``parser``."""
    actions = parser.add_subparsers(dest="assignment_action", required=True, metavar="ACTION")
    rel = actions.add_parser(
        "release",
        help="write the student notebook (no solutions, no hidden tests, no outputs)",
        description=_RELEASE,
        formatter_class=HelpFormatter,
    )
    rel.add_argument("templates", nargs="+", metavar="TEMPLATE", help="instructor notebook")
    rel.add_argument(
        "--out", default="release", metavar="DIR", help="folder for the student copies"
    )
    rel.add_argument("--force", action="store_true", help="overwrite existing student copies")
    grd = actions.add_parser(
        "grade",
        help="run submissions in sandboxes, their values through the template's tests",
        description=_GRADE,
        formatter_class=HelpFormatter,
    )
    grd.add_argument("template", metavar="TEMPLATE", help="instructor notebook")
    grd.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="student notebooks")
    grd.add_argument(
        "--out",
        default="grades",
        metavar="DIR",
        help="folder for grades.csv, totals.csv and report.html",
    )
    grd.add_argument("--force", action="store_true", help="replace reports already in --out")
    grd.add_argument(
        "--timeout", type=int, default=60, metavar="SECONDS", help="time limit per cell and test"
    )
    grd.add_argument(
        "--total-timeout",
        type=int,
        default=600,
        metavar="SECONDS",
        help="time limit per submission (also its CPU seconds)",
    )
    grd.add_argument(
        "--jobs", type=int, default=2, metavar="N", help="submissions graded at the same time"
    )
    grd.add_argument(
        "--memory",
        type=int,
        default=2048,
        metavar="MIB",
        help="address space of each sandboxed process, in MiB",
    )
    grd.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="where bubblewrap cannot run, run the submissions without a sandbox, with your "
        "permissions (only on a throw-away machine)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; 0 on success, 1 when a template or path cannot be used."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = _release(args) if args.assignment_action == "release" else _grade(args)
        for warning in caught:
            print(f"mixnb assignment {args.assignment_action}: warning: {warning.message}",
                  file=sys.stderr)  # fmt: skip
        return code
    except (MixnbError, OSError) as exc:
        print(f"mixnb assignment {args.assignment_action}: error: {exc}", file=sys.stderr)
        return 1


def _release(args: argparse.Namespace) -> int:
    for template in args.templates:
        print(f"wrote {release(template, args.out, force=args.force)}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mixnb.teaching.assignments.template import AssignmentError

    out = Path(args.out)
    existing = [out / n for n in ("grades.csv", "totals.csv", "report.html") if (out / n).exists()]
    if existing and not args.force:
        raise AssignmentError(
            f"{existing[0]} already exists (reports of an earlier run); pass --force to "
            "replace them, or choose another --out."
        )
    grade(
        args.template,
        args.submissions,
        out_dir=out,
        timeout=args.timeout,
        total_timeout=args.total_timeout,
        verbose=True,
        jobs=args.jobs,
        memory=args.memory * 2**20,
        unsafe_no_sandbox=args.unsafe_no_sandbox,
    )
    names = ", ".join(str(out / n) for n in ("grades.csv", "totals.csv", "report.html"))
    print(f"reports written: {names}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mixnb assignment",
        description="Release and grade course assignments.",
        formatter_class=HelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
