import io
from datetime import datetime, timezone

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from catalog.models import BodyPart, SightingStatus
from catalog.services import image_add, sighting_create
from tests.factories import IndividualFactory


def _upload(seed=0, size=(800, 600)):
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG")
    return SimpleUploadedFile("cam.jpg", buf.getvalue())


@pytest.fixture
def image_of_a(org_a, alice):
    sighting = sighting_create(organization=org_a, submitted_by=alice, observed_at=datetime(2024, 5, 1, tzinfo=timezone.utc))
    return image_add(sighting=sighting, file=_upload(), body_part=BodyPart.LEFT_FLANK, added_by=alice)


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.django_db
def test_member_gets_the_image_file(client, alice, image_of_a):
    client.force_login(alice)
    response = client.get(reverse("image_file", args=[image_of_a.uuid]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "private" in response["Cache-Control"]
    assert Image.open(io.BytesIO(_body(response))).size == (800, 600)


@pytest.mark.django_db
def test_charlie_gets_404_for_another_organisations_image(client, charlie, image_of_a):
    client.force_login(charlie)
    assert client.get(reverse("image_file", args=[image_of_a.uuid])).status_code == 404
    assert client.get(reverse("image_thumb", args=[image_of_a.uuid])).status_code == 404


@pytest.mark.django_db
def test_charlie_sees_the_image_once_it_is_a_catalog_reference(client, charlie, image_of_a):
    sighting = image_of_a.sighting
    sighting.individual = IndividualFactory()
    sighting.status = SightingStatus.IDENTIFIED
    sighting.save()
    client.force_login(charlie)
    assert client.get(reverse("image_thumb", args=[image_of_a.uuid])).status_code == 200


@pytest.mark.django_db
def test_anonymous_user_is_sent_to_login(client, image_of_a):
    response = client.get(reverse("image_file", args=[image_of_a.uuid]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_thumbnail_is_made_once_and_cached(client, alice, image_of_a, media_root):
    client.force_login(alice)
    url = reverse("image_thumb", args=[image_of_a.uuid])
    first = client.get(url)
    assert first.status_code == 200
    assert Image.open(io.BytesIO(_body(first))).size == (320, 240)
    cached = list((media_root / "thumbs" / "320").iterdir())
    assert len(cached) == 1
    second = client.get(url)
    assert _body(second) == _body(first)
    assert list((media_root / "thumbs" / "320").iterdir()) == cached
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


@pytest.mark.django_db
def test_thumbnail_refuses_arbitrary_sizes(client, alice, image_of_a):
    client.force_login(alice)
    url = reverse("image_thumb", args=[image_of_a.uuid])
    assert client.get(url + "?size=640").status_code == 200
    assert client.get(url + "?size=641").status_code == 404
    assert client.get(url + "?size=abc").status_code == 404


@pytest.mark.django_db
def test_media_is_not_served_publicly(client, alice, image_of_a):
    client.force_login(alice)
    assert client.get("/media/" + image_of_a.file.name).status_code == 404


@pytest.mark.django_db
def test_home_dashboard_counts_only_the_users_organisations(client, alice, charlie, image_of_a, org_b):
    sighting_create(organization=org_b, submitted_by=charlie, observed_at=datetime(2024, 5, 2, tzinfo=timezone.utc))
    client.force_login(alice)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert response.context["counts"]["total"] == 1
    assert [s.pk for s in response.context["recent"]] == [image_of_a.sighting_id]
    assert "Panthera" not in response.content.decode()
    client.force_login(charlie)
    response = client.get(reverse("home"))
    assert response.context["counts"]["total"] == 1
    assert str(image_of_a.uuid) not in response.content.decode()


@pytest.mark.django_db
def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200 and b"csrfmiddlewaretoken" in response.content


@pytest.mark.django_db
def test_demo_banner_shows_whenever_demo_data_is_loaded(client, alice, settings):
    from catalog.models import Organization

    settings.DEMO_MODE = False
    client.force_login(alice)
    assert b"demo-banner" not in client.get(reverse("home")).content
    Organization.objects.create(name="Demo org", slug="demo-x", is_demo=True)
    assert b"demo-banner" in client.get(reverse("home")).content


@pytest.mark.django_db
def test_home_dashboard_query_count_does_not_grow_with_sightings(client, alice, org_a, django_assert_max_num_queries):
    for n in range(6):
        sighting = sighting_create(organization=org_a, submitted_by=alice,
                                   observed_at=datetime(2024, 5, 1 + n, tzinfo=timezone.utc))
        image_add(sighting=sighting, file=_upload(seed=10 + n, size=(64, 48)), body_part=BodyPart.HEAD, added_by=alice)
    client.force_login(alice)
    with django_assert_max_num_queries(15):
        response = client.get(reverse("home"))
    dates = [s.observed_at for s in response.context["recent"]]
    assert dates == sorted(dates, reverse=True) and len(dates) == 6
