"""Course assignments: templates with solutions and tests, student copies, autograding.

>>> from mixnb.teaching import assignments
>>> sorted(n for n in assignments.__all__ if not n[0].isupper())
['check_template', 'grade', 'questions', 'read_notebook', 'release', 'student_notebook', 'totals']

The format is nbgrader's (see ``docs/assignments.md``); ``release`` writes the student copy and
``grade`` runs each submission in a sandbox of its own and the template's tests, hidden ones
included, outside it on the values each question exports (the threat model is in the docs).
"""

from mixnb.teaching.assignments.grade import grade
from mixnb.teaching.assignments.release import release
from mixnb.teaching.assignments.report import totals
from mixnb.teaching.assignments.template import (
    AssignmentError,
    Question,
    check_template,
    questions,
    read_notebook,
    student_notebook,
)

__all__ = [
    "AssignmentError",
    "Question",
    "check_template",
    "grade",
    "questions",
    "read_notebook",
    "release",
    "student_notebook",
    "totals",
]
