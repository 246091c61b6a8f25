"""Text that another organisation or an import supplies is shown as text in the maps (issue 13).

The payloads would run under a page without CSP if Leaflet parsed them as HTML; here the test
proves two things apart: the DOM holds them as text (no <img> element appears) and no dialog
opens. The page fixture also fails the test on any CSP violation, which an inline onerror
handler parsed from the payload would cause.
"""

import io
import re

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from catalog.models import SightingStatus
from tests.factories import CameraStationFactory, IndividualFactory, LocationFactory, SightingFactory, SightingImageFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAYLOAD = "<img src=x onerror=alert(1)>"
TILES = re.compile(r"tile\.openstreetmap\.org|\{s\}|/\d+/\d+/\d+\.png")


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 170, 150)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def hostile(org_a, org_b):
    """B's station and individual named by the payload; A's sighting of that cat at B's station."""
    area = LocationFactory(name="Area " + PAYLOAD, latitude=42.5, longitude=74.6)
    station = CameraStationFactory(location=area, organization=org_b, code=PAYLOAD, latitude=42.538217,
                                   longitude=74.617943)
    # The place pickers offer the user's own and shared (unowned) stations, never B's: a shared one
    # named by the payload is what they draw.
    CameraStationFactory(location=LocationFactory(name="Shared"), organization=None, code=PAYLOAD,
                         latitude=42.5, longitude=74.6)
    cat = IndividualFactory(code=PAYLOAD[:32], name=PAYLOAD)
    sighting = SightingFactory(organization=org_a, location=area, station=station, individual=cat,
                               status=SightingStatus.IDENTIFIED, notes=PAYLOAD)
    SightingImageFactory(sighting=sighting, file=ContentFile(jpeg(), name=PAYLOAD + ".jpg"))
    draft = SightingFactory(organization=org_a, status=SightingStatus.SUBMITTED)
    SightingImageFactory(sighting=draft)
    return {"station": station, "sighting": sighting, "draft": draft}


def open_page(page, url):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.route(TILES, lambda route: route.abort())
    page.goto(url)
    return dialogs


def assert_text_only(page, selector):
    box = page.locator(selector).first
    box.wait_for()
    assert PAYLOAD in box.inner_text()
    assert box.locator("img[src=x]").count() == 0


@pytest.mark.parametrize("where", ["submit", "edit"])
def test_a_station_code_is_text_in_the_place_pickers_tooltip(page, live_server, login, bob, hostile, where):
    login(page, "bob", "pw-bob")
    url = f"{live_server.url}/submit/" if where == "submit" else f"{live_server.url}/sightings/{hostile['draft'].pk}/edit/"
    dialogs = open_page(page, url)
    page.locator("path.place-station").first.hover()
    assert_text_only(page, ".leaflet-tooltip")
    assert dialogs == []


def test_names_and_codes_are_text_in_the_map_popups(page, live_server, login, bob, hostile):
    login(page, "bob", "pw-bob")
    dialogs = open_page(page, f"{live_server.url}/map/")
    page.wait_for_selector("[data-slreid-map][data-loaded=true]")
    page.locator("path.sighting-marker").first.click()
    assert_text_only(page, ".leaflet-popup-content")
    # The stations layer, switched on from the layer control.
    page.locator(".leaflet-control-layers-overlays input").check()
    page.locator("path.station-marker").first.click()
    assert_text_only(page, ".leaflet-popup-content")
    assert dialogs == []


def test_a_station_code_is_text_on_the_stations_page(page, live_server, login, bob, hostile):
    login(page, "bob", "pw-bob")
    dialogs = open_page(page, f"{live_server.url}/stations/")
    page.wait_for_selector("[data-slreid-map][data-loaded=true]")
    page.locator("path.station-marker").first.click()
    assert_text_only(page, ".leaflet-popup-content")
    assert PAYLOAD in page.locator("table.stations").inner_text()
    assert dialogs == []
