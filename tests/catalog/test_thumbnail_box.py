"""Thumbnails show the box (with a margin), not the whole frame where the cat is tiny."""

import io

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from catalog.imaging import thumbnail_crop, thumbnail_name
from catalog.models import BoxSource
from catalog.submission import image_annotate
from tests.factories import SightingFactory, SightingImageFactory

pytestmark = pytest.mark.django_db


def frame() -> bytes:
    """400 x 200 px of blue with a red 'animal' at x 300-340, y 120-140."""
    image = Image.new("RGB", (400, 200), (20, 40, 200))
    image.paste((220, 20, 20), (300, 120, 340, 140))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


@pytest.fixture
def image(org_a):
    return SightingImageFactory(sighting=SightingFactory(organization=org_a), file=ContentFile(frame(), name="f.jpg"))


def thumb(client, image) -> tuple[Image.Image, str]:
    response = client.get(reverse("image_thumb", args=[image.uuid]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return Image.open(io.BytesIO(body)).convert("RGB"), response["ETag"]


def red_share(picture: Image.Image) -> float:
    pixels = np.asarray(picture).reshape(-1, 3).astype(int)
    return float(((pixels[:, 0] > 150) & (pixels[:, 2] < 100)).mean())


def test_the_crop_is_the_box_with_a_margin_inside_the_image():
    assert thumbnail_crop((300, 120, 40, 20), 400, 200) == (294, 117, 346, 143)
    assert thumbnail_crop((0, 0, 400, 200), 400, 200) == (0, 0, 400, 200)  # the margin stays inside
    assert thumbnail_crop((500, 500, 40, 20), 400, 200) == (0, 0, 400, 200)  # a stale box: the whole frame


def test_a_thumbnail_without_a_box_shows_the_whole_frame(client, alice, image):
    client.force_login(alice)
    picture, _ = thumb(client, image)
    assert picture.size == (320, 160) and red_share(picture) < 0.05


def test_a_thumbnail_with_a_suggested_box_shows_the_box_region(client, alice, image):
    image.box_x, image.box_y, image.box_w, image.box_h, image.box_source = 300, 120, 40, 20, BoxSource.DETECTOR
    image.save()
    client.force_login(alice)
    picture, _ = thumb(client, image)
    assert picture.size == (52, 26)  # the box and 15 % each side; never enlarged
    assert red_share(picture) > 0.4
    assert default_storage.exists(thumbnail_name(image, 320))


def test_a_new_box_gives_a_new_thumbnail_and_the_old_one_goes(client, alice, bob, image, django_capture_on_commit_callbacks):
    client.force_login(alice)
    whole, whole_etag = thumb(client, image)
    old_name = thumbnail_name(image, 320)
    assert default_storage.exists(old_name)
    with django_capture_on_commit_callbacks(execute=True):
        image_annotate(image=image, user=bob, body_part="left_flank", box=(300, 120, 40, 20), box_source=BoxSource.USER)
    image.refresh_from_db()
    assert thumbnail_name(image, 320) != old_name and not default_storage.exists(old_name)
    boxed, boxed_etag = thumb(client, image)
    assert boxed.size == (52, 26) and boxed_etag != whole_etag
    # The browser revalidates, so the same URL shows the new box at once.
    response = client.get(reverse("image_thumb", args=[image.uuid]), HTTP_IF_NONE_MATCH=whole_etag)
    assert response.status_code == 200 and "no-cache" in response["Cache-Control"]


def test_the_boxed_thumbnail_stays_scoped_to_the_organisation(client, charlie, image):
    image.box_x, image.box_y, image.box_w, image.box_h, image.box_source = 300, 120, 40, 20, BoxSource.USER
    image.save()
    client.force_login(charlie)
    assert client.get(reverse("image_thumb", args=[image.uuid])).status_code == 404
