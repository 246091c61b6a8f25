"""Map page, GeoJSON endpoints, individual profiles, stations and sighting detail (issue 5)."""

from datetime import date, datetime, timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import BodyPart, SightingStatus
from tests.factories import (
    CameraStationFactory,
    IndividualFactory,
    LocationFactory,
    SightingFactory,
    SightingImageFactory,
)

pytestmark = pytest.mark.django_db


def at(y, m, d):
    return datetime(y, m, d, 7, 30, tzinfo=timezone.utc)


@pytest.fixture
def world(org_a, org_b, alice, charlie):
    kyr = LocationFactory(name="Sarychat")
    taj = LocationFactory(name="Pamir", latitude=38.5, longitude=73.5)
    a1 = CameraStationFactory(location=kyr, organization=org_a, code="A1", latitude=41.31234, longitude=75.81234,
                              operating_from=date(2023, 11, 1), operating_to=date(2024, 4, 30))
    a2 = CameraStationFactory(location=kyr, organization=org_a, code="A2", latitude=41.40321, longitude=76.01432)
    b1 = CameraStationFactory(location=taj, organization=org_b, code="B1", latitude=38.51717, longitude=73.41919)
    ind1 = IndividualFactory(code="SL-0001", name="Ayla")
    ind2 = IndividualFactory(code="SL-0002", name="Bars")
    w = {"kyr": kyr, "taj": taj, "a1": a1, "a2": a2, "b1": b1, "ind1": ind1, "ind2": ind2}
    w["s1"] = SightingFactory(organization=org_a, observed_at=at(2024, 1, 10), location=kyr, station=a1,
                              status=SightingStatus.IDENTIFIED, individual=ind1)
    w["s2"] = SightingFactory(organization=org_a, observed_at=at(2024, 2, 15), location=kyr, station=a2,
                              status=SightingStatus.IDENTIFIED, individual=ind1)
    w["s3"] = SightingFactory(organization=org_a, observed_at=at(2024, 2, 20), location=kyr,
                              latitude=41.35678, longitude=75.91234, status=SightingStatus.SUBMITTED)
    # Proposed but not yet confirmed: A's reviewers see ind2 at A2, outsiders must not.
    w["s3b"] = SightingFactory(organization=org_a, observed_at=at(2024, 2, 22), location=kyr, station=a2,
                               status=SightingStatus.AWAITING_REVIEW, individual=ind2)
    w["s4"] = SightingFactory(organization=org_b, observed_at=at(2024, 3, 1), location=taj, station=b1,
                              status=SightingStatus.NEW_INDIVIDUAL, individual=ind2)
    w["s5"] = SightingFactory(organization=org_b, observed_at=at(2024, 3, 5), location=taj, station=b1,
                              status=SightingStatus.SUBMITTED)
    w["img1"] = SightingImageFactory(sighting=w["s1"], body_part=BodyPart.LEFT_FLANK)
    w["img2"] = SightingImageFactory(sighting=w["s2"], body_part=BodyPart.HEAD)
    w["img2b"] = SightingImageFactory(sighting=w["s2"], body_part=BodyPart.RIGHT_FLANK)
    w["img4"] = SightingImageFactory(sighting=w["s4"], body_part=BodyPart.LEFT_FLANK)
    return w


def geojson(client, user, **params):
    client.force_login(user)
    response = client.get(reverse("map_sightings_geojson"), params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/geo+json"
    return {f["properties"]["id"]: f for f in response.json()["features"]}


def ids(world, *names):
    return {world[n].pk for n in names}


def test_member_map_data_holds_own_sightings_exact_and_partners_catalog_coarse(client, world, alice):
    features = geojson(client, alice)
    assert set(features) == ids(world, "s1", "s2", "s3", "s3b", "s4")
    assert features[world["s1"].pk]["geometry"]["coordinates"] == [75.81234, 41.31234]
    assert features[world["s3"].pk]["geometry"]["coordinates"] == [75.91234, 41.35678]
    assert all(features[world[n].pk]["properties"]["exact"] for n in ("s1", "s2", "s3"))
    partner = features[world["s4"].pk]["properties"]
    assert partner["exact"] is False and partner["grid"] == 0.1
    assert features[world["s4"].pk]["geometry"]["coordinates"] == [73.45, 38.55]


def test_outsider_map_data_hides_unconfirmed_sightings_and_coarsens_the_rest(client, world, charlie):
    features = geojson(client, charlie)
    assert set(features) == ids(world, "s1", "s2", "s4", "s5")
    s1 = features[world["s1"].pk]
    assert s1["properties"]["exact"] is False
    assert s1["geometry"]["coordinates"] == [75.85, 41.35]
    assert features[world["s4"].pk]["properties"]["exact"] is True


def test_popup_link_opens_the_sighting_for_members_and_the_individual_for_outsiders(client, world, alice, charlie):
    s1 = world["s1"]
    assert geojson(client, alice)[s1.pk]["properties"]["url"] == reverse("sighting_detail", args=[s1.pk])
    outsider = geojson(client, charlie)[s1.pk]["properties"]
    assert outsider["url"] == reverse("individual_detail", args=[world["ind1"].pk])
    assert outsider["individual"] == "SL-0001" and outsider["individual_name"] == "Ayla"
    assert outsider["date"] == "2024-01-10"


def test_popup_thumbnail_prefers_the_filtered_body_part(client, world, alice):
    s2 = world["s2"]
    assert geojson(client, alice)[s2.pk]["properties"]["thumb"] == reverse("image_thumb", args=[world["img2"].uuid])
    filtered = geojson(client, alice, body_part=BodyPart.RIGHT_FLANK)
    assert filtered[s2.pk]["properties"]["thumb"] == reverse("image_thumb", args=[world["img2b"].uuid])
    assert geojson(client, alice)[world["s3"].pk]["properties"]["thumb"] is None


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"individual": "ind1"}, ("s1", "s2")),
        ({"date_from": "2024-02-15", "date_to": "2024-02-21"}, ("s2", "s3")),
        ({"location": "taj"}, ("s4",)),
        ({"organization": "org_b"}, ("s4",)),
        ({"status": SightingStatus.SUBMITTED}, ("s3",)),
        ({"body_part": BodyPart.LEFT_FLANK}, ("s1", "s4")),
        ({"individual": "ind1", "body_part": BodyPart.HEAD}, ("s2",)),
    ],
)
def test_map_filters_narrow_the_sightings(client, world, alice, org_b, params, expected):
    lookup = {**world, "org_b": org_b}
    query = {k: (lookup[v].pk if v in lookup else v) for k, v in params.items()}
    assert set(geojson(client, alice, **query)) == ids(world, *expected)


def test_filters_never_widen_the_outsiders_scope(client, world, charlie, org_a):
    assert set(geojson(client, charlie, organization=org_a.pk)) == ids(world, "s1", "s2")
    assert set(geojson(client, charlie, status=SightingStatus.SUBMITTED)) == ids(world, "s5")
    assert set(geojson(client, charlie, individual=world["ind2"].pk)) == ids(world, "s4")


def test_bad_filter_value_is_answered_with_a_clear_400(client, world, alice):
    client.force_login(alice)
    response = client.get(reverse("map_sightings_geojson"), {"date_from": "not-a-date", "status": "eaten"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"date_from", "status"}


def test_map_pages_need_a_login(client, world):
    for name in ("map", "map_sightings_geojson", "map_stations_geojson", "individual_list", "station_list"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_map_page_loads_leaflet_from_static_files_and_map_js(client, world, alice):
    client.force_login(alice)
    html = client.get(reverse("map"), {"individual": world["ind1"].pk}).content.decode()
    assert "/static/leaflet/leaflet" in html and "/static/js/map.js" in html
    assert "unpkg" not in html and "cdn" not in html.lower()
    for field in ("individual", "date_from", "date_to", "location", "organization", "status", "body_part"):
        assert f'name="{field}"' in html
    assert f'<option value="{world["ind1"].pk}" selected>' in html


def test_stations_data_protects_partner_stations_and_scopes_detections(client, world, alice, charlie, org_a):
    SightingFactory(organization=org_a, observed_at=at(2024, 3, 9), station=world["a2"],
                    status=SightingStatus.IDENTIFIED, individual=world["ind1"])  # seen there twice: listed once

    def stations(user):
        client.force_login(user)
        return {f["properties"]["code"]: f for f in client.get(reverse("map_stations_geojson")).json()["features"]}

    mine = stations(alice)
    assert mine["A1"]["geometry"]["coordinates"] == [75.81234, 41.31234] and mine["A1"]["properties"]["exact"]
    assert mine["A1"]["properties"]["operating_from"] == "2023-11-01"
    assert [i["code"] for i in mine["A2"]["properties"]["individuals"]] == ["SL-0001", "SL-0002"]
    theirs = stations(charlie)
    assert theirs["A1"]["geometry"]["coordinates"] == [75.85, 41.35] and not theirs["A1"]["properties"]["exact"]
    assert [i["code"] for i in theirs["A2"]["properties"]["individuals"]] == ["SL-0001"]
    assert theirs["B1"]["properties"]["exact"]


def test_stations_page_lists_operating_dates_and_individuals(client, world, charlie):
    client.force_login(charlie)
    html = client.get(reverse("station_list")).content.decode()
    assert "2023-11-01" in html and "2024-04-30" in html
    assert reverse("individual_detail", args=[world["ind2"].pk]) in html
    assert "41.35, 75.85" in html


def test_individual_profile_shows_facts_gallery_timeline_and_movements(client, world, alice):
    client.force_login(alice)
    response = client.get(reverse("individual_detail", args=[world["ind1"].pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "SL-0001" in html and "Ayla" in html
    assert "2024-01-10" in html and "2024-02-15" in html
    assert reverse("image_thumb", args=[world["img1"].uuid]) in html
    assert reverse("sighting_detail", args=[world["s1"].pk]) in html
    gallery = [label for label, _ in response.context["gallery"]]
    assert gallery == ["Head", "Left flank", "Right flank"]
    summary = response.context["summary"]
    assert summary.stations_visited == 2 and summary.sightings == 2
    assert summary.longest_move.days == pytest.approx(36.0)
    assert summary.convex_hull_km2 is None
    assert response.context["any_coarse"] is False
    assert reverse("individual_track_geojson", args=[world["ind1"].pk]) in html


def test_outsider_profile_figures_come_from_coarsened_points(client, world, charlie):
    from catalog.geo import haversine_km

    client.force_login(charlie)
    response = client.get(reverse("individual_detail", args=[world["ind1"].pk]))
    assert response.context["any_coarse"] is True
    assert 'id="coarse-note"' in response.content.decode()
    coarse = haversine_km((41.35, 75.85), (41.45, 76.05))
    assert response.context["summary"].max_displacement_km == pytest.approx(coarse)
    assert reverse("sighting_detail", args=[world["s1"].pk]) not in response.content.decode()


def test_track_geojson_has_dated_lines_between_successive_sightings(client, world, alice):
    client.force_login(alice)
    data = client.get(reverse("individual_track_geojson", args=[world["ind2"].pk])).json()
    lines = [f for f in data["features"] if f["geometry"]["type"] == "LineString"]
    points = [f for f in data["features"] if f["geometry"]["type"] == "Point"]
    assert len(points) == 2 and len(lines) == 1
    assert lines[0]["properties"]["from"] == "2024-02-22" and lines[0]["properties"]["to"] == "2024-03-01"
    assert lines[0]["geometry"]["coordinates"] == [[76.01432, 41.40321], [73.45, 38.55]]
    assert lines[0]["properties"]["km"] > 300


def test_unknown_individual_is_404(client, world, charlie):
    client.force_login(charlie)
    assert client.get(reverse("individual_detail", args=[999999])).status_code == 404
    assert client.get(reverse("individual_track_geojson", args=[999999])).status_code == 404


def test_individual_list_shows_visible_counts(client, world, alice, charlie):
    client.force_login(alice)
    page = client.get(reverse("individual_list")).context["page"]
    assert {i.code: i.stats["n"] for i in page} == {"SL-0001": 2, "SL-0002": 2}
    client.force_login(charlie)
    response = client.get(reverse("individual_list"), {"q": "bars"})
    assert [(i.code, i.stats["n"]) for i in response.context["page"]] == [("SL-0002", 1)]


def test_sighting_detail_is_for_members_and_admins_only(client, world, alice, charlie, staff):
    url = reverse("sighting_detail", args=[world["s1"].pk])
    client.force_login(alice)
    html = client.get(url).content.decode()
    assert "41.31234" in html and "Ayla" in html
    client.force_login(charlie)
    assert client.get(url).status_code == 404
    client.force_login(staff)
    assert client.get(url).status_code == 200


def test_sighting_detail_links_to_the_identification_pages(client, world, alice):
    from matching.models import MatchRun

    run = MatchRun.objects.create(sighting=world["s3"], extractor="sift")
    client.force_login(alice)
    html = client.get(reverse("sighting_detail", args=[world["s3"].pk])).content.decode()
    assert reverse("run_detail", args=[run.pk]) in html
    assert reverse("sighting_edit", args=[world["s3"].pk]) in html
    confirmed = client.get(reverse("sighting_detail", args=[world["s1"].pk])).content.decode()
    # A confirmed sighting's boxes stay as reviewed; only its date, place and notes can be set right.
    assert "Edit details and boxes" not in confirmed and "Edit date, place and notes" in confirmed


def test_map_data_and_profile_queries_do_not_grow_with_the_number_of_sightings(client, world, alice):
    def count(url):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    client.force_login(alice)
    urls = [reverse("map_sightings_geojson"), reverse("individual_detail", args=[world["ind1"].pk]),
            reverse("individual_track_geojson", args=[world["ind1"].pk]), reverse("map_stations_geojson"),
            reverse("station_list"), reverse("individual_list")]
    before = [count(u) for u in urls]
    for n in range(12):
        s = SightingFactory(organization=world["s1"].organization, observed_at=at(2024, 4, 1 + n),
                            station=world["a1" if n % 2 else "a2"], status=SightingStatus.IDENTIFIED,
                            individual=world["ind1"])
        SightingImageFactory(sighting=s)
        CameraStationFactory(location=world["kyr"], organization=world["s1"].organization)
        IndividualFactory()
    assert [count(u) for u in urls] == before


def test_coordinates_keep_a_decimal_point_in_every_language(client, world, charlie):
    client.force_login(charlie)
    html = client.get(reverse("station_list"), HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert 'lang="ru"' in html
    assert "41.35, 75.85" in html


def test_map_uses_the_configured_tile_server(client, world, alice, monkeypatch):
    import leaflet
    from django.conf import settings

    client.force_login(alice)
    default_url = settings.LEAFLET_CONFIG["TILES"][0][1]
    assert default_url in client.get(reverse("map")).content.decode()
    # django-leaflet reads LEAFLET_CONFIG (MAP_TILE_URL) once at start-up; patch what it read.
    monkeypatch.setitem(leaflet.app_settings, "TILES", [("Local", "http://tiles.example.org/{z}/{x}/{y}.png", {})])
    html = client.get(reverse("map")).content.decode()
    assert "http://tiles.example.org/{z}/{x}/{y}.png" in html and default_url not in html
