"""The README's curl flow, step by step, with token authentication."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests.factories import CameraStationFactory, IndividualFactory, LocationFactory, jpeg_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_engine(monkeypatch):
    """The engine's edge: identify_run ranks one known individual (the real one is tested in tests/matching)."""
    import matching.services
    from matching.models import MatchCandidate

    def identify_run(*, run, progress=None):
        images = list(run.sighting.images.all())
        for i, _image in enumerate(images, start=1):
            progress and progress("extracting", i, len(images))
        leo = IndividualFactory(code="SL-0042", name="Leo")
        MatchCandidate.objects.create(run=run, individual=leo, rank=1, score=0.93, confidence="excellent",
                                      num_inliers=87, body_parts=["left_flank"], query_image=images[0])
        run.top_score, run.likely_new = 0.93, False
        run.save(update_fields=["top_score", "likely_new"])

    monkeypatch.setattr(matching.services, "identify_run", identify_run)


def token_client(username, password):
    response = APIClient().post("/api/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + response.json()["token"])
    return client


def test_create_upload_identify_poll_and_confirm_with_tokens(
    alice, bob, org_a, fake_engine, q_sync, django_capture_on_commit_callbacks
):
    area = LocationFactory(name="Sarychat", time_zone="Asia/Bishkek")
    station = CameraStationFactory(location=area, organization=org_a, code="S07")
    assert APIClient().post("/api/token/", {"username": "bob", "password": "wrong"}, format="json").status_code == 400

    contributor = token_client("bob", "pw-bob")
    sighting = contributor.post("/api/sightings/", {
        "organization": org_a.pk, "observed_at": "2024-03-01T06:12:00+06:00", "station": station.pk,
    }, format="json").json()
    for color in ((200, 30, 30), (30, 200, 30)):
        upload = SimpleUploadedFile("IMG.JPG", jpeg_bytes(120, 80, color), content_type="image/jpeg")
        response = contributor.post(f"/api/sightings/{sighting['id']}/images/",
                                    {"file": upload, "body_part": "left_flank", "box": [10, 10, 60, 40]}, format="multipart")
        assert response.status_code == 201, response.content
        assert response.json()["box"] == [10, 10, 60, 40]

    with django_capture_on_commit_callbacks(execute=True):
        run = contributor.post(f"/api/sightings/{sighting['id']}/identify/", {}, format="json")
    assert run.status_code == 202, run.content

    polled = contributor.get(f"/api/runs/{run.json()['id']}/").json()
    assert polled["state"] == "done" and polled["progress_done"] == polled["progress_total"] == 2
    candidates = contributor.get(f"/api/runs/{run.json()['id']}/candidates/").json()
    assert [(c["rank"], c["individual_code"], c["individual_status"], c["confidence"]) for c in candidates] == [
        (1, "SL-0042", "active", "excellent")
    ]

    # Bob contributes but may not decide; alice (reviewer) confirms.
    body = {"action": "confirm", "individual": candidates[0]["individual"]}
    assert contributor.post(f"/api/sightings/{sighting['id']}/review/", body, format="json").status_code == 403
    reviewer = token_client("alice", "pw-alice")
    with django_capture_on_commit_callbacks(execute=False):
        decision = reviewer.post(f"/api/sightings/{sighting['id']}/review/", body, format="json")
    assert decision.status_code == 201, decision.content
    final = reviewer.get(f"/api/sightings/{sighting['id']}/").json()
    assert (final["status"], final["individual_code"], final["image_count"]) == ("identified", "SL-0042", 2)


def test_schema_and_docs_are_served_without_a_cdn(client, alice):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for route in ("/api/sightings/{id}/identify/", "/api/runs/{id}/candidates/", "/api/imports/", "/api/token/"):
        assert route in text
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in docs
    assert "/static/drf_spectacular_sidecar/" in docs
    assert client.get("/api/redoc/").status_code == 200
