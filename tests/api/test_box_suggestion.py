"""Photos uploaded through the API get the submit page's suggested box, unconfirmed until a user accepts it."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog.models import BoxSource, SightingImage
from tests.factories import SightingFactory
from tests.matching.test_motion import _background, _frame

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_torch_thread")]

CENTRES = [(200, 150), (330, 170), (470, 150)]  # the moving "animal" in each frame of the burst


def _png(array) -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return SimpleUploadedFile("frame.png", out.getvalue(), content_type="image/png")


def _upload(client, sighting, array, **extra):
    response = client.post(f"/api/sightings/{sighting.pk}/images/", {"file": _png(array), "body_part": "left_flank",
                                                                       **extra}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def _inside(box, point) -> bool:
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def test_an_api_burst_gets_suggested_boxes_that_a_user_then_confirms(api, bob, org_a, q_sync,
                                                                      django_capture_on_commit_callbacks):
    sighting = SightingFactory(organization=org_a)
    background = _background(7)
    client = api(bob)
    uploaded = []
    for i, centre in enumerate(CENTRES):
        with django_capture_on_commit_callbacks(execute=True):  # the queue runs inline (q_sync)
            body = _upload(client, sighting, _frame(background, centre, i, i))
        assert body["box_confirmed"] is False
        uploaded.append(body["id"])

    listed = {row["id"]: row for row in client.get(f"/api/sightings/{sighting.pk}/images/").json()}
    for pk, centre in zip(uploaded, CENTRES):
        row = listed[pk]
        # The real detector may or may not fire on the synthetic blob; burst motion always finds it.
        assert row["box_source"] in (BoxSource.DETECTOR, BoxSource.MOTION), row
        assert row["box_confirmed"] is False and _inside(row["box"], centre), row

    # Accepting the suggestion as it is confirms it, and a later upload's suggestion leaves it alone.
    first = SightingImage.objects.get(pk=uploaded[0])
    confirmed = client.post(f"/api/images/{first.pk}/box/", {}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["box"] == list(first.box) and confirmed.json()["box_confirmed"] is True
    assert confirmed.json()["box_source"] == BoxSource.USER
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client, sighting, _frame(background, (560, 200), 3, 3))
    first.refresh_from_db()
    assert first.box_source == BoxSource.USER and first.box == tuple(confirmed.json()["box"])

    # A given box is set and confirmed; null removes it.
    second = client.post(f"/api/images/{uploaded[1]}/box/", {"box": [10, 20, 100, 80]}, format="json").json()
    assert second["box"] == [10, 20, 100, 80] and second["box_confirmed"] is True
    third = client.post(f"/api/images/{uploaded[2]}/box/", {"box": None}, format="json").json()
    assert third["box"] is None and third["box_confirmed"] is False


def test_a_box_given_with_the_upload_is_kept_and_confirmed(api, bob, org_a, q_sync, django_capture_on_commit_callbacks):
    sighting = SightingFactory(organization=org_a)
    with django_capture_on_commit_callbacks(execute=True):
        body = _upload(api(bob), sighting, _frame(_background(3), CENTRES[0], 0, 0), box=[5, 6, 70, 50])
    image = SightingImage.objects.get(pk=body["id"])
    assert image.box == (5, 6, 70, 50) and image.box_source == BoxSource.USER and body["box_confirmed"] is True


def test_another_organisation_cannot_confirm_the_box(api, bob, charlie, org_a):
    sighting = SightingFactory(organization=org_a)
    body = _upload(api(bob), sighting, _frame(_background(5), CENTRES[0], 0, 0))
    response = api(charlie).post(f"/api/images/{body['id']}/box/", {"box": [1, 1, 50, 50]}, format="json")
    assert response.status_code == 404
    assert SightingImage.objects.get(pk=body["id"]).box is None
