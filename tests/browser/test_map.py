"""The map, as two partners of different organisations see it (issue 5)."""

import io
import os
import random
import re
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
from django.core.files.base import ContentFile
from PIL import Image, ImageDraw

from catalog.models import BodyPart, SightingStatus
from catalog.privacy import sighting_point_for
from catalog.selectors import catalog_sightings_for
from tests.browser.conftest import screenshot_dir
from tests.factories import CameraStationFactory, IndividualFactory, LocationFactory, SightingFactory, SightingImageFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TILES = re.compile(r"tile\.openstreetmap\.org|\{s\}|/\d+/\d+/\d+\.png")


def rosette_jpeg(seed: int) -> bytes:
    """A small drawn coat (grey-beige with dark open rosettes), enough for a readable thumbnail."""
    rng = random.Random(seed)
    img = Image.new("RGB", (480, 320), (196 + rng.randint(-12, 12), 186, 160))
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        x, y, r = rng.randint(0, 480), rng.randint(0, 320), rng.randint(12, 26)
        draw.ellipse((x - r, y - r, x + r, y + r), outline=(40, 36, 30), width=5)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def seed(org_a, org_b):
    """Two neighbouring study areas, four cats, a year of sightings."""
    sary = LocationFactory(name="Sarychat-Ertash", latitude=41.9, longitude=78.5)
    koi = LocationFactory(name="Koiluu", latitude=42.1, longitude=78.9)
    a_st = [
        CameraStationFactory(location=sary, organization=org_a, code=f"SE{i:02d}", latitude=lat, longitude=lon,
                             operating_from=date(2023, 10, 1), operating_to=date(2024, 9, 30))
        for i, (lat, lon) in enumerate([(41.8213, 78.3517), (41.8742, 78.4291), (41.9377, 78.3862),
                                        (41.9911, 78.5120), (41.8508, 78.5634), (41.9632, 78.6178)], 1)
    ]
    b_st = [
        CameraStationFactory(location=koi, organization=org_b, code=f"KO{i:02d}", latitude=lat, longitude=lon,
                             operating_from=date(2023, 11, 15))
        for i, (lat, lon) in enumerate([(42.0824, 78.7811), (42.1436, 78.8567), (42.0519, 78.9332)], 1)
    ]
    cats = [IndividualFactory(code=f"SL-{n:04d}", name=name, sex=sex) for n, name, sex in
            [(1, "Ayla", "female"), (2, "Bars", "male"), (3, "Chubak", "male"), (4, "Dina", "female")]]
    start = datetime(2023, 11, 3, 5, 40, tzinfo=timezone.utc)
    plan = [  # (organisation, station, cat, day offset, body part)
        (org_a, a_st[0], 0, 0, BodyPart.LEFT_FLANK), (org_a, a_st[1], 0, 21, BodyPart.RIGHT_FLANK),
        (org_a, a_st[2], 0, 64, BodyPart.LEFT_FLANK), (org_a, a_st[3], 0, 130, BodyPart.HEAD),
        (org_a, a_st[5], 0, 201, BodyPart.LEFT_FLANK), (org_a, a_st[4], 0, 260, BodyPart.TAIL),
        (org_a, a_st[1], 1, 12, BodyPart.LEFT_FLANK), (org_a, a_st[4], 1, 90, BodyPart.RIGHT_FLANK),
        (org_b, b_st[0], 1, 160, BodyPart.LEFT_FLANK),
        (org_b, b_st[1], 2, 30, BodyPart.LEFT_FLANK), (org_b, b_st[2], 2, 75, BodyPart.HEAD),
        (org_b, b_st[0], 2, 180, BodyPart.RIGHT_FLANK), (org_b, b_st[1], 2, 240, BodyPart.LEFT_FLANK),
        (org_a, a_st[2], 3, 45, BodyPart.RIGHT_FLANK), (org_a, a_st[3], 3, 150, BodyPart.LEFT_FLANK),
    ]
    for n, (org, station, cat, days, part) in enumerate(plan):
        status = SightingStatus.NEW_INDIVIDUAL if days == min(p[3] for p in plan if p[2] == cat) else SightingStatus.IDENTIFIED
        s = SightingFactory(organization=org, station=station, location=station.location, individual=cats[cat],
                            observed_at=start + timedelta(days=days, hours=n), status=status)
        SightingImageFactory(sighting=s, body_part=part, file=ContentFile(rosette_jpeg(cat * 100 + n), name="f.jpg"))
    # Not yet identified: only the owning organisation sees these.
    SightingFactory(organization=org_a, location=sary, latitude=41.9017, longitude=78.4733,
                    observed_at=start + timedelta(days=300), status=SightingStatus.AWAITING_REVIEW)
    SightingFactory(organization=org_b, station=b_st[2], location=koi,
                    observed_at=start + timedelta(days=310), status=SightingStatus.SUBMITTED)
    return {"cats": cats, "a_stations": a_st, "b_stations": b_st}


def expected_markers(user):
    """Distinct (point, exact) pairs, computed with the server-side privacy rules."""
    points = Counter()
    for s in catalog_sightings_for(user):
        lat, lon, exact = sighting_point_for(user, s)
        if lat is not None:
            points[(lat, lon, exact)] += 1
    return points


def open_map(page, live_server, query=""):
    page.route(TILES, lambda route: route.abort())
    page.goto(f"{live_server.url}/map/{query}")
    page.wait_for_selector("[data-slreid-map][data-loaded=true]")


def wait_until_shown(page, status_prefix):
    """Wait for a filter's sightings to be drawn and the view to stop moving (a click on a marker
    while Leaflet still animates the zoom lands on the bare map)."""
    page.wait_for_function("prefix => document.querySelector('[data-slreid-map]').dataset.loaded === 'true'"
                           " && document.querySelector('#map-status').textContent.startsWith(prefix)", arg=status_prefix)


def marker_points(page):
    """(lat, lon, exact) of every sighting marker drawn, read from Leaflet itself."""
    return page.evaluate("""() => {
        const out = [];
        const map = window.slreidMaps["sightings-map"].map;
        map.eachLayer(l => {
            if (l instanceof L.CircleMarker && l.options.className.includes("sighting-marker")) {
                const ll = l.getLatLng();
                out.push([ll.lat, ll.lng, l.options.className.includes("exact")]);
            }
        });
        return out;
    }""")


def test_two_partners_see_their_own_markers_exact_and_the_others_coarsened(browser, page, live_server, login,
                                                                          alice, charlie, org_a, org_b):
    world = seed(org_a, org_b)
    ayla = world["cats"][0]

    login(page, "alice", "pw-alice")
    open_map(page, live_server)
    expected = expected_markers(alice)
    drawn = marker_points(page)
    assert sorted(tuple(p) for p in drawn) == sorted(expected)
    assert page.locator("path.sighting-marker").count() == len(expected)
    assert page.locator("path.sighting-marker.coarse").count() == sum(1 for p in expected if not p[2]) > 0
    assert page.locator("path.grid-cell").count() == page.locator("path.sighting-marker.coarse").count()
    assert page.locator("#map-status").inner_text().startswith(f"{sum(expected.values())} ")

    # The screenshot: own sightings exact, the partner's in dashed grid cells, one popup open.
    page.locator("path.sighting-marker.coarse").first.click()
    page.wait_for_function("() => { const i = document.querySelector('.leaflet-popup-content img.popup-thumb');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    page.wait_for_timeout(400)  # let Leaflet's popup fade-in finish
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=os.path.join(screenshot_dir(), "map.png"))
    page.locator(".leaflet-popup-close-button").click()

    # Filter to one cat: only her markers remain, and the URL remembers the filter.
    page.select_option("select[name=individual]", str(ayla.pk))
    wait_until_shown(page, "6 ")
    assert page.locator("path.sighting-marker").count() == 6
    assert f"individual={ayla.pk}" in page.url
    page.select_option("select[name=body_part]", BodyPart.LEFT_FLANK)
    wait_until_shown(page, "3 ")
    assert page.locator("path.sighting-marker").count() == 3

    # Popup of an own sighting: thumbnail, date, individual and a link to the sighting.
    page.locator("path.sighting-marker.exact").first.click()
    popup = page.locator(".leaflet-popup-content .popup-sighting").first
    popup.wait_for()
    assert "SL-0001 Ayla" in popup.inner_text()
    assert re.search(r"\d{4}-\d{2}-\d{2}", popup.locator(".popup-date").inner_text())
    page.wait_for_function("() => { const i = document.querySelector('.leaflet-popup-content img.popup-thumb');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    assert "exact" in popup.inner_text()
    with page.expect_navigation():
        popup.locator("a.popup-link").click()
    assert re.search(r"/sightings/\d+/$", page.url)

    # Charlie (another organisation) in his own browser session.
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    cpage = other.new_page()
    cpage.set_default_timeout(20_000)
    login(cpage, "charlie", "pw-charlie")
    open_map(cpage, live_server)
    expected_c = expected_markers(charlie)
    drawn_c = marker_points(cpage)
    assert sorted(tuple(p) for p in drawn_c) == sorted(expected_c)
    exact_a = {(s.latitude, s.longitude) for s in world["a_stations"]} | {(41.9017, 78.4733)}
    assert not exact_a & {(lat, lon) for lat, lon, _ in drawn_c}
    # Alice's unconfirmed sighting is not on his map; his own unconfirmed one is.
    assert sum(expected_c.values()) == 10 + 5 + 1
    cpage.select_option("select[name=organization]", str(org_a.pk))
    wait_until_shown(cpage, "10 ")
    assert cpage.locator("path.sighting-marker.exact").count() == 0
    cpage.locator("path.sighting-marker.coarse").first.click()
    cpopup = cpage.locator(".leaflet-popup-content .popup-sighting").first
    cpopup.wait_for()
    assert "approximate" in cpopup.inner_text()
    link = cpopup.locator("a.popup-link")
    assert re.search(r"/individuals/\d+/$", link.get_attribute("href"))
    # His station layer: his own stations exact, Alice's snapped to the grid.
    cpage.check(".leaflet-control-layers-overlays input[type=checkbox]")
    cpage.wait_for_function("() => document.querySelectorAll('path.station-marker').length === 9")
    assert cpage.locator("path.station-marker.exact").count() == 3
    assert cpage.locator("path.station-marker.coarse").count() == 6
    other.close()

    # Alice's profile of Ayla: facts, movement figures and the dated track.
    page.goto(f"{live_server.url}/individuals/{ayla.pk}/")
    page.wait_for_selector("[data-slreid-map][data-loaded=true]")
    assert page.locator("path.track-line").count() == 5
    assert page.locator("#fig-stations").inner_text() == "6"
    assert "km" in page.locator("#fig-mcp").inner_text()
    assert page.locator(".leaflet-tooltip.track-label").count() == 5
    page.screenshot(path=os.path.join(screenshot_dir(), "individual.png"), full_page=True)
