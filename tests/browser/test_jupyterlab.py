"""One real-browser test: a ModelBuilder in JupyterLab reacts to a click, a live chart to a slider.

Starts JupyterLab on 127.0.0.1 (free port, random token) in a temporary directory, opens a
small notebook in Debian's Chromium through Playwright (never ``playwright install``), runs
it, clicks the builder's "ML" button and checks that the displayed fit changes from REML to
maximum likelihood; then moves the slider of a live chart (``mixnb.charts.live_shrinkage``,
drawn by JupyterLab's own vega renderer) and checks that the factor it prints changes. A
screenshot is saved when anything fails.

Skipped only when ``/usr/bin/chromium`` is missing outside CI; in CI (``CI`` set) it runs.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(
        f"{CHROMIUM} is not installed (apt-get install -y chromium); the JupyterLab browser "
        "test runs in CI",
        allow_module_level=True,
    )

NOTEBOOK_SOURCE = """\
import mixnb
builder = mixnb.ModelBuilder(
    mixnb.load_dataset("sleepstudy"), fixed=["Days"], slopes=["Days"], debounce=0.1
)
builder"""

LIVE_SOURCE = """\
import mixnb.charts
mixnb.charts.live_shrinkage(n=5, between_variance=25, residual_variance=100)"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _notebook() -> dict:
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "builder",
                "metadata": {},
                "outputs": [],
                "source": NOTEBOOK_SOURCE,
            },
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "live",
                "metadata": {},
                "outputs": [],
                "source": LIVE_SOURCE,
            },
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.fixture
def jupyterlab(tmp_path: Path):
    """A JupyterLab server serving ``tmp_path/work``; yields (base url, token)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "builder.ipynb").write_text(json.dumps(_notebook()))
    # no "get notified about Jupyter news?" prompt over the page
    notification = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2])] + sys.path),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}",
        "--ServerApp.allow_root=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=",
    ]
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()
                    ) from None
                time.sleep(0.3)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_model_builder_reacts_in_jupyterlab(jupyterlab, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, token = jupyterlab
    screenshot = tmp_path / "jupyterlab-failure.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(45_000)
        try:
            page.goto(f"{base}/lab/tree/builder.ipynb?token={token}")
            page.locator(".jp-Notebook .jp-Cell").first.wait_for()
            # run only once the kernel is connected and idle
            expect(page.locator(".jp-StatusBar-Widget", has_text="| Idle")).to_have_count(1)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

            builder = page.locator(".mixnb-model-builder")
            summary = builder.locator(".mixnb-report")
            expect(summary).to_contain_text("Linear mixed model fit by REML", timeout=60_000)
            expect(builder).to_contain_text("Reaction ~ Days + (Days | Subject)")
            assert builder.locator(".mixnb-chart svg").count() == 1
            before = summary.inner_text()

            builder.get_by_role("button", name="ML", exact=True).click()

            expect(summary).to_contain_text("fit by maximum likelihood", timeout=30_000)
            expect(summary).to_contain_text("AIC")
            assert summary.inner_text() != before
            assert builder.locator(".mixnb-message").count() == 0

            # the live chart: JupyterLab renders its Vega-Lite (not the SVG), sliders work;
            # JupyterLab draws only the cells in view: make the second cell the active one
            # (command mode, "j"), which scrolls it into view
            page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first.click()
            page.keyboard.press("Escape")
            page.keyboard.press("j")
            expect(page.locator(".jp-StatusBar-Widget", has_text="Cell 2/2")).to_have_count(1)
            live = page.locator(".jp-RenderedVegaLite", has=page.locator("input[name='n']"))
            factor = live.locator("svg text", has_text="shrinkage factor")
            expect(factor).to_contain_text("= 0.556", timeout=30_000)
            live.scroll_into_view_if_needed()
            live.locator("input[type='range'][name='n']").fill("40")
            expect(factor).to_contain_text("= 0.909")  # 40 * 25 / (40 * 25 + 100)
        except Exception:
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"screenshot of the failure: {screenshot}")
            raise
        finally:
            browser.close()
