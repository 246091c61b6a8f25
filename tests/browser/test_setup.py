"""An org admin draws a study area's boundary and places a station by clicking the map."""

import json

import pytest
from django.contrib.auth.models import User

from catalog.models import CameraStation, Location, Membership, Role
from tests.browser.conftest import screenshot_dir

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_org_admin_draws_a_boundary_and_picks_a_station_position_on_the_map(page, live_server, login, org_a):
    olga = User.objects.create_user(username="olga", password="pw-olga")
    Membership.objects.create(user=olga, organization=org_a, role=Role.ORG_ADMIN)
    login(page, "olga", "pw-olga")
    page.goto(f"{live_server.url}/setup/areas/new/")
    page.fill("input[name=name]", "Zorkul")
    page.select_option("select[name=time_zone]", "Asia/Dushanbe")
    page.wait_for_selector("#setup-map[data-ready=true]")
    box = page.locator("#setup-map").bounding_box()
    for dx, dy in ((0.3, 0.3), (0.7, 0.3), (0.6, 0.7)):
        page.mouse.click(box["x"] + box["width"] * dx, box["y"] + box["height"] * dy)
    assert page.locator("#setup-map").get_attribute("data-corners") == "3"
    page.screenshot(path=f"{screenshot_dir()}/setup-area.png", full_page=True)
    page.click("#location-form button[type=submit]")
    page.wait_for_url(lambda url: "/setup/areas/new/" not in url)
    area = Location.objects.get(name="Zorkul")
    ring = json.loads(area.boundary_geojson)["coordinates"][0]
    assert len(ring) == 4 and ring[0] == ring[-1] and area.time_zone == "Asia/Dushanbe"

    page.goto(f"{live_server.url}/setup/areas/{area.pk}/stations/new/")
    page.fill("input[name=code]", "Z1")
    page.wait_for_selector("#setup-map[data-ready=true]")
    box = page.locator("#setup-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert page.input_value("input[name=latitude]") != ""
    page.screenshot(path=f"{screenshot_dir()}/setup-station.png", full_page=True)
    page.click("#station-form button[type=submit]")
    page.wait_for_url(lambda url: "/stations/new/" not in url)
    station = CameraStation.objects.get(code="Z1")
    assert station.location == area and station.organization == org_a
