"""Every API endpoint for three users in three organisations: list, detail and write."""

import pytest

from tests.factories import jpeg_bytes

pytestmark = pytest.mark.django_db


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_anonymous_gets_401_everywhere(api, world):
    client = api()
    for url in [
        "/api/organizations/", "/api/locations/", "/api/stations/", "/api/individuals/", "/api/sightings/",
        "/api/images/", "/api/runs/", "/api/decisions/", "/api/imports/",
        f"/api/sightings/{world['a']['sighting'].pk}/", f"/api/images/{world['a']['image'].pk}/file/",
    ]:
        assert client.get(url).status_code == 401, url
    assert client.post("/api/sightings/", {}).status_code == 401


def test_each_user_lists_only_their_organisations(api, world, alice, charlie, dora, org_a, org_b, org_c):
    assert ids(api(alice).get("/api/organizations/")) == {org_a.pk}
    assert ids(api(charlie).get("/api/organizations/")) == {org_b.pk}
    assert ids(api(dora).get("/api/organizations/")) == {org_c.pk}
    assert api(charlie).get(f"/api/organizations/{org_a.pk}/").status_code == 404
    assert api(alice).get("/api/organizations/").json()["results"][0]["role"] == "reviewer"


def test_sightings_runs_and_decisions_are_scoped_to_the_organisation(api, world, decisions, alice, charlie, dora):
    for user, key in ((alice, "a"), (charlie, "b"), (dora, "c")):
        client = api(user)
        assert ids(client.get("/api/sightings/")) == {world[key]["sighting"].pk}
        assert ids(client.get("/api/runs/")) == {world[key]["run"].pk}
        for other in {"a", "b", "c"} - {key}:
            assert client.get(f"/api/sightings/{world[other]['sighting'].pk}/").status_code == 404
            assert client.get(f"/api/runs/{world[other]['run'].pk}/").status_code == 404
            assert client.get(f"/api/runs/{world[other]['run'].pk}/candidates/").status_code == 404
            assert client.get(f"/api/sightings/{world[other]['sighting'].pk}/runs/").status_code == 404
            assert client.get(f"/api/sightings/{world[other]['sighting'].pk}/images/").status_code == 404
        assert client.get(f"/api/sightings/{world[key]['sighting'].pk}/").status_code == 200
    assert ids(api(alice).get("/api/decisions/")) == {decisions.pk}
    assert ids(api(charlie).get("/api/decisions/")) == set()
    assert api(charlie).get(f"/api/decisions/{decisions.pk}/").status_code == 404


def test_images_are_own_plus_shared_catalog_references(api, world, alice, charlie, dora):
    a_img, b_img, c_img = (world[k]["image"].pk for k in "abc")
    assert ids(api(alice).get("/api/images/")) == {a_img}
    # A's sighting is identified: its image is a catalog reference everyone may compare with.
    assert ids(api(charlie).get("/api/images/")) == {a_img, b_img}
    assert ids(api(dora).get("/api/images/")) == {a_img, c_img}
    assert api(charlie).get(f"/api/images/{c_img}/").status_code == 404
    assert api(charlie).get(f"/api/images/{c_img}/file/").status_code == 404
    response = api(charlie).get(f"/api/images/{a_img}/file/")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"


def test_stations_individuals_locations_are_shared_but_coordinates_are_not(api, world, alice, charlie):
    station_a = world["a"]["station"]
    rows = {r["id"]: r for r in api(charlie).get("/api/stations/").json()["results"]}
    assert set(rows) == {world[k]["station"].pk for k in "abc"}
    assert rows[station_a.pk]["coordinates_exact"] is False
    assert rows[station_a.pk]["latitude"] != station_a.latitude
    assert rows[world["b"]["station"].pk]["latitude"] == world["b"]["station"].latitude
    mine = api(alice).get(f"/api/stations/{station_a.pk}/").json()
    assert (mine["latitude"], mine["coordinates_exact"]) == (station_a.latitude, True)
    assert ids(api(charlie).get("/api/individuals/")) == {world["individual"].pk}
    assert ids(api(charlie).get("/api/locations/")) == {world["location"].pk}


def test_creating_a_sighting_needs_contributor_of_that_organisation(api, world, alice, bob, charlie, dora, org_a, org_c):
    body = {"organization": org_a.pk, "observed_at": "2024-05-01T10:00:00Z", "station": world["a"]["station"].pk}
    response = api(bob).post("/api/sightings/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["location"] == world["location"].pk
    assert api(charlie).post("/api/sightings/", body, format="json").status_code == 403
    body_c = dict(body, organization=org_c.pk, station=None)
    assert api(dora).post("/api/sightings/", body_c, format="json").status_code == 403
    bad = dict(body, latitude=41.0)
    assert api(alice).post("/api/sightings/", bad, format="json").status_code == 400


def test_uploading_an_image_needs_contributor_of_the_sightings_organisation(api, world, bob, charlie, dora):
    def upload(user, key, color):
        from django.core.files.uploadedfile import SimpleUploadedFile

        f = SimpleUploadedFile("cat.jpg", jpeg_bytes(80, 60, color), content_type="image/jpeg")
        return api(user).post(f"/api/sightings/{world[key]['sighting'].pk}/images/", {"file": f, "body_part": "left_flank"})

    response = upload(bob, "a", (10, 200, 30))
    assert response.status_code == 201, response.content
    assert response.json()["body_part"] == "left_flank"
    assert upload(bob, "a", (10, 200, 30)).status_code == 400  # exact duplicate, clear message
    assert upload(charlie, "a", (1, 2, 3)).status_code == 404
    assert upload(dora, "c", (4, 5, 6)).status_code == 403


def test_identify_needs_contributor_and_a_visible_sighting(api, world, charlie, dora, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = api(charlie).post(f"/api/sightings/{world['b']['sighting'].pk}/identify/", {}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "queued"
    assert api(charlie).post(f"/api/sightings/{world['a']['sighting'].pk}/identify/", {}, format="json").status_code == 404
    assert api(dora).post(f"/api/sightings/{world['c']['sighting'].pk}/identify/", {}, format="json").status_code == 403
    # A's sighting is already decided: a clear 400, not a crash.
    assert api(charlie).post(f"/api/sightings/{world['b']['sighting'].pk}/identify/", {"body_parts": ["wing"]}, format="json").status_code == 400


def test_review_needs_reviewer_of_the_sightings_organisation(api, world, bob, charlie, dora):
    body = {"action": "unidentifiable"}
    assert api(bob).post(f"/api/sightings/{world['a']['sighting'].pk}/review/", body, format="json").status_code == 403
    assert api(charlie).post(f"/api/sightings/{world['a']['sighting'].pk}/review/", body, format="json").status_code == 404
    assert api(dora).post(f"/api/sightings/{world['c']['sighting'].pk}/review/", body, format="json").status_code == 403
    confirm_without_individual = {"action": "confirm"}
    assert api(charlie).post(f"/api/sightings/{world['b']['sighting'].pk}/review/", confirm_without_individual, format="json").status_code == 400


def test_stations_are_created_and_changed_only_by_their_organisations_admins(api, world, alice, charlie, org_a, org_b):
    body = {"location": world["location"].pk, "organization": org_b.pk, "code": "B02", "latitude": 42.0, "longitude": 78.0}
    response = api(charlie).post("/api/stations/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["coordinates_exact"] is True
    assert api(charlie).post("/api/stations/", dict(body, organization=org_a.pk, code="X"), format="json").status_code == 403
    assert api(alice).post("/api/stations/", dict(body, organization=org_a.pk, code="Y"), format="json").status_code == 403
    station_a = world["a"]["station"]
    assert api(charlie).patch(f"/api/stations/{station_a.pk}/", {"code": "Z"}, format="json").status_code == 403
    station_b = world["b"]["station"]
    assert api(charlie).patch(f"/api/stations/{station_b.pk}/", {"organization": org_a.pk}, format="json").status_code == 403
    assert api(charlie).patch(f"/api/stations/{station_b.pk}/", {"code": "B99"}, format="json").status_code == 200
    backwards = {"operating_from": "2024-05-01", "operating_to": "2024-04-01"}
    assert api(charlie).patch(f"/api/stations/{station_b.pk}/", backwards, format="json").status_code == 400


def test_locations_are_created_only_by_site_admins(api, world, alice, charlie, staff):
    body = {"name": "Tost", "country": "Mongolia", "time_zone": "Asia/Ulaanbaatar"}
    assert api(alice).post("/api/locations/", body, format="json").status_code == 403
    assert api(charlie).post("/api/locations/", body, format="json").status_code == 403
    assert api(staff).post("/api/locations/", body, format="json").status_code == 201


def test_individuals_are_read_only(api, world, alice):
    assert api(alice).post("/api/individuals/", {"code": "SL-9"}, format="json").status_code == 405
    assert api(alice).delete(f"/api/sightings/{world['a']['sighting'].pk}/").status_code == 405


def test_review_decisions_go_through_the_review_services_with_conflict_detection(api, world, charlie, dora):
    sighting = world["b"]["sighting"]
    state = api(charlie).get(f"/api/sightings/{sighting.pk}/").json()["review_state"]
    body = {"action": "confirm", "individual": world["individual"].pk, "expected": state}
    response = api(charlie).post(f"/api/sightings/{sighting.pk}/review/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["new_status"] == "identified"
    # Same stale token again: someone (here: charlie himself) decided since.
    assert api(charlie).post(f"/api/sightings/{sighting.pk}/review/", body, format="json").status_code == 409
    undo = api(charlie).post(f"/api/sightings/{sighting.pk}/review/", {"action": "undo"}, format="json")
    assert undo.status_code == 201 and undo.json()["new_status"] == "awaiting_review"


def test_lists_are_paginated_and_filterable(api, world, alice, staff):
    client = api(staff)
    page = client.get("/api/sightings/", {"page_size": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert {r["status"] for r in client.get("/api/sightings/", {"status": "identified"}).json()["results"]} == {"identified"}
    after = client.get("/api/sightings/", {"observed_after": "2024-03-02T00:00:00Z"}).json()
    assert after["count"] == 0
    assert client.get("/api/stations/", {"code": "B01"}).json()["count"] == 1
    assert api(alice).get("/api/individuals/", {"name": "le"}).json()["count"] == 1
    # A filter never widens the scope.
    assert api(alice).get("/api/sightings/", {"organization": world["b"]["sighting"].organization_id}).json()["count"] == 0


def test_a_sighting_placed_only_by_another_organisations_station_shows_it_coarsened(api, world, alice, settings):
    settings.COORDINATE_GRID_DEGREES = 0.1
    from tests.factories import SightingFactory

    s = SightingFactory(organization=world["a"]["sighting"].organization, station=world["b"]["station"],
                        location=world["location"], observed_at=world["a"]["sighting"].observed_at)
    body = api(alice).get(f"/api/sightings/{s.pk}/").json()
    assert (body["latitude"], body["longitude"], body["coordinates_exact"]) == (42.15, 77.15, False)


def test_station_api_lists_operating_periods_and_keeps_operating_from_and_to(api, world, charlie):
    from catalog.models import StationOperatingPeriod

    station_b = world["b"]["station"]
    client = api(charlie)
    # The old fields still write: they become the station's one period.
    one = {"operating_from": "2024-01-01", "operating_to": "2024-03-31"}
    body = client.patch(f"/api/stations/{station_b.pk}/", one, format="json")
    assert body.status_code == 200, body.content
    read = client.get(f"/api/stations/{station_b.pk}/").json()
    assert read["operating_periods"] == [{"start": "2024-01-01", "end": "2024-03-31", "note": ""}]
    assert (read["operating_from"], read["operating_to"]) == ("2024-01-01", "2024-03-31")
    # With several periods two dates can't say which one they change: refused, nothing changed.
    StationOperatingPeriod.objects.create(station=station_b, start="2024-05-01", end=None, note="set up again")
    refused = client.patch(f"/api/stations/{station_b.pk}/", {"operating_to": "2024-12-31"}, format="json")
    assert refused.status_code == 400
    assert len(client.get(f"/api/stations/{station_b.pk}/").json()["operating_periods"]) == 2
    assert client.patch(f"/api/stations/{station_b.pk}/", {"code": "B77"}, format="json").status_code == 200
    assert station_b.operating_periods.count() == 2
