import io

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_demo_partner_sees_dashboard_with_photos_and_demo_banner(page, live_server, login, monkeypatch):
    monkeypatch.setattr("catalog.management.commands.load_demo.async_task", lambda *a, **k: None)
    out = io.StringIO()
    call_command("load_demo", "--individuals", "2", "--size", "320x180", "--no-index", stdout=out)
    login(page, "demo-partner", "demo-partner-pw")
    assert "synthetic" in page.locator(".demo-banner").inner_text()
    assert page.locator(".stat-value").first.inner_text().strip() != "0"
    thumbs = page.locator(".tile img.thumb")
    assert thumbs.count() > 0
    thumbs.first.scroll_into_view_if_needed()
    page.wait_for_function("() => [...document.querySelectorAll('.tile img.thumb')].slice(0, 3)"
                           ".every(img => img.complete && img.naturalWidth > 0)")
    # The Sarychat team's sightings are not the partner's: never on their dashboard.
    assert "Naryn camera-trap team (demo)" in page.inner_text("main")
    assert "Sarychat-Ertash rangers (demo)" not in page.inner_text("main")
