"""Stored texts reach every page as text, and every response carries a strict CSP (issue 13)."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from catalog.models import ImportJob, SightingStatus
from tests.factories import CameraStationFactory, IndividualFactory, LocationFactory, SightingFactory, SightingImageFactory

pytestmark = pytest.mark.django_db

PAYLOAD = "<img src=x onerror=alert(1)>"
AS_HTML_TEXT = "&lt;img src=x onerror=alert(1)&gt;"
AS_JSON_SCRIPT = "\\u003Cimg src=x onerror=alert(1)\\u003E"


@pytest.fixture
def hostile(org_a, org_b, alice):
    """Texts set by another organisation (B's station) or by an import, all the payload."""
    area = LocationFactory(name="Area " + PAYLOAD, latitude=42.5, longitude=74.6)
    station = CameraStationFactory(location=area, organization=org_b, code=PAYLOAD, latitude=42.538217,
                                   longitude=74.617943)
    # A shared station (no owner, e.g. from an import): the submit and edit pages offer only those and
    # the user's own, so B's station never reaches them, but a shared one's code must stay text too.
    CameraStationFactory(location=LocationFactory(name="Shared"), organization=None, code=PAYLOAD, latitude=42.5,
                         longitude=74.6)
    cat = IndividualFactory(code=PAYLOAD[:32], name=PAYLOAD, notes=PAYLOAD)
    sighting = SightingFactory(organization=org_a, location=area, station=station, individual=cat,
                               status=SightingStatus.IDENTIFIED, notes=PAYLOAD, external_id=PAYLOAD)
    SightingImageFactory(sighting=sighting, original_filename=PAYLOAD + ".jpg")
    draft = SightingFactory(organization=org_a, station=station, notes=PAYLOAD)
    SightingImageFactory(sighting=draft, original_filename=PAYLOAD + ".jpg")
    job = ImportJob.objects.create(organization=org_a, started_by=alice, kind="zip", report=[
        {"file": PAYLOAD + ".jpg", "outcome": "refused", "reason": "not an image"},
    ])
    return {"station": station, "cat": cat, "sighting": sighting, "draft": draft, "job": job}


PAGES = {
    # name: (url kwargs from the fixture, how the payload must appear)
    "home": (lambda h: {}, None),
    "station_list": (lambda h: {}, AS_HTML_TEXT),
    "submit": (lambda h: {}, AS_JSON_SCRIPT),  # the place picker's stations
    "sighting_edit": (lambda h: {"pk": h["draft"].pk}, AS_JSON_SCRIPT),
    "sighting_detail": (lambda h: {"pk": h["sighting"].pk}, AS_HTML_TEXT),
    "individual_list": (lambda h: {}, AS_HTML_TEXT),
    "individual_detail": (lambda h: {"pk": h["cat"].pk}, AS_HTML_TEXT),
    "map": (lambda h: {}, None),
    "my_sightings": (lambda h: {}, None),
    "review_queue": (lambda h: {}, None),
    "exports": (lambda h: {}, None),
    "imports": (lambda h: {}, None),
    "import_detail": (lambda h: {"pk": h["job"].pk}, AS_HTML_TEXT),
}


def script_tags(html: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", html, flags=re.I)


class _Handlers(HTMLParser):
    """Event-handler attributes (onclick=, onerror=...) of the parsed page; text inside values is not one."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.found += [f"<{tag} {name}=...>" for name, _value in attrs if name.startswith("on")]


def event_handlers(html: str) -> list[str]:
    parser = _Handlers()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_stored_payload_is_text_on_the_page_and_the_page_has_no_inline_script(client, bob, hostile, name):
    kwargs, shown_as = PAGES[name]
    client.force_login(bob)
    response = client.get(reverse(name, kwargs=kwargs(hostile)))
    assert response.status_code == 200
    html = response.content.decode()
    assert PAYLOAD not in html
    if shown_as:
        assert shown_as in html
    # Scripts are files or JSON data; nothing inline could run under the CSP anyway.
    for tag in script_tags(html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert event_handlers(html) == []


def test_the_json_the_maps_draw_from_carries_the_text_as_data(client, bob, hostile):
    client.force_login(bob)
    stations = client.get(reverse("map_stations_geojson")).json()
    assert PAYLOAD in [f["properties"]["code"] for f in stations["features"]]
    sightings = client.get(reverse("map_sightings_geojson"))
    assert sightings["Content-Type"].startswith("application/")  # never sniffed as a page
    assert sightings["X-Content-Type-Options"] == "nosniff"


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def assert_strict(response):
    rules = policy(response)
    assert rules["script-src"] == ["'self'"]
    assert rules["default-src"] == ["'self'"] and rules["object-src"] == ["'none'"]
    assert rules["frame-ancestors"] == ["'none'"]
    return rules


def test_every_kind_of_response_carries_the_strict_policy(client, bob, hostile):
    image = hostile["sighting"].images.get()
    assert_strict(client.get(reverse("home")))  # anonymous: a redirect to the login page
    assert_strict(client.get(reverse("login")))
    client.force_login(bob)
    responses = {
        "page": client.get(reverse("station_list")),
        "geojson": client.get(reverse("map_stations_geojson")),
        "photo": client.get(reverse("image_file", args=[image.uuid])),
        "csv": client.get(reverse("export_download", args=["sightings.csv"])),
        "api": client.get("/api/stations/"),
        "not found": client.get("/no/such/page/"),
    }
    for kind, response in responses.items():
        rules = assert_strict(response)
        assert rules["style-src"] == ["'self'"], kind


def test_the_map_tiles_are_allowed_as_images(client, bob):
    client.force_login(bob)
    assert "https://tile.openstreetmap.org" in policy(client.get(reverse("map")))["img-src"]


def test_the_api_docs_keep_scripts_strict_and_relax_only_their_styles(client):
    for url in ("/api/docs/", "/api/redoc/"):
        response = client.get(url)
        rules = assert_strict(response)
        assert "'unsafe-inline'" in rules["style-src"]
        for tag in script_tags(response.content.decode()):
            assert "src=" in tag, (url, tag)
    # The Swagger UI's start script is a file of its own.
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_the_admin_runs_under_the_strict_policy(client, staff):
    client.force_login(staff)
    assert_strict(client.get("/admin/"))


def test_the_login_and_lockout_pages_have_no_inline_script(client, settings):
    settings.AXES_FAILURE_LIMIT = 1
    for response in (client.get(reverse("login")),
                     client.post(reverse("login"), {"username": "nobody", "password": "x"})):
        html = response.content.decode()
        assert response.status_code in (200, 429)
        assert all("src=" in tag or 'type="application/json"' in tag for tag in script_tags(html))
        assert event_handlers(html) == []
    assert response.status_code == 429  # the second one is the lockout page
