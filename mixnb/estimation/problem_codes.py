"""How estimation reports trouble: short problem codes with arguments, never sentences.

:mod:`mixnb.results.problems` holds each code's words; estimation only writes
``problem("igls_unsolvable", "RIGLS", 3)``. Arguments are joined by an ASCII unit
separator, so an argument may hold ``":"`` (an interaction factor ``f1:f2``).
"""

from __future__ import annotations

#: Separates a code's arguments.
SEPARATOR = "\x1f"


def problem(code: str, *arguments: object) -> str:
    """A problem code with its arguments.

    Examples
    --------
    >>> problem("igls_unsolvable", "IGLS", 3).split(SEPARATOR)
    ['igls_unsolvable', 'IGLS', '3']
    """
    return SEPARATOR.join([code, *(str(a) for a in arguments)])


def split(code: str) -> tuple[str, list[str]]:
    """A code's name and arguments (``"name:arg"`` written by hand is read too)."""
    name, *arguments = code.split(SEPARATOR) if SEPARATOR in code else code.split(":")
    return name, arguments
