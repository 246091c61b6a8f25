import os

import pytest

from tests.browser.conftest import screenshot_dir
from tests.i18n import compiled_ru  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_russian_navigation_fits_one_line_at_1280_px(page, live_server, login, alice, compiled_ru):
    page.set_viewport_size({"width": 1280, "height": 900})
    page.set_default_timeout(90_000)  # a loaded machine; the check itself does not depend on time
    login(page, "alice", "pw-alice")
    # The switch submits itself on change (site.js); its button is only for pages without JavaScript.
    assert not page.locator(".language-switch [type=submit]").is_visible()
    with page.expect_navigation():
        page.select_option("#site-language", "ru")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert "Карта" in page.locator("nav.mainnav").inner_text()
    # One line: every link starts on the same line, and the bar is no taller than one link's line.
    tops = page.eval_on_selector_all("nav.mainnav a", "links => links.map(a => a.getBoundingClientRect().top)")
    widths = page.evaluate("() => [...document.querySelectorAll('header.topbar > *')].map(e => e.className + ' ' + e.getBoundingClientRect().width)")
    assert len(tops) >= 10 and max(tops) - min(tops) < 1, f"the Russian navigation wraps: link tops {tops}, header parts {widths}"
    nav_height = page.eval_on_selector("nav.mainnav", "nav => nav.getBoundingClientRect().height")
    link_height = page.eval_on_selector("nav.mainnav a", "a => a.getBoundingClientRect().height")
    assert nav_height <= link_height + 1
    # Nor does the header run wider than the window.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
    page.screenshot(path=os.path.join(screenshot_dir(), "navigation-ru.png"))


def test_a_russian_walk_through_the_main_pages(page, live_server, login, alice, compiled_ru):
    import re

    page.set_default_timeout(90_000)
    login(page, "alice", "pw-alice")
    with page.expect_navigation():
        page.select_option("#site-language", "ru")
    cyrillic = re.compile("[А-Яа-яЁё]")
    for path in ("/", "/individuals/", "/map/", "/submit/", "/sightings/mine/", "/review/", "/stations/",
                 "/science/exports/", "/science/population/", "/setup/", "/notifications/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        heading = page.locator("h1").first.inner_text()
        # Each page's heading is Russian, and the language stays chosen from page to page.
        assert cyrillic.search(heading), f"{path}: {heading!r}"
        assert page.locator("html").get_attribute("lang") == "ru", path
