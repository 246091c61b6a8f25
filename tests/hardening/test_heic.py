"""HEIC/HEIF photos (the default of many phones) are accepted and stored like the other formats."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from pillow_heif import register_heif_opener

from catalog.imaging import image_validate
from catalog.models import Sighting, SightingImage

register_heif_opener()


def heic_bytes(color=(30, 160, 60), size=(96, 64), when: str | None = "2024:03:01 06:30:00") -> bytes:
    image = Image.new("RGB", size, color)
    for x in range(0, size[0], 5):
        image.putpixel((x, x % size[1]), (255, 255, 255))
    exif = Image.Exif()
    if when:
        exif.get_ifd(0x8769)[0x9003] = when
    buf = io.BytesIO()
    image.save(buf, "HEIF", quality=90, exif=exif.tobytes())
    return buf.getvalue()


def test_a_heic_photo_is_validated_and_its_exif_time_read():
    data = heic_bytes()
    assert data[4:12] in (b"ftypheic", b"ftypmif1", b"ftypheix")  # a real HEIF container
    image, info = image_validate(data)
    assert info.format == "HEIF" and (info.width, info.height) == (96, 64)
    assert image.mode == "RGB"
    assert info.exif_datetime is not None and info.exif_datetime.isoformat() == "2024-03-01T06:30:00"


@pytest.mark.django_db
def test_a_heic_upload_on_submit_is_kept_and_stored_as_jpeg(client, bob, org_a, media_root):
    client.force_login(bob)
    response = client.post("/submit/", {"organization": org_a.pk, "body_part": "unknown",
                                        "files": [SimpleUploadedFile("IMG_0001.HEIC", heic_bytes(), "image/heic")]})
    assert response.status_code == 302
    image = SightingImage.objects.get()
    assert image.file.name.endswith(".jpg") and image.original_filename == "IMG_0001.HEIC"
    with image.file.open("rb") as fh:
        assert Image.open(fh).format == "JPEG"
    assert Sighting.objects.get().observed_at.year == 2024
