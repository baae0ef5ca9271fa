"""A real browser: JupyterLab on 127.0.0.1, notebook 03 run in headless Chromium, the
forward-process slider moved, and the rendered image seen to change.

Needs Chromium from the system's packages (Debian: ``apt-get install chromium``; Playwright's
own browser download is not used) and Playwright for Python, which ``make test`` installs.
Without Chromium the test is skipped, unless REQUIRE_BROWSER_TEST=1 (as ``.ci/run`` sets it),
which turns the skip into a failure. The server, its kernel and the browser are shut down
whatever happens.
"""

import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

import nbformat
import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "03_ddpm_forward.ipynb"


def chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab(NamedTuple):
    url: str  # the notebook in JupyterLab
    api: str  # the server's REST API, with its token: api.format("sessions")
    folder: Path  # holds lab.log, and failure.png if the test fails

    def kernel_ready(self) -> bool:
        """True once the notebook's kernel has started and is idle."""
        with urllib.request.urlopen(self.api.format("sessions"), timeout=5) as response:
            sessions = json.load(response)
        return any(s.get("kernel", {}).get("execution_state") == "idle" for s in sessions)


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a copy of notebook 03 on 127.0.0.1; yields its URL."""
    nb = nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4)
    for (
        cell
    ) in nb.cells:  # a fresh copy: no stored outputs or widget state to mistake for the live ones
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, tmp_path / NOTEBOOK)
    port, token = free_port(), secrets.token_hex(16)
    env = os.environ | {
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={tmp_path}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "lab.log", "w"),
        start_new_session=True,  # one process group: the server and its kernels
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2
                )
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(
                        "JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.5)
        yield Lab(
            f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}&reset",
            f"http://127.0.0.1:{port}/api/{{}}?token={token}",
            tmp_path,
        )
    finally:
        stop(server)


def stop(server: subprocess.Popen) -> None:
    """Stop the server and everything it started (its kernels are in its process group)."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            pass
        try:
            server.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(server.pid, signal.SIGKILL)  # a kernel that outlived the server
    except ProcessLookupError:
        pass


@pytest.fixture
def browser_path():
    path = chromium()
    if path is None:
        message = "needs Chromium from the system's packages: apt-get install chromium"
        if os.environ.get("REQUIRE_BROWSER_TEST") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def wait_until_idle(page, timeout: float = 180) -> None:
    """Wait until the kernel has been idle for two seconds in a row (Run All has finished)."""
    indicator = page.locator(".jp-Notebook-ExecutionIndicator").first
    deadline, idle_since = time.time() + timeout, None
    while time.time() < deadline:
        if indicator.get_attribute("data-status") == "idle":
            idle_since = idle_since or time.time()
            if time.time() - idle_since >= 2:
                return
        else:
            idle_since = None
        time.sleep(0.25)
    raise TimeoutError(f"the kernel was still busy after {timeout} s")


def test_forward_process_slider_redraws_in_jupyterlab(browser_path, lab):
    from playwright.sync_api import sync_playwright

    start = time.perf_counter()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(lab.url)
            page.locator(".jp-NotebookPanel").first.wait_for(timeout=60_000)
            deadline = time.time() + 120  # a first start in a fresh environment is slow
            while not lab.kernel_ready():
                assert time.time() < deadline, "the notebook's kernel did not start within 120 s"
                time.sleep(0.5)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
                timeout=60_000
            )
            page.wait_for_timeout(1000)  # let the page finish connecting to the kernel
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()

            image = page.locator("img.widget-image").first
            image.wait_for(timeout=120_000)
            wait_until_idle(page)  # every cell has run: nothing scrolls or queues behind the drag
            image.scroll_into_view_if_needed()
            readout = page.locator(".widget-readout").first
            assert readout.inner_text().strip() == "0"
            src_before = image.get_attribute("src")
            before = Image.open(io.BytesIO(image.screenshot())).convert("RGB")

            handle = page.locator(".noUi-handle").first
            track = page.locator(".noUi-target").first.bounding_box()
            box = handle.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(
                track["x"] + 0.3 * track["width"], box["y"] + box["height"] / 2, steps=8
            )
            page.mouse.up()
            page.wait_for_function(
                "([el, old]) => el.src !== old",
                arg=[image.element_handle(), src_before],
                timeout=30_000,
            )
            t = int(readout.inner_text().strip())
            after = Image.open(io.BytesIO(image.screenshot())).convert("RGB")
        except Exception:
            page.screenshot(path=str(lab.folder / "failure.png"))
            print(f"browser test failed; screenshot in {lab.folder / 'failure.png'}, server log:")
            print((lab.folder / "lab.log").read_text()[-3000:])
            raise
        finally:
            browser.close()
    seconds = time.perf_counter() - start

    assert 100 < t < 600, f"the slider should have moved to about t = 300, it reads {t}"
    a, b = np.asarray(before, dtype=np.int16), np.asarray(after, dtype=np.int16)
    assert a.shape == b.shape
    changed = (np.abs(a - b).max(axis=2) > 30).mean()
    assert changed > 0.01, f"only {changed:.2%} of the explorer's pixels changed"
    print(
        f"browser test: {seconds:.0f} s; slider moved to t = {t}; {changed:.1%} of the pixels changed"
    )
