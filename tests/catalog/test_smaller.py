"""The smaller items of the field-team survey: dashboard, demo counts, legend, labels, schema, README."""

import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from catalog import review
from catalog.models import Organization, SightingStatus
from matching.models import MatchCandidate, MatchRun, RunState
from tests.factories import CameraStationFactory, IndividualFactory, LocationFactory, SightingFactory, SightingImageFactory

pytestmark = pytest.mark.django_db
README = Path(__file__).resolve().parents[2] / "README.md"


def test_dashboard_recent_sightings_are_the_latest_submitted_not_the_latest_observed(client, bob, org_a):
    for day in range(1, 13):
        SightingFactory(organization=org_a, observed_at=dt.datetime(2024, 5, day, tzinfo=dt.timezone.utc))
    old_season = SightingFactory(organization=org_a, observed_at=dt.datetime(2012, 7, 10, tzinfo=dt.timezone.utc))
    client.force_login(bob)
    recent = client.get(reverse("home")).context["recent"]
    assert recent[0].pk == old_season.pk


def test_a_real_cat_founded_in_the_demo_organisation_is_not_counted_as_synthetic(client, alice, org_a):
    Organization.objects.filter(pk=org_a.pk).update(is_demo=True)
    IndividualFactory(code="DEMO-01", is_demo=True)
    demo_photo = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW, external_id="demo:query:1")
    real_photo = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW)
    assert review.review_new_individual(sighting=demo_photo, reviewer=alice).individual.is_demo is True
    assert review.review_new_individual(sighting=real_photo, reviewer=alice).individual.is_demo is False
    client.force_login(alice)
    context = client.get(reverse("home")).context
    assert (context["num_individuals"], context["num_demo_individuals"], context["num_real_individuals"]) == (3, 2, 1)


def test_individual_list_badges_demo_individuals_only(client, bob):
    IndividualFactory(code="DEMO-01", is_demo=True)
    IndividualFactory(code="SL-0100")
    client.force_login(bob)
    body = client.get(reverse("individual_list")).content.decode()
    cards = re.findall(r'<a class="card individual-card".*?</a>', body, re.S)
    demo_card = next(c for c in cards if "DEMO-01" in c)
    real_card = next(c for c in cards if "SL-0100" in c)
    assert 'badge demo' in demo_card and 'badge demo' not in real_card


def test_map_pages_explain_their_markers(client, bob):
    client.force_login(bob)
    body = client.get(reverse("map")).content.decode()
    assert 'id="map-legend"' in body and "approximate position" in body and "Camera station" in body
    assert 'id="map-legend"' in client.get(reverse("station_list")).content.decode()


def _done_run(org, user):
    cat = IndividualFactory(code="SL-0042")
    query = SightingFactory(organization=org, status=SightingStatus.AWAITING_REVIEW)
    SightingImageFactory(sighting=query)
    run = MatchRun.objects.create(
        sighting=query, extractor="sift", state=RunState.DONE, requested_by=user, calibration_version="sift-2026-11-27d",
    )
    MatchCandidate.objects.create(
        run=run, individual=cat, rank=1, score=3.0, confidence="uncertain", num_inliers=12,
        body_parts=["left_flank", "head"],
    )
    return run


def test_results_page_names_body_parts_by_label_and_hides_the_calibration_id(client, bob, org_a):
    run = _done_run(org_a, bob)
    client.force_login(bob)
    body = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "Left flank, Head" in body
    assert "left_flank" not in body and "sift-2026-11-27d" not in body


def test_candidates_endpoint_returns_the_bare_list_its_schema_describes(bob, org_a):
    run = _done_run(org_a, bob)
    api = APIClient()
    api.force_authenticate(bob)
    data = api.get(f"/api/runs/{run.pk}/candidates/").json()
    assert isinstance(data, list) and data[0]["individual_code"] == "SL-0042"
    schema = api.get("/api/schema/", {"format": "json"}).json()
    response = schema["paths"]["/api/runs/{id}/candidates/"]["get"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"]["type"] == "array"


def test_readme_api_journey_logs_in_with_the_demo_logins_that_exist():
    from catalog.management.commands.load_demo import DEV_PASSWORDS

    text = README.read_text(encoding="utf-8")
    logins = re.findall(r"\$\(token (\S+) '?([^)']+)'?\)", text)
    assert logins, "the README's curl journey logs in"
    for username, password in logins:
        assert DEV_PASSWORDS.get(username) == password.strip()


def test_every_export_says_what_it_left_out_and_why(client, bob, org_a):
    area = LocationFactory(name="Zorkul", organization=org_a)
    station = CameraStationFactory(location=area, organization=org_a)
    SightingFactory(organization=org_a, location=area, station=station)
    SightingFactory(organization=org_a, location=area)  # no station, no point
    SightingFactory(organization=org_a, location=area, status=SightingStatus.WITHDRAWN)
    client.force_login(bob)
    query = {"location": area.pk}
    camtrap = client.get(reverse("export_download", args=["camtrap-dp.zip"]), {**query, "media": "0"})
    assert camtrap["X-Export-Left-Out"] == "withdrawn=1; without_position=1"
    descriptor = json.loads(zipfile.ZipFile(io.BytesIO(camtrap.content)).read("datapackage.json"))
    assert "1 sighting(s) without a camera station or a point" in descriptor["description"]
    assert "1 sighting(s) withdrawn" in descriptor["description"]
    csv_response = client.get(reverse("export_download", args=["sightings.csv"]), query)
    assert csv_response["X-Export-Left-Out"] == "withdrawn=1"
    geojson = json.loads(client.get(reverse("export_download", args=["sightings.geojson"]), query).content)
    assert geojson["left_out"] == {"withdrawn": 1}
    page = client.get(reverse("exports"), query).content.decode()
    assert "1 sighting without a camera station or a point" in page
