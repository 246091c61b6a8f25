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


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


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
