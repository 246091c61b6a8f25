"""No exact coordinate of another organisation leaks through the map pages and GeoJSON (issue 5).

Each response body is searched for the exact latitude/longitude digits at several precisions,
rounded and truncated, so that a value printed with fewer decimals is caught too.
"""

import math
from datetime import datetime, timezone

import pytest
from django.urls import reverse

from catalog.models import BodyPart, SightingStatus
from catalog.privacy import coarsen
from tests.factories import CameraStationFactory, IndividualFactory, LocationFactory, SightingFactory, SightingImageFactory

pytestmark = pytest.mark.django_db

SIGHTING_POINT = (42.87654321, 77.12345678)
STATION_POINT = (42.73197, 77.46283)
EXIF_POINT = (42.91357, 77.31864)
SECRETS = (SIGHTING_POINT, STATION_POINT, EXIF_POINT)


def spellings(value: float, min_decimals: int = 2) -> set[str]:
    out = set()
    for d in range(min_decimals, 9):
        out.add(f"{value:.{d}f}")
        out.add(f"{math.trunc(value * 10**d) / 10**d:.{d}f}")
    return out


def leaks(body: str, points=SECRETS) -> set[str]:
    return {s for point in points for v in point for s in spellings(v) if s in body}


@pytest.fixture
def protected(org_a, org_b, alice, charlie):
    location = LocationFactory(name="Naryn")
    station = CameraStationFactory(location=location, organization=org_a, code="N7",
                                   latitude=STATION_POINT[0], longitude=STATION_POINT[1])
    cat = IndividualFactory(code="SL-0042", name="Tengri")
    own_point = SightingFactory(
        organization=org_a, observed_at=datetime(2024, 5, 1, tzinfo=timezone.utc), location=location, station=station,
        latitude=SIGHTING_POINT[0], longitude=SIGHTING_POINT[1], status=SightingStatus.IDENTIFIED, individual=cat,
    )
    station_point = SightingFactory(
        organization=org_a, observed_at=datetime(2024, 6, 9, tzinfo=timezone.utc), location=location, station=station,
        status=SightingStatus.IDENTIFIED, individual=cat,
    )
    third = SightingFactory(
        organization=org_a, observed_at=datetime(2024, 7, 2, tzinfo=timezone.utc), location=location,
        latitude=42.60001, longitude=77.70001, status=SightingStatus.IDENTIFIED, individual=cat,
    )
    SightingImageFactory(sighting=own_point, body_part=BodyPart.LEFT_FLANK,
                         exif_latitude=EXIF_POINT[0], exif_longitude=EXIF_POINT[1])
    return {"individual": cat, "sightings": [own_point, station_point, third], "station": station}


def bodies(client, user, protected) -> dict[str, str]:
    client.force_login(user)
    cat = protected["individual"]
    urls = {
        "map": reverse("map"),
        "map filtered": reverse("map") + f"?individual={cat.pk}&body_part=left_flank",
        "sightings geojson": reverse("map_sightings_geojson"),
        "sightings geojson filtered": reverse("map_sightings_geojson") + f"?individual={cat.pk}&body_part=left_flank",
        "stations geojson": reverse("map_stations_geojson"),
        "stations page": reverse("station_list"),
        "individuals": reverse("individual_list"),
        "individual": reverse("individual_detail", args=[cat.pk]),
        "track geojson": reverse("individual_track_geojson", args=[cat.pk]),
        "sighting": reverse("sighting_detail", args=[protected["sightings"][0].pk]),
    }
    out = {}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code in (200, 404), (name, response.status_code)
        out[name] = response.content.decode()
    return out


def test_outsider_sees_no_exact_coordinate_anywhere_on_the_map_pages(client, protected, charlie):
    found = {name: leaks(body) for name, body in bodies(client, charlie, protected).items()}
    assert found == {name: set() for name in found}


def test_outsider_sees_the_grid_cell_centres_instead(client, protected, charlie):
    got = bodies(client, charlie, protected)
    sighting_cell = coarsen(*SIGHTING_POINT)
    station_cell = coarsen(*STATION_POINT)
    assert sighting_cell == (42.85, 77.15) and station_cell == (42.75, 77.45)
    assert "[77.15, 42.85]" in got["sightings geojson"] and "[77.45, 42.75]" in got["sightings geojson"]
    assert "[77.45, 42.75]" in got["stations geojson"]
    assert "42.75, 77.45" in got["stations page"] and "42.85, 77.15" in got["individual"]


def test_members_and_site_admins_see_exact_coordinates(client, protected, alice, staff):
    for user in (alice, staff):
        got = bodies(client, user, protected)
        assert "[77.12345678, 42.87654321]" in got["sightings geojson"]
        assert "[77.46283, 42.73197]" in got["stations geojson"] and "42.73197, 77.46283" in got["stations page"]
        assert "42.87654321, 77.12345678" in got["individual"] and "42.87654321" in got["sighting"]
        assert "[77.12345678, 42.87654321]" in got["track geojson"]


@pytest.mark.parametrize("grid, cell", [(0.5, (42.75, 77.25)), (1.0, (42.5, 77.5)), (0.05, (42.875, 77.125))])
def test_grid_size_is_configurable_and_still_hides_the_exact_point(client, protected, charlie, settings, grid, cell):
    settings.COORDINATE_GRID_DEGREES = grid
    got = bodies(client, charlie, protected)
    assert f"[{cell[1]}, {cell[0]}]" in got["sightings geojson"]
    # A 0.05° grid legitimately reveals two decimals; anything finer than the grid must stay hidden.
    min_decimals = max(2, -math.floor(math.log10(grid)) + 1)
    for name, body in got.items():
        hidden = {s for p in SECRETS for v in p for s in spellings(v, min_decimals) if s in body}
        assert not hidden, (name, hidden)


def test_outsider_movement_figures_differ_from_the_exact_ones(client, protected, alice, charlie):
    client.force_login(alice)
    exact = client.get(reverse("individual_detail", args=[protected["individual"].pk])).context["summary"]
    client.force_login(charlie)
    coarse = client.get(reverse("individual_detail", args=[protected["individual"].pk])).context["summary"]
    assert coarse.max_displacement_km != pytest.approx(exact.max_displacement_km)
    assert coarse.convex_hull_km2 != pytest.approx(exact.convex_hull_km2)
