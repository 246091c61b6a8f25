"""Playwright driving Debian's Chromium against pytest-django's live server."""

import os
import shutil

import pytest

# Playwright's sync API runs an event loop in the test thread; the ORM calls in the
# tests are still synchronous and safe there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make install installs it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


# Every page of the site runs under its Content-Security-Policy, which forbids eval: give
# page.wait_for_function a function ("() => ..."), which Playwright calls without eval.
RECORD_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => window.__slreidCspViolation(
  e.violatedDirective + " " + (e.blockedURI || "inline") + " in " + e.documentURI));
"""


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    violations = []  # what the CSP refused on any page this test opened
    context.expose_function("__slreidCspViolation", lambda text: violations.append(text))
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.csp_violations = violations  # a test may drop one it expects, with its reason
    yield page
    context.close()
    # Anything the CSP blocked is a part of the page that no longer works.
    assert violations == [], f"Content-Security-Policy violations: {violations}"


@pytest.fixture
def login(live_server):
    """login(page, username, password): log in through the real form."""

    def _login(page, username: str, password: str) -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login" not in url)

    return _login


def screenshot_dir():
    """docs/screenshots/ with UPDATE_SCREENSHOTS=1; otherwise a scratch folder, so a test run leaves the tree clean."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "screenshots")
    else:
        import tempfile

        path = os.path.join(tempfile.gettempdir(), "slreid-screenshots")
    os.makedirs(path, exist_ok=True)
    return os.path.abspath(path)
