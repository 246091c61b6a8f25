"""Every URL of the project, walked from the resolver: a partner sees their organisation's
sightings and the shared catalog, and nothing of another organisation's sightings.

A new URL pattern without an entry in PAGES fails `test_every_url_pattern_is_in_the_matrix`,
so no page escapes the matrix. Org A's private data (a submitted sighting with exact
coordinates, its photo, run, candidate and decision) is planted once; alice (reviewer of A)
must reach it, charlie (org admin of B) must get 403/404 and must never see its markers.
"""

import io
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from PIL import Image

from catalog.models import BodyPart, CameraStation, ImportJob, ReviewDecision, SightingStatus
from catalog.services import image_add, sighting_create
from matching.models import FeatureSet, MatchCandidate, MatchRun, RunState
from tests.factories import IndividualFactory, LocationFactory

# Markers of org A's private data: none may appear in a page charlie gets.
SECRET_NOTE = "SECRET-NOTE-OF-ORG-A"
STATION_LAT, STATION_LON = 41.23456, 75.98765
SIGHTING_LAT, SIGHTING_LON = 41.34567, 76.12345

# Namespaces and pages with their own access rules, outside this matrix.
SKIPPED_NAMESPACES = {"admin"}  # staff only; tests/catalog/test_admin.py


@dataclass
class World:
    org_a: object
    location: object
    station: object
    sighting: object  # private: submitted, awaiting review
    image: object
    reference_sighting: object  # shared catalog: identified
    reference_image: object
    individual: object
    run: object
    candidate: object
    decision: object
    import_job: object

    def markers(self) -> list[str]:
        return [str(self.sighting.uuid), str(self.image.uuid), SECRET_NOTE, str(STATION_LAT), str(STATION_LON),
                str(SIGHTING_LAT), str(SIGHTING_LON)]


@dataclass
class Page:
    """How one URL name is checked.

    scope: "private" - takes an org-A-only object: alice gets `alice`, charlie 403/404, anyone else login;
           "shared"  - takes a shared catalog object: both get in, charlie sees no private marker;
           "list"    - no object: both get in, charlie sees no private marker;
           "public"  - reachable without login (login page, ...): no private marker for anyone;
           "skip"    - not checked (reason required).
    method: the HTTP method the page is checked with (POST pages are checked with an empty form).
    """

    scope: str
    kwargs: Callable[[World], dict | list[dict]] | None = None  # a list: every variant is checked
    method: str = "get"
    alice: tuple[int, ...] = (200,)
    charlie: tuple[int, ...] = (200,)
    reason: str = ""
    query: Callable[[World], dict] | None = None


PRIVATE_GET = (403, 404)
# POST endpoints: alice with an empty form gets a validation answer or a redirect, never 403/404.
POST_ALICE = (200, 201, 202, 204, 302, 400, 409)

SIGHTING = lambda w: {"pk": w.sighting.pk}  # noqa: E731
RUN = lambda w: {"pk": w.run.pk}  # noqa: E731
INDIVIDUAL = lambda w: {"pk": w.individual.pk}  # noqa: E731
EXPORTS = lambda w: [{"fmt": fmt} for fmt in EXPORT_FORMATS]  # noqa: E731
EXPORT_FORMATS = ("sightings.csv", "individuals.csv", "sightings.geojson", "camtrap-dp.zip", "secr.zip")


def MERGE(w):  # noqa: N802
    """A merge that moved a private sighting of org A (at its secret station) into the shared cat."""
    from catalog.merge import individual_merge
    from tests.factories import SightingFactory

    twin = IndividualFactory(code="SL-0043")
    SightingFactory(organization=w.org_a, station=w.station, individual=twin, status=SightingStatus.IDENTIFIED,
                    notes=SECRET_NOTE)
    return {"pk": individual_merge(source=twin, target=w.individual, user=w.decision.user).pk}


def NOTIFICATION(w):  # noqa: N802
    """alice's notification about org A's private sighting."""
    from notifications.services import notification_decision_made

    bob = w.sighting.submitted_by
    decision = ReviewDecision.objects.create(sighting=w.sighting, user=bob, action="unidentifiable",
                                             previous_status="awaiting_review", new_status="awaiting_review")
    return {"pk": notification_decision_made(decision=decision)[0].pk}


PERIOD = lambda w: {"location": w.location.pk, "start": "2023-01-01", "end": "2025-01-01"}  # noqa: E731

PAGES: dict[str, Page] = {
    # Site pages.
    "login": Page("public"),
    "logout": Page("skip", reason="POST-only sign-out; no data"),
    "set_language": Page("skip", reason="POST-only language switch; no data"),
    "javascript-catalog": Page("public"),
    "home": Page("list"),
    "image_file": Page("private", lambda w: {"uuid": w.image.uuid}, charlie=PRIVATE_GET),
    "image_thumb": Page("private", lambda w: {"uuid": w.image.uuid}, charlie=PRIVATE_GET),
    # Map, individuals, stations (issue 5).
    "map": Page("list"),
    "map_sightings_geojson": Page("list"),
    "map_stations_geojson": Page("list"),
    "individual_list": Page("list"),
    "individual_detail": Page("shared", INDIVIDUAL),
    "individual_track_geojson": Page("shared", INDIVIDUAL),
    "station_list": Page("list"),
    "sighting_detail": Page("private", SIGHTING, charlie=PRIVATE_GET),
    # Submission and identification journey (issue 4).
    "submit": Page("list"),
    "sighting_edit": Page("private", SIGHTING, charlie=PRIVATE_GET),
    "my_sightings": Page("list"),
    "run_start": Page("private", SIGHTING, method="post", alice=POST_ALICE, charlie=PRIVATE_GET),
    "boxes_suggest": Page("private", SIGHTING, alice=(200,), charlie=PRIVATE_GET),
    "image_box_save": Page("private", lambda w: {"pk": w.sighting.pk, "image_pk": w.image.pk}, method="post",
                           alice=POST_ALICE, charlie=PRIVATE_GET),
    "review_decide": Page("private", SIGHTING, method="post", alice=POST_ALICE, charlie=PRIVATE_GET),
    "run_detail": Page("private", RUN, charlie=PRIVATE_GET),
    "run_status": Page("private", RUN, charlie=PRIVATE_GET),
    "run_retry": Page("private", RUN, method="post", alice=POST_ALICE, charlie=PRIVATE_GET),
    "candidate_overlay": Page("private", lambda w: {"pk": w.candidate.pk}, charlie=PRIVATE_GET),
    "review_queue": Page("list"),
    # Merging individuals (issue 14): the merge is catalog history; moved private sightings stay private.
    "individual_merge": Page("shared", INDIVIDUAL),
    "merge_detail": Page("shared", MERGE),
    "merge_undo": Page("shared", MERGE, method="post", alice=POST_ALICE, charlie=(403,)),
    # Notifications (issue 14): each user's own.
    "notification_list": Page("list"),
    "notification_open": Page("private", NOTIFICATION, method="post", alice=POST_ALICE, charlie=PRIVATE_GET),
    "notification_read_all": Page("list", method="post", alice=POST_ALICE, charlie=(302,)),
    "notification_settings": Page("list", method="post", alice=POST_ALICE, charlie=(302,)),
    # API (issue 6).
    "api-root": Page("list"),
    "api-token": Page("skip", reason="POST username/password for a token; tested in tests/api"),
    "api-schema": Page("public"),  # the OpenAPI description; no data
    "api-docs": Page("public"),  # the Swagger UI shell; the schema it loads needs a login
    "api-redoc": Page("public"),
    "api-organization-list": Page("list"),
    "api-organization-detail": Page("private", lambda w: {"pk": w.org_a.pk}, charlie=PRIVATE_GET),
    "api-location-list": Page("list"),
    "api-location-detail": Page("shared", lambda w: {"pk": w.location.pk}),
    "api-station-list": Page("list"),
    "api-station-detail": Page("shared", lambda w: {"pk": w.station.pk}),
    "api-individual-list": Page("list"),
    "api-individual-detail": Page("shared", INDIVIDUAL),
    "api-sighting-list": Page("list"),
    "api-sighting-detail": Page("private", SIGHTING, charlie=PRIVATE_GET),
    "api-sighting-identify": Page("private", SIGHTING, method="post", alice=POST_ALICE, charlie=PRIVATE_GET),
    "api-sighting-images": Page("private", SIGHTING, charlie=PRIVATE_GET),
    "api-sighting-review": Page("private", SIGHTING, method="post", alice=POST_ALICE, charlie=PRIVATE_GET),
    "api-sighting-runs": Page("private", SIGHTING, charlie=PRIVATE_GET),
    "api-image-list": Page("list"),
    "api-image-detail": Page("private", lambda w: {"pk": w.image.pk}, charlie=PRIVATE_GET),
    "api-image-file": Page("private", lambda w: {"pk": w.image.pk}, charlie=PRIVATE_GET),
    "api-image-box": Page("private", lambda w: {"pk": w.image.pk}, method="post", alice=POST_ALICE, charlie=PRIVATE_GET),
    "api-run-list": Page("list"),
    "api-run-detail": Page("private", RUN, charlie=PRIVATE_GET),
    "api-run-candidates": Page("private", RUN, charlie=PRIVATE_GET),
    "api-decision-list": Page("list"),
    "api-decision-detail": Page("private", lambda w: {"pk": w.decision.pk}, charlie=PRIVATE_GET),
    "api-merge-list": Page("list"),
    "api-merge-detail": Page("shared", MERGE),
    "api-merge-undo": Page("shared", MERGE, method="post", alice=POST_ALICE, charlie=(403,)),
    "api-import-list": Page("list"),
    "api-import-detail": Page("private", lambda w: {"pk": w.import_job.pk}, charlie=PRIVATE_GET),
    "api-export": Page("list", EXPORTS, query=PERIOD),
    "api-population": Page("list", query=PERIOD),
    # Science pages (issue 6).
    "exports": Page("list"),
    "export_download": Page("list", EXPORTS, query=PERIOD),
    "population": Page("list", query=PERIOD),
    "imports": Page("list"),
    "import_detail": Page("private", lambda w: {"pk": w.import_job.pk}, charlie=PRIVATE_GET),
    "import_report_csv": Page("private", lambda w: {"pk": w.import_job.pk}, charlie=PRIVATE_GET),
    # Study areas and stations set up by org admins, withdrawal (issue 14). The world's study area
    # is shared (no owner): both read it, only org admins (charlie) may add a station to it.
    "setup_home": Page("list"),
    "setup_location_new": Page("list", alice=(403,), charlie=(200,)),
    "setup_location": Page("shared", lambda w: {"pk": w.location.pk}),
    "setup_station_new": Page("shared", lambda w: {"pk": w.location.pk}, alice=(403,), charlie=(200,)),
    "setup_station": Page("private", lambda w: {"pk": w.station.pk}, charlie=PRIVATE_GET),
    "sighting_withdraw": Page("private", SIGHTING, method="post", alice=POST_ALICE, charlie=PRIVATE_GET),
    "api-sighting-withdraw": Page("private", SIGHTING, method="post", alice=POST_ALICE, charlie=PRIVATE_GET),
}


def _patterns(patterns=None, prefix="", namespace=None):
    """(namespace, name, route) of every URL pattern, recursively."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace)
        elif isinstance(entry, URLPattern):
            yield namespace, entry.name, prefix + str(entry.pattern)


def _named_pages() -> dict[str, str]:
    pages = {}
    for namespace, name, route in _patterns():
        if namespace in SKIPPED_NAMESPACES:
            continue
        pages.setdefault(name or f"<unnamed {route}>", route)
    return pages


def test_every_url_pattern_is_in_the_matrix():
    missing = {name: route for name, route in _named_pages().items() if name not in PAGES}
    assert not missing, (
        "URL patterns without an entry in tests/catalog/test_permissions_matrix.py PAGES "
        f"(add one saying who may see them): {missing}"
    )


def test_matrix_has_no_stale_entries():
    stale = set(PAGES) - set(_named_pages())
    assert not stale, f"PAGES lists URL names that no longer exist: {sorted(stale)}"


def _jpeg(seed: int) -> SimpleUploadedFile:
    pixels = np.random.default_rng(seed).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG")
    return SimpleUploadedFile(f"cam{seed}.jpg", buf.getvalue())


@pytest.fixture
def world(org_a, alice, bob, charlie):
    location = LocationFactory(name="Sarychat", time_zone="Asia/Bishkek")
    station = CameraStation.objects.create(location=location, organization=org_a, code="SECRET-ST",
                                           latitude=STATION_LAT, longitude=STATION_LON)
    sighting = sighting_create(organization=org_a, submitted_by=bob, observed_at=datetime(2024, 3, 1, 5, tzinfo=timezone.utc),
                               location=location, latitude=SIGHTING_LAT, longitude=SIGHTING_LON, notes=SECRET_NOTE)
    image = image_add(sighting=sighting, file=_jpeg(1), body_part=BodyPart.LEFT_FLANK, added_by=bob)
    sighting.status = SightingStatus.AWAITING_REVIEW
    sighting.save()
    individual = IndividualFactory(code="SL-0042", name="Shared cat")
    reference = sighting_create(organization=org_a, submitted_by=alice, observed_at=datetime(2023, 9, 1, tzinfo=timezone.utc),
                                station=station)
    reference_image = image_add(sighting=reference, file=_jpeg(2), body_part=BodyPart.LEFT_FLANK, added_by=alice)
    reference.status, reference.individual = SightingStatus.IDENTIFIED, individual
    reference.save()
    run = MatchRun.objects.create(sighting=sighting, extractor="sift", state=RunState.DONE, progress_done=1,
                                  progress_total=1, requested_by=bob, top_score=0.9)
    candidate = MatchCandidate.objects.create(run=run, individual=individual, rank=1, score=0.9, confidence="good",
                                              num_inliers=25, body_parts=["left_flank"], query_image=image,
                                              reference_image=reference_image, matches=[[10, 10, 12, 11], [50, 40, 52, 41]])
    decision = ReviewDecision.objects.create(sighting=sighting, user=alice, action="unidentifiable",
                                             previous_status=SightingStatus.AWAITING_REVIEW,
                                             new_status=SightingStatus.AWAITING_REVIEW, note=SECRET_NOTE)
    import_job = ImportJob.objects.create(organization=org_a, started_by=alice, kind="zip", report=[
        {"file": SECRET_NOTE + ".jpg", "outcome": "imported", "sighting": str(sighting.uuid)}])
    assert not FeatureSet.objects.exists()
    return World(org_a, location, station, sighting, image, reference, reference_image, individual, run, candidate, decision,
                 import_job)


def _body(response) -> str:
    """Text of a response; the members of a zip (exports) are read out, so leaks in them count."""
    data = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            data = b"\n".join(archive.read(member) for member in archive.namelist())
    return data.decode("utf-8", "replace")


def _request(client, page: Page, url: str, query: dict):
    call = getattr(client, page.method)
    return call(url, query) if page.method == "get" else call(url, {})


def _checked_pages():
    return [(name, page) for name, page in sorted(PAGES.items()) if page.scope != "skip"]


@pytest.mark.django_db
@pytest.mark.parametrize("name,page", _checked_pages(), ids=[n for n, _ in _checked_pages()])
def test_page_is_scoped_to_the_users_organisations(client, world, alice, charlie, name, page):
    # Work a page enqueues goes to the test database's ORM queue; no worker runs it.
    variants = page.kwargs(world) if page.kwargs else None
    for kwargs in variants if isinstance(variants, list) else [variants]:
        _check(client, world, alice, charlie, name, page, reverse(name, kwargs=kwargs), page.query(world) if page.query else {})


def _check(client, world, alice, charlie, name, page, url, query):
    client.force_login(charlie)
    response = _request(client, page, url, query)
    assert response.status_code in page.charlie, f"charlie got {response.status_code} for {name} {url}"
    leaked = [m for m in world.markers() if m in _body(response)]
    assert not leaked, f"{name} {url} shows charlie org A's private data: {leaked}"

    client.logout()
    response = _request(client, page, url, query)
    if page.scope == "public":
        assert response.status_code == 200
        assert not [m for m in world.markers() if m in _body(response)]
    else:
        assert response.status_code in (302, 401, 403, 404, 405), f"anonymous got {response.status_code} for {name}"
        if response.status_code == 302:
            assert "/accounts/login/" in response["Location"]

    client.force_login(alice)
    response = _request(client, page, url, query)
    assert response.status_code in page.alice, f"alice got {response.status_code} for {name} {url}"


@pytest.mark.django_db
def test_charlie_sees_the_shared_reference_photo_but_not_the_private_one(client, world, charlie):
    client.force_login(charlie)
    assert client.get(reverse("image_thumb", args=[world.reference_image.uuid])).status_code == 200
    assert client.get(reverse("image_thumb", args=[world.image.uuid])).status_code == 404
