"""Headless Debian Chromium driving the real ComfyUI frontend served by the ``comfy_host`` fixture.

No browser is downloaded: playwright (PyPI) drives the system Chromium (Debian package
``chromium`` at /usr/bin/chromium; ``PTDIT_CHROMIUM`` overrides) with a fresh profile and no
network beyond the test server. Without Chromium or playwright the tests skip locally with a loud
reason and fail under CI (tests/conftest.py). Screenshots and saved workflows go to
``$PTDIT_TEST_OUTPUT`` if set, else a pytest tmp dir; the summary prints where.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("PTDIT_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# First-run prompts, the "Nodes 2.0" banner and the minimap would cover the graph in screenshots.
SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.PromptFilename": False, "Comfy.Minimap.Visible": False}
_OUTPUTS: list = []


@pytest.fixture(scope="session")
def browser_output(tmp_path_factory) -> Path:
    env = os.environ.get("PTDIT_TEST_OUTPUT")
    out = Path(env) / "browser" if env else tmp_path_factory.mktemp("browser_output")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="session")
def output_path(browser_output):
    """``output_path(name)``: where to write an artefact; listed in the terminal summary."""
    def path(name: str) -> Path:
        if browser_output / name not in _OUTPUTS:
            _OUTPUTS.append(browser_output / name)
        return browser_output / name
    return path


@pytest.fixture(scope="session")
def chromium_context(comfy_host, tmp_path_factory):
    """A persistent Chromium context (fresh --user-data-dir) that only reaches the test server."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("PLAYWRIGHT NOT INSTALLED: the browser tests need `pip install playwright` "
                    "(scripts/test.sh installs it; no browser download is needed)")
    if not CHROMIUM.is_file():
        pytest.skip(f"CHROMIUM NOT FOUND at {CHROMIUM}: install the Debian package `chromium` "
                    "(scripts/test.sh does when run as root) or set PTDIT_CHROMIUM")
    settings = comfy_host.user_dir / "default" / "comfy.settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(settings.read_text()) if settings.is_file() else {}
    settings.write_text(json.dumps({**current, **SETTINGS}))
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium_profile")), executable_path=str(CHROMIUM),
            headless=True, args=FLAGS, viewport={"width": 1280, "height": 860}, accept_downloads=True)
        local = re.escape(comfy_host.url)
        context.route(re.compile(rf"^(?!{local}[/?#]|{local}$)"), lambda route: route.abort())
        context.add_init_script("localStorage.setItem('vueNodesBannerDismissed', 'true')")
        try:
            yield context
        finally:
            context.close()


class ComfyPage:
    """One browser tab on the ComfyUI frontend, with the console errors it logged.

    Errors logged while the frontend starts go to ``startup_errors`` (the stock frontend logs 404s
    for optional user files, a TypeError of its own and a blocked request to api.comfy.org); all
    later ones to ``errors``.
    """

    def __init__(self, page, url: str):
        self.page, self.url = page, url
        self.errors: list = []  # (kind, text, url)
        self.startup_errors: list = []
        self._starting = False
        page.on("console", lambda m: m.type == "error" and self._log(("console", m.text, m.location.get("url", ""))))
        page.on("pageerror", lambda e: self._log(("pageerror", f"{e}\n{e.stack}", "")))

    def _log(self, error) -> None:
        (self.startup_errors if self._starting else self.errors).append(error)

    def open(self) -> None:
        """(Re)load the frontend and wait until the graph and the PT-DiT extension are ready."""
        self._starting = True
        try:
            self.page.goto(self.url, wait_until="domcontentloaded")
            self.page.wait_for_function("window.app?.graph && window.app.extensions?.some("
                                        "(e) => e.name === 'ptdit.ProxyRatio')", timeout=120_000)
            self.page.wait_for_timeout(1000)  # the frontend restores a workflow right after start-up
        finally:
            self._starting = False

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def errors_since(self, mark: int) -> list:
        """Errors logged after ``mark``, less the stock frontend's registry look-ups of custom nodes
        in an opened workflow, which ComfyUI's own CSP (connect-src 'self') blocks."""
        return [e for e in self.errors[mark:]
                if not ("Content Security Policy" in e[1] and "https://api.comfy.org/" in e[1])]


@pytest.fixture(scope="module")
def comfy_page(chromium_context, comfy_host):
    page = chromium_context.new_page()
    ui = ComfyPage(page, comfy_host.url)
    ui.open()
    yield ui
    page.close()


def pytest_terminal_summary(terminalreporter):
    for path in _OUTPUTS:
        terminalreporter.write_line(f"browser test output: {path}")
