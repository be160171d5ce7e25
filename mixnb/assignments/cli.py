"""``mixnb assignment release|grade``: the command line for course assignments.

``mixnb/cli.py`` calls :func:`add_arguments` and :func:`run`; ``python -m
mixnb.assignments.cli`` runs the same commands on their own.
"""

from __future__ import annotations

import argparse
import sys

from mixnb.assignments.grade import grade
from mixnb.assignments.release import release
from mixnb.errors import MixnbError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``release`` and ``grade`` subcommands to ``parser``."""
    actions = parser.add_subparsers(dest="assignment_action", required=True)
    rel = actions.add_parser(
        "release",
        help="write the student notebook (no solutions, no hidden tests, no outputs)",
        description="Write the student version of each template into DIR.",
    )
    rel.add_argument("templates", nargs="+", metavar="TEMPLATE", help="instructor notebook")
    rel.add_argument("--out", required=True, metavar="DIR", help="folder for the student copy")
    rel.add_argument("--force", action="store_true", help="overwrite an existing student copy")
    grd = actions.add_parser(
        "grade",
        help="run submissions with the template's tests and score them",
        description="Run each submission with the template's tests (hidden ones included) in "
        "a fresh kernel; print and write the scores. Each submission's block ends with "
        "'NAME: X/Y points'.",
    )
    grd.add_argument("template", metavar="TEMPLATE", help="instructor notebook")
    grd.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="student notebooks")
    grd.add_argument(
        "--out",
        default="grades",
        metavar="DIR",
        help="folder for grades.csv, totals.csv and report.html (default: grades)",
    )
    grd.add_argument(
        "--timeout",
        type=int,
        default=60,
        metavar="SECONDS",
        help="time limit per cell (default: 60)",
    )
    grd.add_argument(
        "--total-timeout",
        type=int,
        default=600,
        metavar="SECONDS",
        help="time limit per submission (default: 600)",
    )
    grd.add_argument("--kernel", default="python3", help="Jupyter kernel (default: python3)")


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; 0 on success, 1 when a template or path cannot be used."""
    try:
        if args.assignment_action == "release":
            for template in args.templates:
                print(f"wrote {release(template, args.out, force=args.force)}")
        else:
            grade(
                args.template,
                args.submissions,
                out_dir=args.out,
                timeout=args.timeout,
                total_timeout=args.total_timeout,
                kernel_name=args.kernel,
                verbose=True,
            )
            print(
                f"reports written to {args.out}/ (grades.csv, totals.csv, report.html)",
                file=sys.stderr,
            )
    except (MixnbError, OSError) as exc:
        print(f"mixnb assignment {args.assignment_action}: error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mixnb assignment", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
