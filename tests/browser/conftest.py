"""Headless Debian Chromium driving the real ComfyUI frontend served by the ``comfy_host`` fixture.

No browser is downloaded: playwright (PyPI) drives the system Chromium (Debian package
``chromium`` at /usr/bin/chromium; ``PTDIT_CHROMIUM`` overrides) with a fresh profile and no
network beyond the test server. Without Chromium or playwright the tests skip locally with a loud
reason and fail under CI (tests/conftest.py). Screenshots and saved workflows go to
``$PTDIT_TEST_OUTPUT`` if set, else a pytest tmp dir; the summary prints where.

Tests that take the ``renderer`` fixture run in the classic canvas renderer and, where the served
frontend has it (its bundle defines the ``Comfy.VueNodes.Enabled`` setting), with the Vue node
renderer ("Nodes 2.0") on; elsewhere the Vue variant is deselected at collection, not skipped.
The served frontend is the ``--front-end-root`` of the host, else the ``comfyui_frontend_package``
of the host's Python; ``comfy_page`` checks that the page runs that version.
"""
from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("PTDIT_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# First-run prompts, the "Nodes 2.0" banner and the minimap would cover the graph in screenshots.
SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.PromptFilename": False, "Comfy.Minimap.Visible": False}
_OUTPUTS: list = []
VUE_SETTING = "Comfy.VueNodes.Enabled"
RENDERERS = ("classic", "vue")


@functools.lru_cache(maxsize=None)
def frontend_root(python: str, front_end_root: str | None) -> Path | None:
    """Static files the host serves: its --front-end-root, else its Python's frontend package."""
    if front_end_root:
        return Path(front_end_root)
    done = subprocess.run([python, "-c", "import comfyui_frontend_package as f; print(f.__file__)"],
                          capture_output=True, text=True, timeout=60)
    return Path(done.stdout.strip()).parent / "static" if done.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def frontend_version(root: Path) -> str | None:
    """Version of the frontend package whose static folder is ``root`` (from its dist-info)."""
    found = sorted(root.parent.parent.glob("comfyui_frontend_package-*.dist-info"))
    return found[-1].name.removesuffix(".dist-info").split("-")[1] if found else None


@functools.lru_cache(maxsize=None)
def renderers_of(root: Path | None) -> tuple:
    """"classic", plus "vue" when the frontend's bundle defines the Vue node renderer setting."""
    has_vue = root is not None and any(VUE_SETTING in p.read_text(errors="ignore")
                                       for p in (root / "assets").glob("*.js"))
    return RENDERERS if has_vue else RENDERERS[:1]


def served_frontend(spec=None) -> Path | None:
    """Frontend root of a host spec (``python``, ``front_end_root``), else of $PTDIT_COMFY_* ."""
    if spec is not None and hasattr(spec, "python"):
        return frontend_root(spec.python, str(spec.front_end_root) if spec.front_end_root else None)
    args = os.environ.get("PTDIT_COMFY_ARGS", "").split()
    root = args[args.index("--front-end-root") + 1] if "--front-end-root" in args[:-1] else None
    return frontend_root(os.environ.get("PTDIT_COMFY_PYTHON") or sys.executable, root)


def pytest_generate_tests(metafunc):
    if "renderer" in metafunc.fixturenames:
        metafunc.parametrize("renderer", RENDERERS)


def pytest_collection_modifyitems(config, items):
    """Deselect the Vue variant where the host's frontend has no Vue node renderer."""
    kept, dropped = [], []
    for item in items:
        params = getattr(item, "callspec", None) and item.callspec.params
        unsupported = params and params.get("renderer", "classic") not in renderers_of(
            served_frontend(params.get("comfy_host")))
        (dropped if unsupported else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


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
                                        "(e) => e.name === 'ptditqihoot2x.ProxyRatio')", timeout=120_000)
            self.page.wait_for_timeout(1000)  # the frontend restores a workflow right after start-up
        finally:
            self._starting = False

    def set_renderer(self, renderer: str) -> None:
        """Turn the Vue node renderer on or off (a frontend setting) and wait until it is applied."""
        vue = renderer == "vue"
        self.js("async (on) => { await app.extensionManager.setting.set(%r, on); }" % VUE_SETTING, vue)
        self.page.wait_for_function("(on) => app.extensionManager.setting.get(%r) === on" % VUE_SETTING, arg=vue)
        self.page.wait_for_timeout(500)
        # The frontend's "Prefer the legacy design?" toast would cover the graph in screenshots.
        toast = self.page.locator(".p-toast-message", has_text="legacy design")
        if toast.count():
            toast.locator(".p-toast-close-button").first.click()

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
    ui.version = ui.js("() => window.__COMFYUI_FRONTEND_VERSION__")
    root = served_frontend(getattr(comfy_host, "spec", None))
    assert ui.version == frontend_version(root), f"page runs frontend {ui.version}, expected the one in {root}"
    ui.set_renderer("classic")
    yield ui
    page.close()


@pytest.fixture
def rendered_page(comfy_page, renderer):
    """``comfy_page`` with the ``renderer`` of this test on (classic again afterwards)."""
    comfy_page.set_renderer(renderer)
    yield comfy_page
    comfy_page.set_renderer("classic")


def pytest_terminal_summary(terminalreporter):
    for path in _OUTPUTS:
        terminalreporter.write_line(f"browser test output: {path}")
