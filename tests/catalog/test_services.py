import io
import threading
from datetime import datetime, timezone

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from PIL import ExifTags, Image

from catalog.models import BodyPart, BoxSource, Sighting, SightingImage, SightingStatus
from catalog.services import image_add, sighting_create
from tests.concurrency import run_at_once, skip_without_shared_database
from tests.factories import CameraStationFactory, LocationFactory


def _photo(seed: int = 0, size=(120, 80), exif: Image.Exif | None = None, name="IMG_0001.JPG") -> SimpleUploadedFile:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90, **({"exif": exif.tobytes()} if exif else {}))
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/jpeg")


def _stored_files(media_root):
    return sorted(p for p in (media_root / "images").rglob("*") if p.is_file()) if (media_root / "images").exists() else []


@pytest.fixture
def sighting(org_a, alice):
    location = LocationFactory(time_zone="Asia/Bishkek")
    return sighting_create(organization=org_a, submitted_by=alice, observed_at=datetime(2024, 5, 1, 12, 0), location=location)


@pytest.mark.django_db
def test_sighting_create_reads_naive_time_in_the_location_zone(org_a, alice):
    location = LocationFactory(time_zone="Asia/Bishkek")
    sighting = sighting_create(organization=org_a, submitted_by=alice, observed_at=datetime(2024, 5, 1, 12, 0), location=location)
    assert sighting.status == SightingStatus.SUBMITTED
    assert sighting.observed_at == datetime(2024, 5, 1, 6, 0, tzinfo=timezone.utc)


@pytest.mark.django_db
def test_sighting_create_takes_the_location_from_the_station(org_a, alice):
    station = CameraStationFactory()
    sighting = sighting_create(organization=org_a, submitted_by=alice, observed_at=datetime(2024, 5, 1, tzinfo=timezone.utc),
                               station=station)
    assert sighting.location == station.location


@pytest.mark.django_db
def test_sighting_create_refuses_a_station_of_another_location(org_a, alice):
    station = CameraStationFactory()
    other = LocationFactory(name="Elsewhere")
    with pytest.raises(ValidationError) as exc:
        sighting_create(organization=org_a, submitted_by=alice, observed_at=datetime(2024, 5, 1, tzinfo=timezone.utc),
                        station=station, location=other)
    assert "station" in exc.value.message_dict
    assert not Sighting.objects.exists()


@pytest.mark.django_db
def test_sighting_create_refuses_half_a_coordinate(org_a, alice):
    with pytest.raises(ValidationError):
        sighting_create(organization=org_a, submitted_by=alice, observed_at=datetime(2024, 5, 1, tzinfo=timezone.utc),
                        latitude=41.0)


@pytest.mark.django_db
def test_image_add_stores_a_normalised_file_under_a_server_name(sighting, alice, media_root):
    image = image_add(sighting=sighting, file=_photo(), body_part=BodyPart.LEFT_FLANK, added_by=alice)
    assert image.file.name.startswith(f"images/{sighting.uuid}/") and "IMG_0001" not in image.file.name
    assert image.original_filename == "IMG_0001.JPG"
    assert (image.width, image.height) == (120, 80)
    assert len(image.sha256) == 64
    assert _stored_files(media_root) == [media_root / image.file.name]


@pytest.mark.django_db
def test_image_add_keeps_exif_time_in_location_zone_and_strips_exif(sighting, alice):
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2024:05:01 12:30:00"
    exif[ExifTags.Base.Orientation] = 8
    image = image_add(sighting=sighting, file=_photo(exif=exif), body_part=BodyPart.HEAD, added_by=alice)
    assert image.exif_datetime == datetime(2024, 5, 1, 6, 30, tzinfo=timezone.utc)  # Bishkek is UTC+6
    assert (image.width, image.height) == (80, 120)
    with image.file.open("rb") as fh:
        assert not Image.open(fh).getexif()


@pytest.mark.django_db
def test_image_add_refuses_a_duplicate_within_the_organisation(sighting, alice, org_a, media_root):
    image_add(sighting=sighting, file=_photo(seed=1), body_part=BodyPart.LEFT_FLANK, added_by=alice)
    other = sighting_create(organization=org_a, submitted_by=alice, observed_at=datetime(2024, 6, 1, tzinfo=timezone.utc))
    with pytest.raises(ValidationError) as exc:
        image_add(sighting=other, file=_photo(seed=1, name="copy.jpg"), body_part=BodyPart.LEFT_FLANK, added_by=alice)
    assert exc.value.error_list[0].code == "duplicate"
    assert SightingImage.objects.count() == 1
    assert len(_stored_files(media_root)) == 1


@pytest.mark.django_db
def test_charlie_may_upload_the_same_photo_in_his_own_organisation(sighting, alice, charlie, org_b):
    image_add(sighting=sighting, file=_photo(seed=2), body_part=BodyPart.LEFT_FLANK, added_by=alice)
    theirs = sighting_create(organization=org_b, submitted_by=charlie, observed_at=datetime(2024, 6, 1, tzinfo=timezone.utc))
    image_add(sighting=theirs, file=_photo(seed=2), body_part=BodyPart.LEFT_FLANK, added_by=charlie)
    assert SightingImage.objects.count() == 2


@pytest.mark.django_db
def test_image_add_refuses_a_non_image_and_stores_nothing(sighting, alice, media_root):
    with pytest.raises(ValidationError) as exc:
        image_add(sighting=sighting, file=SimpleUploadedFile("x.jpg", b"%PDF-1.4 nope"), body_part=BodyPart.HEAD, added_by=alice)
    assert "not an image" in str(exc.value)
    assert not SightingImage.objects.exists()
    assert _stored_files(media_root) == []


@pytest.mark.django_db
def test_image_add_removes_the_file_when_the_db_write_fails(sighting, alice, media_root, monkeypatch):
    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(SightingImage, "save", broken_save)
    with pytest.raises(RuntimeError):
        image_add(sighting=sighting, file=_photo(seed=3), body_part=BodyPart.HEAD, added_by=alice)
    assert _stored_files(media_root) == []


@pytest.mark.django_db
def test_image_add_file_is_removed_when_the_callers_transaction_rolls_back(sighting, alice, media_root):
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            image_add(sighting=sighting, file=_photo(seed=4), body_part=BodyPart.HEAD, added_by=alice)
            assert len(_stored_files(media_root)) == 1
            1 / 0
    assert not SightingImage.objects.exists()
    assert _stored_files(media_root) == []


@pytest.mark.django_db(transaction=True)
def test_image_add_file_stays_after_commit(org_a, alice, media_root):
    sighting = sighting_create(organization=org_a, submitted_by=alice, observed_at=datetime(2024, 5, 1, tzinfo=timezone.utc))
    with transaction.atomic():
        image = image_add(sighting=sighting, file=_photo(seed=5), body_part=BodyPart.HEAD, added_by=alice)
    import gc

    gc.collect()
    assert _stored_files(media_root) == [media_root / image.file.name]


@pytest.mark.django_db
def test_image_add_clips_the_box_and_marks_it_as_user_drawn(sighting, alice):
    image = image_add(sighting=sighting, file=_photo(seed=6), body_part=BodyPart.LEFT_FLANK, added_by=alice,
                      box=(-3, 10, 100, 200))
    assert image.box == (0, 10, 97, 70)
    assert image.box_source == BoxSource.USER


@pytest.mark.django_db
def test_image_add_refuses_a_box_outside_the_image(sighting, alice, media_root):
    with pytest.raises(ValidationError):
        image_add(sighting=sighting, file=_photo(seed=7), body_part=BodyPart.LEFT_FLANK, added_by=alice,
                  box={"x": 500, "y": 500, "w": 10, "h": 10})
    assert _stored_files(media_root) == []


@pytest.mark.django_db
def test_image_add_refuses_an_unknown_body_part(sighting, alice):
    with pytest.raises(ValidationError):
        image_add(sighting=sighting, file=_photo(seed=8), body_part="wing", added_by=alice)


@pytest.mark.django_db
def test_images_delete_removes_files_only_after_commit(sighting, alice, media_root, django_capture_on_commit_callbacks):
    from catalog.services import images_delete

    image = image_add(sighting=sighting, file=_photo(seed=9), body_part=BodyPart.HEAD, added_by=alice)
    pk = image.pk
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            images_delete(images=[image])
            1 / 0
    assert SightingImage.objects.filter(pk=pk).exists()
    assert len(_stored_files(media_root)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert images_delete(images=SightingImage.objects.filter(pk=pk)) == 1
    assert not SightingImage.objects.exists()
    assert _stored_files(media_root) == []


@pytest.mark.django_db
def test_deleting_a_sighting_in_the_admin_removes_its_photo_files(client, staff, sighting, alice, media_root,
                                                                 django_capture_on_commit_callbacks):
    from django.urls import reverse

    image_add(sighting=sighting, file=_photo(seed=10), body_part=BodyPart.HEAD, added_by=alice)
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:catalog_sighting_delete", args=[sighting.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Sighting.objects.filter(pk=sighting.pk).exists()
    assert _stored_files(media_root) == []


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_uploads_of_one_photo_store_it_once(org_a, alice, media_root, monkeypatch):
    skip_without_shared_database()
    sightings = [
        sighting_create(organization=org_a, submitted_by=alice, observed_at=datetime(2024, 6, d, tzinfo=timezone.utc))
        for d in (1, 2)
    ]
    # Both uploads wait here, after their duplicate check, for the other to get there too: without a
    # lock both pass the check. With one, the second waits for the first to commit, and the first
    # stops waiting after a second.
    meeting = threading.Barrier(2, timeout=1.0)
    full_clean = SightingImage.full_clean

    def meet_then_clean(self, *args, **kwargs):
        try:
            meeting.wait()
        except threading.BrokenBarrierError:
            pass
        return full_clean(self, *args, **kwargs)

    monkeypatch.setattr(SightingImage, "full_clean", meet_then_clean)
    outcomes = []

    def upload(sighting):
        try:
            image_add(sighting=sighting, file=_photo(seed=5), body_part=BodyPart.LEFT_FLANK, added_by=alice)
            outcomes.append("stored")
        except ValidationError as exc:
            outcomes.append(exc.error_list[0].code)

    run_at_once(upload, sightings)
    assert sorted(outcomes) == ["duplicate", "stored"]
    assert SightingImage.objects.count() == 1
    assert len(_stored_files(media_root)) == 1
