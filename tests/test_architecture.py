"""The layering is a checked contract (pyproject.toml's [tool.importlinter]; docs/architecture.md).

``lint-imports`` checks that estimation and results never import display, charts, widgets or the
teaching tools (not even inside a function), that widgets never import estimation, and that each
layer imports only those below it. CI runs it through this test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
    "lint-imports"
)

pytestmark = pytest.mark.skipif(LINT is None, reason="import-linter (the test extra) is missing")


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1"}
    return subprocess.run(
        [LINT, "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layers_hold():
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_a_lazy_import_of_display_from_results_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "mixnb", tmp_path / "mixnb", ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    base = tmp_path / "mixnb" / "results" / "base.py"
    base.write_text(
        base.read_text() + "\n\ndef _sneaky():\n    from mixnb.display.rich import to_html\n"
    )
    run = _lint(tmp_path)
    assert run.returncode != 0
    assert "mixnb.results.base -> mixnb.display.rich" in run.stdout
