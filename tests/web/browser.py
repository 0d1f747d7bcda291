"""Playwright with Debian's Chromium, axe-core from the npm registry, screenshots under test-artifacts/.

`make test` installs Chromium (apt) and axe-core (npm pack, pinned) before the suite runs; see the
Makefile. KINFOLK_CHROMIUM and KINFOLK_AXE_JS point elsewhere if needed.
"""

import os
import re
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the tests still make their data with the
# ORM synchronously, between browser steps, which Django allows only when told so.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("KINFOLK_CHROMIUM", "/usr/bin/chromium")
AXE_VERSION = "4.14.1"
AXE_JS = Path(
    os.environ.get("KINFOLK_AXE_JS", ROOT / "var" / "tools" / f"axe-core-{AXE_VERSION}" / "axe.min.js")
)
ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}));
}"""


def require_tools():
    """Fail (never skip) with the command that installs what is missing."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if not AXE_JS.exists():
        missing.append(f"{AXE_JS} (make test-tools)")
    if missing:
        pytest.fail("browser tests need " + " and ".join(missing), pytrace=False)


@pytest.fixture(scope="session")
def browser():
    require_tools()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield instance
        instance.close()


class Session:
    """One signed-in (or not) browser tab against the live server, with what the tests need around it."""

    def __init__(self, page, base_url, name):
        self.page = page
        self.base = base_url
        self.name = re.sub(r"[^a-z0-9_]+", "-", name.lower())
        self.csp_errors = []
        page.on("console", self._console)

    def _console(self, message):
        text = message.text
        if message.type == "error" and (
            "Content Security Policy" in text or "Content-Security-Policy" in text
        ):
            self.csp_errors.append(text)

    def go(self, path):
        response = self.page.goto(self.base + path)
        self.page.wait_for_load_state("load")
        return response

    def sign_in(self, username, password="correct horse battery staple"):
        self.go("/accounts/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(re.compile(r"^(?!.*/accounts/login/).*$"))

    def axe(self):
        """Serious and critical accessibility violations on the page as it is now."""
        return self.page.evaluate(AXE_RUN)

    def assert_accessible(self):
        violations = self.axe()
        assert violations == [], f"{self.page.url}: {violations}"

    def screenshot(self, label, full_page=True):
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}--{label}.png"), full_page=full_page)


@pytest.fixture(scope="session")
def web_server(plain_http, live_server):
    """The live server, started after the session's plain-http settings (see tests/conftest.py)."""
    return live_server


@pytest.fixture
def open_browser(browser, web_server, request):
    """open_browser(viewport=..., color_scheme=...) -> Session; every session ends with no CSP violation."""
    sessions = []

    def make(viewport=None, color_scheme="light"):
        context = browser.new_context(
            viewport=viewport or {"width": 1280, "height": 900}, color_scheme=color_scheme, locale="en-GB"
        )
        context.add_init_script(path=str(AXE_JS))  # injected by the browser itself: no inline script needed
        context.set_default_timeout(10_000)
        session = Session(context.new_page(), web_server.url, f"{request.node.name}-{len(sessions)}")
        sessions.append((context, session))
        return session

    yield make
    for context, session in sessions:
        context.close()
        assert session.csp_errors == [], session.csp_errors
