"""A corpus of bad inputs, made here: each is refused with its message and status, and nothing of it
is left behind (no sighting, no image row, no file in media)."""

import io
import struct
import zipfile
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.imaging import image_validate
from catalog.models import ImportJob, Sighting, SightingImage
from tests.hardening.conftest import media_files
from tests.imports.conftest import exif_jpeg

pytestmark = pytest.mark.django_db


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 40)).save(buf, "PNG")
    return buf.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's shape)."""
    data = bytearray(_png(16, 16))
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _noise_jpeg(size=(200, 200)) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise(size, 80).convert("RGB").save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("P", (32, 32)).save(buf, "GIF")
    return buf.getvalue()


def _zip(members: dict[str, bytes], lie: int | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    data = bytearray(buf.getvalue())
    if lie is not None:  # both headers of the first member understate its size
        struct.pack_into("<I", data, data.find(b"PK\x03\x04") + 22, lie)
        struct.pack_into("<I", data, data.find(b"PK\x01\x02") + 24, lie)
    return bytes(data)


PHOTO_CORPUS = [
    ("empty.jpg", b"", "The file is empty."),
    ("notes.jpg", b"battery changed at 10:00", "not an image that can be read"),
    ("truncated.jpg", exif_jpeg((200, 10, 10))[:400], "damaged or incomplete"),
    ("tiny.png", _png(4, 4), "too small"),
    ("bomb.png", _png_claiming(9000, 9000), "too large to process"),
    ("anim.gif", _gif(), "Unsupported image format GIF"),
    ("big.jpg", _noise_jpeg(), "The file is too large"),  # over the 20 kB limit of these tests
]
SUBMIT_CORPUS = PHOTO_CORPUS + [
    ("cards.zip", _zip({"S1/a.jpg": b"\0" * 200_000}, lie=1000), "This file in the archive is damaged."),
    ("cards.zip", b"PK\x03\x04 this is not a zip", "Not a readable zip archive."),
    ("cards.zip", _zip({"S1/a.jpg": b"\0" * 300_000}), "File too large"),
]


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.UPLOAD_MAX_BYTES = 20_000
    settings.UPLOAD_ARCHIVE_MAX_BYTES = 2_000_000
    settings.IMPORT_MAX_BYTES = 50_000


def test_the_corpus_is_what_it_claims_to_be():
    assert len(_noise_jpeg()) > 20_000
    assert Image.open(io.BytesIO(_png_claiming(9000, 9000))).size == (9000, 9000)


@pytest.mark.parametrize("name, data, message", SUBMIT_CORPUS, ids=[f"{n}:{m[:20]}" for n, _d, m in SUBMIT_CORPUS])
def test_submit_refuses_each_bad_file_with_its_reason_and_stores_nothing(client, bob, org_a, media_root, name, data, message):
    client.force_login(bob)
    response = client.post("/submit/", {"organization": org_a.pk, "body_part": "unknown",
                                        "files": [SimpleUploadedFile(name, data)]})
    assert response.status_code == 200
    page = response.content.decode()
    assert "file-refused" in page and message in page.replace("&#x27;", "'")
    assert not Sighting.objects.exists() and not SightingImage.objects.exists()
    assert media_files(media_root) == []


def test_a_bad_file_next_to_a_good_one_is_refused_alone(client, bob, org_a, media_root):
    client.force_login(bob)
    response = client.post("/submit/", {"organization": org_a.pk, "body_part": "unknown", "files": [
        SimpleUploadedFile("good.jpg", exif_jpeg((200, 10, 10), "2024:01:02 10:00:00")),
        SimpleUploadedFile("bad.jpg", b"not a photo"),
    ]})
    assert response.status_code == 200
    assert Sighting.objects.count() == 1 and SightingImage.objects.count() == 1
    assert len([f for f in media_files(media_root) if f.startswith("images/")]) == 1


@pytest.mark.parametrize("name, data, message", PHOTO_CORPUS, ids=[f"{n}:{m[:20]}" for n, _d, m in PHOTO_CORPUS])
def test_the_api_image_upload_answers_400_with_the_reason_and_stores_nothing(world, api, alice, media_root, name, data, message):
    sighting = world["a"]["sighting"]
    before_files, before_rows = media_files(media_root), SightingImage.objects.count()
    response = api(alice).post(f"/api/sightings/{sighting.pk}/images/", {"file": SimpleUploadedFile(name, data)},
                               format="multipart")
    assert response.status_code == 400
    assert message.rstrip(".") in str(response.json()) or (name == "empty.jpg" and "empty" in str(response.json()))
    assert SightingImage.objects.count() == before_rows
    assert media_files(media_root) == before_files


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"PK" + b"\0" * 60_000, "too large"),  # over the 50 kB import limit of these tests
])
def test_the_import_upload_refuses_empty_or_oversized_packages_and_stores_nothing(api, bob, org_a, media_root, data, message):
    response = api(bob).post("/api/imports/", {"organization": org_a.pk, "kind": "camtrap_dp",
                                               "file": SimpleUploadedFile("package.zip", data)}, format="multipart")
    assert response.status_code == 400 and message in str(response.json())
    assert not ImportJob.objects.exists() and media_files(media_root) == []


def test_an_oversized_upload_arrives_without_its_bytes(client, bob, org_a, media_root, settings):
    """The upload handler stops at the limit: the view gets a size and no content, and refuses it."""
    from catalog.uploads import OversizedUpload

    seen = {}
    import catalog.views_submit as views_submit

    original = views_submit.submission_create

    def spy(**kwargs):
        seen["files"] = kwargs["files"]
        return original(**kwargs)

    views_submit.submission_create = spy
    try:
        client.force_login(bob)
        client.post("/submit/", {"organization": org_a.pk, "body_part": "unknown",
                                 "files": [SimpleUploadedFile("big.jpg", _noise_jpeg((400, 400)))]})
    finally:
        views_submit.submission_create = original
    (upload,) = seen["files"]
    assert isinstance(upload, OversizedUpload) and upload.size > settings.UPLOAD_MAX_BYTES
    assert upload.read() == b""
    with pytest.raises(Exception, match="too large"):
        image_validate(upload)


def test_an_import_package_may_be_bigger_than_a_photo_but_not_than_the_import_limit(api, bob, org_a, monkeypatch):
    from catalog.imports import jobs

    monkeypatch.setattr(jobs, "async_task", lambda *a, **kw: None)
    package = _zip({"datapackage.json": _noise_jpeg()})  # ~30 kB: over the photo limit, under the import limit
    assert 20_000 < len(package) < 50_000
    response = api(bob).post("/api/imports/", {"organization": org_a.pk, "kind": "camtrap_dp",
                                               "file": SimpleUploadedFile("package.zip", package)}, format="multipart")
    assert response.status_code == 202
    with ImportJob.objects.get().file.open("rb") as fh:
        assert fh.read() == package
