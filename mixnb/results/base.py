"""What every result object shares: rich notebook display, delegated to :mod:`mixnb.display`.

The rendering is written once, in ``mixnb.display.rich``, for all result types; results
only hold numbers and import the display layer lazily, when a notebook asks.
"""

from __future__ import annotations


class Displayable:
    """Mixin: ``_repr_html_``, ``_repr_markdown_``, ``to_markdown`` and ``to_latex``."""

    def _repr_html_(self) -> str:
        from mixnb.display.rich import to_html

        return to_html(self)

    def _repr_markdown_(self) -> str:
        from mixnb.display.rich import to_markdown

        return to_markdown(self)

    def to_markdown(self) -> str:
        """The result's tables as Markdown."""
        from mixnb.display.rich import to_markdown

        return to_markdown(self)

    def to_latex(self) -> str:
        """The result's tables as LaTeX (booktabs)."""
        from mixnb.display.rich import to_latex

        return to_latex(self)
