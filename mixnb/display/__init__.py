"""How results look: reports, their renderers (HTML, Markdown, LaTeX) and text layouts.

Importing this package installs its views into :mod:`mixnb.results.base`, so that every
result's ``summary()``, ``_repr_html_``, ``to_markdown()``, ``to_latex()``, ``equation()``
and ``matrices()`` work while the results layer never imports display (``import mixnb``
does it).
"""

import mixnb.display.glmm  # noqa: F401  registers the GLMM's report and text layout
from mixnb.display.equations import equation, lmm_matrices
from mixnb.display.rich import to_html, to_latex, to_markdown
from mixnb.display.summary import Summary, summary
from mixnb.results.base import install_view

install_view("html", to_html)
install_view("markdown", to_markdown)
install_view("latex", to_latex)
install_view("summary", summary)
install_view("equation", equation)
install_view("matrices", lmm_matrices)

__all__ = ["Summary", "summary", "to_html", "to_latex", "to_markdown"]
