import io
import json
import zipfile

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from catalog.models import Individual, IndividualStatus, ReviewDecision, Sighting, SightingImage, SightingStatus
from catalog.review import review_state_token
from matching import runs, tasks
from matching.models import MatchRun
from tests.factories import IndividualFactory, SightingFactory, SightingImageFactory
from tests.matching.journey_fakes import install_engine, ranking_engine

pytestmark = pytest.mark.django_db


def photo(seed: int, *, taken: str | None = None, size=(96, 72)) -> bytes:
    """A textured JPEG (distinct per seed), optionally with an EXIF DateTimeOriginal."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    exif = Image.Exif()
    if taken:
        exif.get_ifd(0x8769)[36867] = taken
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


@pytest.fixture
def catalog(org_b):
    cats = []
    for _ in range(2):
        cat = IndividualFactory()
        SightingImageFactory(sighting=SightingFactory(organization=org_b, individual=cat, status=SightingStatus.IDENTIFIED))
        cats.append(cat)
    return cats


@pytest.fixture
def done_run(org_a, bob, catalog, monkeypatch):
    install_engine(monkeypatch, ranking_engine(catalog))
    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting)
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    tasks.identify(run.pk)
    run.refresh_from_db()
    return run


def test_submit_keeps_good_files_refuses_bad_ones_and_says_which(client, bob, org_a):
    client.force_login(bob)
    response = client.post(reverse("submit"), {
        "organization": org_a.pk, "body_part": "left_flank",
        "files": [upload("a.jpg", photo(1, taken="2024:03:01 10:00:00")), upload("notes.txt", b"hello"),
                  upload("b.jpg", photo(2, taken="2024:03:01 10:00:03"))],
    })
    assert response.status_code == 200
    html = response.content.decode()
    assert "notes.txt" in html and "Refused" in html
    sighting = Sighting.objects.get()
    assert sighting.images.count() == 2 and sighting.submitted_by == bob
    assert set(sighting.images.values_list("body_part", flat=True)) == {"left_flank"}
    assert sighting.observed_at.strftime("%Y-%m-%d %H:%M:%S") == "2024-03-01 10:00:00"  # EXIF, UTC without a place


def test_submit_of_one_clean_trigger_goes_to_the_photos_page(client, bob, org_a):
    client.force_login(bob)
    response = client.post(reverse("submit"), {"organization": org_a.pk, "body_part": "unknown",
                                               "files": [upload("a.jpg", photo(3))]})
    sighting = Sighting.objects.get()
    assert response.status_code == 302 and response.url == reverse("sighting_edit", args=[sighting.pk])


def test_zip_of_two_triggers_becomes_two_sightings(client, bob, org_a):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("cam1/IMG_0001.JPG", photo(4, taken="2024:05:02 03:10:00"))
        zf.writestr("cam1/IMG_0002.JPG", photo(5, taken="2024:05:02 03:10:02"))
        zf.writestr("cam1/IMG_0003.JPG", photo(6, taken="2024:05:02 04:30:00"))
        zf.writestr("cam1/broken.jpg", b"\xff\xd8\xff not really")
        zf.writestr("__MACOSX/._IMG_0001.JPG", b"junk")
    client.force_login(bob)
    response = client.post(reverse("submit"), {"organization": org_a.pk, "body_part": "unknown",
                                               "files": [upload("trigger.zip", buf.getvalue())]})
    assert response.status_code == 200
    counts = sorted(s.images.count() for s in Sighting.objects.all())
    assert counts == [1, 2]
    assert "broken.jpg" in response.content.decode()


def test_charlie_cannot_submit_for_another_organisation(client, charlie, org_a):
    client.force_login(charlie)
    response = client.post(reverse("submit"), {"organization": org_a.pk, "body_part": "unknown",
                                               "files": [upload("a.jpg", photo(7))]})
    assert response.status_code == 400
    assert not Sighting.objects.exists()


def test_photos_page_saves_boxes_body_parts_and_place_then_goes_to_identify(client, bob, org_a):
    sighting = SightingFactory(organization=org_a)
    image = SightingImageFactory(sighting=sighting)
    client.force_login(bob)
    page = client.get(reverse("sighting_edit", args=[sighting.pk]))
    assert page.status_code == 200 and b"box-layer" in page.content
    response = client.post(reverse("sighting_edit", args=[sighting.pk]), {
        "observed_at": "2024-03-01T14:30", "latitude": "41.5", "longitude": "75.2", "notes": "two cats?",
        f"box-{image.pk}": "4,5,30,20", f"box_source-{image.pk}": "detector", f"body_part-{image.pk}": "head",
        "identify": "1",
    })
    assert response.status_code == 302 and response.url == reverse("run_start", args=[sighting.pk])
    image.refresh_from_db()
    sighting.refresh_from_db()
    assert (image.box, image.box_source, image.body_part) == ((4, 5, 30, 20), "detector", "head")
    assert (sighting.latitude, sighting.longitude, sighting.notes) == (41.5, 75.2, "two cats?")


def test_charlie_gets_404_on_another_organisations_photos_page_and_boxes(client, charlie, org_a):
    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting)
    client.force_login(charlie)
    assert client.get(reverse("sighting_edit", args=[sighting.pk])).status_code == 404
    assert client.get(reverse("boxes_suggest", args=[sighting.pk])).status_code == 404
    assert client.post(reverse("run_start", args=[sighting.pk])).status_code == 404


def test_box_suggestions_come_from_suggest_boxes(client, bob, org_a, monkeypatch):
    import matching.engine.boxes

    sighting = SightingFactory(organization=org_a)
    first, second = SightingImageFactory(sighting=sighting), SightingImageFactory(sighting=sighting)
    seen = {}

    def fake(*, images):
        seen["sizes"] = [im.size for im in images]
        return [{"x": 1, "y": 2, "w": 30, "h": 20, "score": 0.9, "source": "detector"}, None]

    monkeypatch.setattr(matching.engine.boxes, "suggest_boxes", fake)
    client.force_login(bob)
    data = client.get(reverse("boxes_suggest", args=[sighting.pk])).json()
    assert seen["sizes"] == [(64, 48), (64, 48)]
    assert data["boxes"][0] == {"image": first.pk, "box": {"x": 1, "y": 2, "w": 30, "h": 20, "score": 0.9, "source": "detector"}}
    assert data["boxes"][1] == {"image": second.pk, "box": None}


def test_start_page_posts_filters_and_queues_a_run(client, bob, org_a, django_capture_on_commit_callbacks):
    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting)
    client.force_login(bob)
    assert client.get(reverse("run_start", args=[sighting.pk])).status_code == 200
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("run_start", args=[sighting.pk]),
                               {"body_parts": ["left_flank"], "extractor": "aliked"})
    run = MatchRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("run_detail", args=[run.pk])
    assert run.filters["body_parts"] == ["left_flank"] and len(callbacks) == 1
    # The location prior is a checkbox, ticked by default: left unticked, the run ranks by the photos alone.
    assert not run.filters["location_prior"]
    page = client.get(reverse("run_start", args=[sighting.pk])).content.decode()
    assert 'name="location_prior"' in page


def test_the_api_starts_a_run_with_or_without_the_location_prior(bob, org_a):
    from rest_framework.test import APIClient

    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting)
    api = APIClient()
    api.force_authenticate(bob)
    response = api.post(f"/api/sightings/{sighting.pk}/identify/", {"location_prior": False}, format="json")
    assert response.status_code == 202 and response.json()["filters"]["location_prior"] is False
    response = api.post(f"/api/sightings/{sighting.pk}/identify/", {}, format="json")
    assert response.json()["filters"]["location_prior"] is True


def test_status_json_reports_progress_and_is_scoped(client, bob, charlie, org_a):
    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting)
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    client.force_login(bob)
    data = client.get(reverse("run_status", args=[run.pk])).json()
    assert data["state"] == "queued" and data["total"] == 1 and data["finished"] is False
    client.force_login(charlie)
    assert client.get(reverse("run_status", args=[run.pk])).status_code == 404
    assert client.get(reverse("run_detail", args=[run.pk])).status_code == 404
    assert client.post(reverse("run_retry", args=[run.pk])).status_code == 404


def test_results_page_ranks_individuals_with_badges_and_review_buttons(client, alice, bob, done_run, catalog):
    client.force_login(alice)
    html = client.get(reverse("run_detail", args=[done_run.pk])).content.decode()
    assert catalog[0].code in html
    # Levels are words on a CSS badge: an emoji shows as an empty box where its font is missing.
    assert '<span class="badge level excellent">Excellent</span>' in html
    assert '<span class="badge level uncertain">Uncertain</span>' in html
    assert not any(emoji in html for emoji in ("🔵", "🟢", "🟡", "🔴", "🆕"))
    assert html.index(catalog[0].code) < html.index(catalog[1].code)
    assert "60 verified matches" in html and "confirm-button" in html
    assert "is 0 when too few areas match" in html  # what "verified" means, on hover
    client.force_login(bob)  # a contributor sees the results but may not decide
    html = client.get(reverse("run_detail", args=[done_run.pk])).content.decode()
    assert catalog[0].code in html and "confirm-button" not in html


def test_a_candidate_withdrawn_since_the_run_is_listed_without_link_or_confirm_button(client, alice, done_run, catalog):
    withdrawn, kept = catalog
    Individual.objects.filter(pk=withdrawn.pk).update(status=IndividualStatus.WITHDRAWN)
    client.force_login(alice)
    html = client.get(reverse("run_detail", args=[done_run.pk])).content.decode()
    assert reverse("individual_detail", args=[withdrawn.pk]) not in html
    assert reverse("individual_detail", args=[kept.pk]) in html
    assert "(Withdrawn)" in html
    assert f'name="individual" value="{withdrawn.pk}"' not in html
    assert f'name="individual" value="{kept.pk}"' in html


def test_likely_new_individual_is_shown(client, bob, done_run):
    client.force_login(bob)
    html = client.get(reverse("run_detail", args=[done_run.pk])).content.decode()
    assert "Likely new individual" not in html and 'id="votes-only"' not in html
    MatchRun.objects.filter(pk=done_run.pk).update(likely_new=True)
    assert "Likely new individual" in client.get(reverse("run_detail", args=[done_run.pk])).content.decode()


def test_results_page_says_why_every_candidate_is_uncertain_when_the_calibration_earned_no_level(
    client, bob, done_run, monkeypatch,
):
    from matching import views
    from matching.engine.calibration import NEVER, Calibration

    unearned = Calibration("cal-none", "sift", {"excellent": NEVER, "good": NEVER, "fair": NEVER}, 1.0)
    earned = Calibration("cal-fair", "sift", {"excellent": NEVER, "good": NEVER, "fair": 20.0}, 1.0)
    client.force_login(bob)
    MatchRun.objects.filter(pk=done_run.pk).update(calibration_version="cal-none")
    monkeypatch.setattr(views, "_calibration", lambda version: unearned)
    html = client.get(reverse("run_detail", args=[done_run.pk])).content.decode()
    assert 'id="levels-note"' in html and "Fair (80 %)" in html
    assert "cal-none" not in html  # a calibration id means nothing to a reviewer
    monkeypatch.setattr(views, "_calibration", lambda version: earned)
    assert 'id="levels-note"' not in client.get(reverse("run_detail", args=[done_run.pk])).content.decode()


def test_results_page_says_when_no_calibration_exists_for_the_extractor(client, bob, done_run):
    client.force_login(bob)
    MatchRun.objects.filter(pk=done_run.pk).update(calibration_version="", extractor="aliked")
    html = client.get(reverse("run_detail", args=[done_run.pk])).content.decode()
    assert "No calibration is fitted for the aliked extractor" in html


def test_candidates_without_a_verified_score_are_said_to_be_ordered_by_votes(client, bob, done_run):
    MatchRun.objects.filter(pk=done_run.pk).update(top_score=0.0, likely_new=True)
    done_run.candidates.update(score=0.0)
    client.force_login(bob)
    assert 'id="votes-only"' in client.get(reverse("run_detail", args=[done_run.pk])).content.decode()


def test_overlay_is_a_png_cached_in_storage_and_hidden_from_charlie(client, bob, charlie, done_run):
    candidate = done_run.candidates.get(rank=1)
    client.force_login(bob)
    response = client.get(reverse("candidate_overlay", args=[candidate.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    lines = Image.open(io.BytesIO(response.content))
    clean = Image.open(io.BytesIO(client.get(reverse("candidate_overlay", args=[candidate.pk]) + "?lines=0").content))
    assert lines.size == clean.size and lines.tobytes() != clean.tobytes()
    assert default_storage.exists(f"overlays/{done_run.pk}/{candidate.pk}-lines-v1.png")
    client.force_login(charlie)
    assert client.get(reverse("candidate_overlay", args=[candidate.pk])).status_code == 404


def test_reviewer_confirms_a_candidate_from_the_results_page(client, alice, done_run, catalog, monkeypatch):
    sighting = done_run.sighting
    client.force_login(alice)
    response = client.post(reverse("review_decide", args=[sighting.pk]), {
        "action": "confirm", "individual": catalog[0].pk, "expected": review_state_token(sighting), "confirmed": "yes",
    })
    assert response.status_code == 302
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.IDENTIFIED and sighting.individual == catalog[0]


def test_contributor_cannot_decide_and_charlie_gets_404(client, bob, charlie, done_run):
    sighting = done_run.sighting
    client.force_login(bob)
    assert client.post(reverse("review_decide", args=[sighting.pk]), {"action": "unidentifiable"}).status_code == 403
    client.force_login(charlie)
    assert client.post(reverse("review_decide", args=[sighting.pk]), {"action": "unidentifiable"}).status_code == 404
    assert not ReviewDecision.objects.exists()


def test_stale_review_form_shows_the_first_decision(client, alice, done_run, catalog):
    sighting = done_run.sighting
    token = review_state_token(sighting)
    client.force_login(alice)
    client.post(reverse("review_decide", args=[sighting.pk]), {"action": "new_individual", "expected": token, "confirmed": "yes"})
    response = client.post(reverse("review_decide", args=[sighting.pk]),
                           {"action": "confirm", "individual": catalog[0].pk, "expected": token, "confirmed": "yes"}, follow=True)
    assert "already decided" in response.content.decode()
    assert Individual.objects.count() == 3 and ReviewDecision.objects.count() == 1


def test_review_queue_lists_oldest_first_with_top_confidence_and_not_for_charlie(client, alice, charlie, done_run, org_a, catalog, monkeypatch):
    older = done_run.sighting
    newer = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW)
    client.force_login(alice)
    html = client.get(reverse("review_queue")).content.decode()
    assert html.index(f'data-sighting="{older.pk}"') < html.index(f'data-sighting="{newer.pk}"')
    assert '<span class="badge level excellent">Excellent</span>' in html and "🔵" not in html
    client.force_login(charlie)
    html = client.get(reverse("review_queue")).content.decode()
    assert f'data-sighting="{older.pk}"' not in html


def test_failed_run_shows_reason_and_retry_button(client, bob, alice, org_a, monkeypatch):
    def broken(*, run, progress=None):
        raise RuntimeError("extractor weights missing")

    install_engine(monkeypatch, broken)
    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting)
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    tasks.identify(run.pk)
    client.force_login(bob)
    html = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "extractor weights missing" in html and "retry-button" in html
    client.force_login(alice)
    assert "extractor weights missing" in client.get(reverse("review_queue")).content.decode()
    client.force_login(bob)
    response = client.post(reverse("run_retry", args=[run.pk]))
    new = MatchRun.objects.exclude(pk=run.pk).get()
    assert response.url == reverse("run_detail", args=[new.pk]) and new.state == "queued"


def test_my_sightings_lists_only_my_organisations(client, bob, charlie, org_a, org_b):
    mine = SightingFactory(organization=org_a)
    theirs = SightingFactory(organization=org_b)
    client.force_login(bob)
    html = client.get(reverse("my_sightings")).content.decode()
    assert f'data-sighting="{mine.pk}"' in html and f'data-sighting="{theirs.pk}"' not in html


def test_place_is_prefilled_from_exif_gps(client, bob, org_a):
    rng = np.random.default_rng(11)
    img = Image.fromarray(rng.integers(0, 255, (72, 96, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (41.0, 30.0, 0.0), 3: "E", 4: (75.0, 15.0, 0.0)})
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    client.force_login(bob)
    client.post(reverse("submit"), {"organization": org_a.pk, "body_part": "unknown", "files": [upload("gps.jpg", out.getvalue())]})
    sighting = Sighting.objects.get()
    assert (round(sighting.latitude, 3), round(sighting.longitude, 3)) == (41.5, 75.25)


def test_date_on_the_photos_page_is_local_time_of_the_station(client, bob, org_a):
    from tests.factories import CameraStationFactory, LocationFactory

    station = CameraStationFactory(location=LocationFactory(name="Naryn", time_zone="Asia/Bishkek"))
    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting)
    client.force_login(bob)
    client.post(reverse("sighting_edit", args=[sighting.pk]), {"observed_at": "2024-03-01T14:30", "station": station.pk})
    sighting.refresh_from_db()
    assert sighting.station == station and sighting.observed_at.isoformat() == "2024-03-01T08:30:00+00:00"
    page = client.get(reverse("sighting_edit", args=[sighting.pk])).content.decode()
    assert 'value="2024-03-01T14:30:00"' in page
