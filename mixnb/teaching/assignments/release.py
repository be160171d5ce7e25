"""Release: write the student copy of a template."""

from __future__ import annotations

import warnings
from pathlib import Path

import nbformat

from mixnb.errors import MixnbWarning
from mixnb.teaching.assignments.template import (
    AssignmentError,
    check_template,
    questions,
    read_notebook,
    student_notebook,
)


def release(template: str | Path, out_dir: str | Path, force: bool = False) -> Path:
    """Write the student version of ``template`` into ``out_dir`` and return its path.

    The student notebook has the same file name as the template, every solution replaced by
    a prompt (``# YOUR CODE HERE`` / ``raise NotImplementedError()``, or ``YOUR ANSWER HERE``
    in Markdown), hidden tests removed, outputs and execution counts cleared, and locked
    cells marked not editable and not deletable. The template itself is only read.

    Parameters
    ----------
    template
        The instructor's notebook (see ``docs/assignments.md`` for the format).
    out_dir
        Folder for the student notebook; created if missing.
    force
        Overwrite an existing student notebook (refused otherwise).

    Warns (:class:`mixnb.errors.MixnbWarning`) when the template has no graded cell: its
    student copy would be the same notebook with nothing to grade, which is usually a
    notebook without nbgrader metadata given by mistake.
    """
    template = Path(template)
    nb = read_notebook(template)
    check_template(nb, str(template))
    target = Path(out_dir) / template.name
    if target.resolve() == template.resolve():
        raise AssignmentError(
            f"Releasing into the template's own folder would overwrite {template}; "
            "choose another output folder."
        )
    if target.exists() and not force:
        raise AssignmentError(
            f"{target} already exists; pass --force (force=True in Python) to overwrite it."
        )
    if not questions(nb):
        warnings.warn(
            f'{template} has no graded cells (no nbgrader metadata with "grade": true), so '
            "its student copy has nothing to grade; see docs/assignments.md for the format.",
            MixnbWarning,
            stacklevel=2,
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student_notebook(nb), str(target))
    return target
