"""Marks the slow end-to-end tests, so that ``pytest -m "not slow"`` runs the statistics alone.

Slow: the chapter notebooks (nbval runs every cell), the tutorial site build
(tests/test_tutorials_site.py), the JupyterLab browser test (tests/browser/), the
assignment grading in sandboxes (marked in tests/test_assignments.py itself) and the
Kenward-Roger parity on 10 000 rows (most of the statistics' own test time). CI runs
everything (``.ci/run`` runs plain ``pytest``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
SLOW_PATHS = (
    ROOT / "notebooks",
    ROOT / "tests" / "test_tutorials_site.py",
    ROOT / "tests" / "browser",
)
#: Single slow tests among the statistics' (node ids from the repository root).
SLOW_TESTS = ("tests/test_kenward_roger.py::test_large_data_matches_pbkrtest",)


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath)).resolve()
        slow_path = any(path == slow or slow in path.parents for slow in SLOW_PATHS)
        if slow_path or item.nodeid.startswith(SLOW_TESTS):
            item.add_marker(pytest.mark.slow)
