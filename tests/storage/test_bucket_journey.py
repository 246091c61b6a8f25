"""Upload, identify, review, export and delete with every file in a real S3 bucket and none on disk.

The engine is the real one with SIFT (OpenCV, no weights to fetch), so feature files are written to
and read back from the bucket as a worker on another machine would.
"""

import io
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.imports.jobs import import_job_start
from catalog.models import ImportJob, ImportState, Sighting, SightingImage, SightingStatus
from catalog.review import review_state_token
from catalog.services import images_delete
from matching import runs, services, tasks
from matching.models import FeatureSet, MatchRun, RunState
from tests.factories import CameraStationFactory, IndividualFactory, LocationFactory, SightingFactory, SightingImageFactory
from tests.imports.conftest import exif_jpeg
from tests.matching.ranking_images import distorted_copy, jpeg, rosette_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def engine(settings):
    """The real engine with SIFT on the CPU, with a cold per-process index and feature cache."""
    settings.MATCHING_DEFAULT_EXTRACTOR = "sift"
    settings.MATCHING_DEVICE = "cpu"
    settings.DETECTOR_ENABLED = False
    services._INDEXES.clear()
    services._FEATURES.data.clear()
    yield
    services._INDEXES.clear()
    services._FEATURES.data.clear()


def _prefixes(keys: list[str]) -> set[str]:
    return {key.split("/", 1)[0] for key in keys}


def test_upload_identify_review_export_keep_every_file_in_the_bucket_and_delete_removes_them(
    client, s3_server, s3_media, engine, org_a, alice, bob, charlie, django_capture_on_commit_callbacks,
):
    bucket = s3_media
    cats = [IndividualFactory(), IndividualFactory()]
    for i, cat in enumerate(cats):
        reference = SightingFactory(organization=org_a, individual=cat, status=SightingStatus.IDENTIFIED)
        SightingImageFactory(sighting=reference, file=ContentFile(jpeg(rosette_image(700 + i)), name="ref.jpg"))
    assert _prefixes(s3_server.keys(bucket)) == {"images"}

    client.force_login(bob)
    photo = jpeg(distorted_copy(rosette_image(701)))
    response = client.post(reverse("submit"), {
        "organization": org_a.pk, "body_part": "left_flank",
        "files": [SimpleUploadedFile("trigger.jpg", photo, content_type="image/jpeg")],
    })
    assert response.status_code == 302
    sighting = Sighting.objects.exclude(individual__isnull=False).get()
    query = sighting.images.get()
    assert query.file.name in s3_server.keys(bucket)

    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    tasks.identify(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.DONE
    top = run.candidates.order_by("rank").first()
    assert top.individual == cats[1] and top.num_inliers > 0
    keys = s3_server.keys(bucket)
    assert {fs.file.name for fs in FeatureSet.objects.all()} <= set(keys) and FeatureSet.objects.count() == 3

    # The photo, a thumbnail and an overlay come through the scoped views, from the bucket.
    served = client.get(reverse("image_file", args=[query.uuid]))
    assert served.status_code == 200 and type(served).__name__ == "StreamingHttpResponse"
    assert b"".join(served.streaming_content) == query.file.open("rb").read()
    assert served["Content-Length"] == str(query.file.size)
    assert client.get(reverse("image_thumb", args=[query.uuid]), {"size": 160}).status_code == 200
    overlay = client.get(reverse("candidate_overlay", args=[top.pk]))
    assert overlay.status_code == 200 and overlay.content.startswith(b"\x89PNG")
    assert _prefixes(s3_server.keys(bucket)) == {"images", "features", "thumbs", "overlays"}
    client.force_login(charlie)
    assert client.get(reverse("image_file", args=[query.uuid])).status_code == 404

    client.force_login(alice)
    sighting.refresh_from_db()
    decided = client.post(reverse("review_decide", args=[sighting.pk]), {
        "action": "confirm", "individual": cats[1].pk, "expected": review_state_token(sighting), "confirmed": "yes",
    })
    assert decided.status_code == 302
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.IDENTIFIED and sighting.individual == cats[1]

    # A place for the Camtrap DP deployment (the photos page sets one; this test skips that page).
    Sighting.objects.filter(pk=sighting.pk).update(station=CameraStationFactory(organization=org_a))
    export = client.get(reverse("api-export", args=["camtrap-dp.zip"]), {"media": "1"})
    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(export.content)) as zf:
        assert zf.read(f"media/{query.uuid}.jpg") == query.file.open("rb").read()

    own = [query.file.name, *(fs.file.name for fs in query.feature_sets.all())]
    with django_capture_on_commit_callbacks(execute=True):
        images_delete(images=[query])
    left = s3_server.keys(bucket)
    assert not set(own) & set(left)
    assert not [k for k in left if k.startswith(("thumbs/", "overlays/")) or str(query.uuid) in k]
    assert len([k for k in left if k.startswith("images/")]) == 2  # the references stay


def test_signed_url_mode_redirects_the_scoped_view_to_a_short_lived_url(client, s3_server, s3_media, settings, org_a, bob, charlie):
    import urllib.request

    settings.S3_SIGNED_URL_SECONDS = 30
    image = SightingImageFactory(sighting=SightingFactory(organization=org_a),
                                 file=ContentFile(jpeg(rosette_image(5)), name="a.jpg"))
    client.force_login(bob)
    response = client.get(reverse("image_file", args=[image.uuid]))
    assert response.status_code == 302 and "X-Amz-Expires=30" in response.url and "X-Amz-Signature" in response.url
    assert response["Cache-Control"] == "private, max-age=25"
    with urllib.request.urlopen(response.url, timeout=10) as signed:
        assert signed.read() == image.file.open("rb").read()
    client.force_login(charlie)
    assert client.get(reverse("image_file", args=[image.uuid])).status_code == 404


def test_a_photo_missing_from_the_bucket_is_a_404_not_an_error(client, s3_media, org_a, bob):
    image = SightingImageFactory(sighting=SightingFactory(organization=org_a),
                                 file=ContentFile(jpeg(rosette_image(6)), name="a.jpg"))
    default_storage.delete(image.file.name)
    client.force_login(bob)
    assert client.get(reverse("image_file", args=[image.uuid])).status_code == 404
    assert client.get(reverse("image_thumb", args=[image.uuid])).status_code == 404


def test_an_import_upload_is_read_from_the_bucket_and_removed_once_imported(
    s3_server, s3_media, org_a, bob, q_sync, django_capture_on_commit_callbacks,
):
    area = LocationFactory(name="Sarychat", time_zone="Asia/Bishkek")
    CameraStationFactory(location=area, organization=org_a, code="S1", latitude=41.9, longitude=78.3)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("S1/a.jpg", exif_jpeg((200, 10, 10), "2024:01:02 10:00:00"))
        zf.writestr("S1/b.jpg", exif_jpeg((10, 200, 10), "2024:01:02 10:05:00"))
    upload = SimpleUploadedFile("survey.zip", buf.getvalue(), content_type="application/zip")
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_start(organization=org_a, started_by=bob, kind="zip", file=upload, location=area)
    job = ImportJob.objects.get(pk=job.pk)
    assert job.state == ImportState.DONE and not job.file
    keys = s3_server.keys(bucket=s3_media)
    assert not [k for k in keys if k.startswith("imports/")]
    assert sorted(k for k in keys if k.startswith("images/")) == sorted(SightingImage.objects.values_list("file", flat=True))
    assert SightingImage.objects.count() == 2
    assert MatchRun.objects.count() == 0
