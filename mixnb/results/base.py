"""What every result object shares: how it shows itself, through views installed from above.

Results hold numbers and know nothing of display: :mod:`mixnb.display` (imported by
``import mixnb``) installs the functions that turn a result into HTML, Markdown, LaTeX, a
plain-text summary or equations, with :func:`install_view`. The dependency points one way,
display -> results; ``docs/architecture.md`` draws the layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mixnb.errors import MixnbError

#: The views a display layer provides, by name.
VIEWS = ("html", "markdown", "latex", "summary", "equation", "matrices")

_installed: dict[str, Callable[..., Any]] = {}


def install_view(name: str, function: Callable[..., Any]) -> None:
    """Make ``function(result, ...)`` the view ``name`` of every result (display calls this)."""
    if name not in VIEWS:
        raise ValueError(f"Unknown view {name!r}: the views are {', '.join(VIEWS)}.")
    _installed[name] = function


def view(name: str) -> Callable[..., Any]:
    """The installed view ``name``."""
    try:
        return _installed[name]
    except KeyError:
        raise MixnbError(
            f"No display is installed for {name!r}: import mixnb (or mixnb.display) first."
        ) from None


class Displayable:
    """Mixin: ``summary()``, ``_repr_html_``, ``_repr_markdown_``, ``to_markdown``, ``to_latex``.

    ``repr()`` (the text a console shows) is the default summary.
    """

    def summary(self, style: str | None = None, **options: Any) -> str:
        """The result's summary: prints as plain text, renders as a table in a notebook.

        Parameters
        ----------
        style
            The text layout (case-insensitive); the default is the first of the result's
            layouts, e.g. ``"lme4"`` for a mixed model. An unknown style is refused with
            the list of choices.

        Returns
        -------
        Summary
            A ``str`` (``print`` and ``str()`` give the text) that a notebook shows rich.
        """
        return view("summary")(self, style, **options)

    def __repr__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return view("html")(self)

    def _repr_markdown_(self) -> str:
        return view("markdown")(self)

    def to_markdown(self) -> str:
        """The result's tables as Markdown."""
        return view("markdown")(self)

    def to_latex(self) -> str:
        """The result's tables as LaTeX (booktabs)."""
        return view("latex")(self)
