"""The mixnb command line: build the tutorial site, release and grade assignments.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap

#: subcommand -> (module, one-line help, description shown by ``mixnb SUBCOMMAND --help``)
SUBCOMMANDS = {
    "tutorials": (
        "mixnb.teaching.tutorials",
        "execute the chapter notebooks and build the HTML site",
        "Execute the chapter notebooks (notebooks/0*.ipynb) in fresh kernels and write an "
        "offline HTML site: an index page and one page per chapter, with MathJax, the widget "
        "manager and vega copied next to them, so the pages open without a network.",
    ),
    "assignment": (
        "mixnb.teaching.assignments.cli",
        "release and grade course assignments",
        "Release the student copy of an instructor notebook, or grade students' notebooks "
        "against it (each in a sandbox). 'mixnb assignment ACTION --help' describes each.",
    ),
}

DESCRIPTION = (
    "mixnb: linear mixed models for teaching. The command line builds the tutorial site and "
    "releases and grades course assignments; models are fitted in Python (import mixnb)."
)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep the descriptions' line breaks; show each option's default (not for flags)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default is not None and action.default is not argparse.SUPPRESS
        if action.nargs != 0 and action.option_strings and shown and "default" not in text:
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    from mixnb import __version__

    parser = argparse.ArgumentParser(
        prog="mixnb", description=textwrap.fill(DESCRIPTION, 88), formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"mixnb {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text, description) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(
            name,
            help=help_text,
            description=textwrap.fill(description, 88),
            formatter_class=HelpFormatter,
        )
        sub_parser.set_defaults(module=module)
        importlib.import_module(module).add_arguments(sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(importlib.import_module(args.module).run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
