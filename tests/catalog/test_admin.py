import io
from datetime import datetime, timezone

import numpy as np
import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from catalog.models import BodyPart, ReviewDecision, SightingImage
from catalog.services import image_add, sighting_create
from tests.factories import CameraStationFactory, IndividualFactory


@pytest.fixture
def image(org_a, alice):
    pixels = np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG")
    station = CameraStationFactory()
    sighting = sighting_create(organization=org_a, submitted_by=alice, observed_at=datetime(2024, 5, 1, tzinfo=timezone.utc),
                               station=station, notes="ridge above the river")
    return image_add(sighting=sighting, file=SimpleUploadedFile("cam.jpg", buf.getvalue()), body_part=BodyPart.HEAD,
                     added_by=alice)


@pytest.mark.django_db
def test_every_registered_catalog_and_matching_model_has_working_admin_pages(client, staff, image, alice):
    IndividualFactory()
    ReviewDecision.objects.create(sighting=image.sighting, user=alice, action="unidentifiable",
                                  previous_status="awaiting_review", new_status="unidentifiable")
    client.force_login(staff)
    checked = 0
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in {"catalog", "matching"}:
            continue
        info = (model._meta.app_label, model._meta.model_name)
        changelist = reverse("admin:%s_%s_changelist" % info)
        assert client.get(changelist).status_code == 200, changelist
        assert client.get(changelist, {"q": "x"}).status_code == 200, changelist
        obj = model.objects.first()
        if obj is not None:
            assert client.get(reverse("admin:%s_%s_change" % info, args=[obj.pk])).status_code == 200
        checked += 1
    assert checked >= 8


@pytest.mark.django_db
def test_sighting_admin_shows_images_inline_as_scoped_thumbnails(client, staff, image):
    client.force_login(staff)
    response = client.get(reverse("admin:catalog_sighting_change", args=[image.sighting.pk]))
    thumb = reverse("image_thumb", args=[image.uuid])
    assert thumb in response.content.decode()
    assert client.get(thumb).status_code == 200
    # Sized by a static style sheet's class: the strict CSP would block a style= attribute.
    html = response.content.decode()
    assert "admin-thumb-160" in html and "css/admin.css" in html and " style=" not in html
    for page in (reverse("admin:catalog_sighting_changelist"),
                 reverse("admin:catalog_sightingimage_change", args=[image.pk])):
        html = client.get(page).content.decode()
        assert "admin-thumb" in html and "css/admin.css" in html and " style=" not in html


@pytest.mark.django_db
def test_admin_search_finds_a_sighting_by_its_notes(client, staff, image):
    client.force_login(staff)
    response = client.get(reverse("admin:catalog_sighting_changelist"), {"q": "ridge"})
    assert response.context["cl"].result_count == 1


@pytest.mark.django_db
def test_images_cannot_be_added_in_the_admin_bypassing_validation(client, staff):
    client.force_login(staff)
    assert client.get(reverse("admin:catalog_sightingimage_add")).status_code == 403


@pytest.mark.django_db
def test_partners_and_charlie_cannot_open_the_admin(client, alice, charlie, image):
    for user in (alice, charlie):
        client.force_login(user)
        response = client.get(reverse("admin:catalog_sighting_change", args=[image.sighting.pk]))
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert SightingImage.objects.count() == 1


@pytest.mark.django_db
def test_user_admin_shows_organisation_memberships_inline(client, staff, alice):
    client.force_login(staff)
    response = client.get(reverse("admin:auth_user_change", args=[alice.pk]))
    assert response.status_code == 200
    assert "Snow Leopard Trust Kyrgyzstan" in response.content.decode()
    changelist = client.get(reverse("admin:auth_user_changelist"), {"memberships__role": "reviewer"})
    assert changelist.status_code == 200 and changelist.context["cl"].result_count == 1
