"""The box editor stores each box as it is made (JSON endpoint), and the results page says when a
run matched inside boxes that nobody confirmed."""

import json

import pytest
from django.urls import reverse

from catalog.models import BoxSource, SightingStatus
from matching import runs, tasks
from tests.factories import IndividualFactory, SightingFactory, SightingImageFactory
from tests.matching.journey_fakes import install_engine, ranking_engine

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(org_a):
    # 64 x 48 px (the factory's JPEG)
    return SightingImageFactory(sighting=SightingFactory(organization=org_a))


def save(client, image, body, **kwargs):
    url = reverse("image_box_save", args=[image.sighting_id, image.pk])
    return client.post(url, json.dumps(body), content_type="application/json", **kwargs)


def test_a_drawn_box_is_stored_at_once_as_confirmed(client, bob, image):
    client.force_login(bob)
    response = save(client, image, {"box": [10, 5, 40, 30], "source": "user", "body_part": "head"})
    assert response.status_code == 200
    assert response.json() == {"box": [10, 5, 40, 30], "source": "user", "body_part": "head"}
    image.refresh_from_db()
    assert image.box == (10, 5, 40, 30) and image.box_source == BoxSource.USER and image.body_part == "head"


def test_removing_the_box_is_stored_too(client, bob, image):
    image.box_x, image.box_y, image.box_w, image.box_h, image.box_source = 1, 1, 20, 20, BoxSource.DETECTOR
    image.save()
    client.force_login(bob)
    assert save(client, image, {"box": None}).status_code == 200
    image.refresh_from_db()
    assert image.box is None and image.box_source == BoxSource.NONE


@pytest.mark.parametrize("box, message", [
    ([10, 5, 60, 30], "inside the photo"),  # 10 + 60 > 64 px wide
    ([-1, 5, 20, 20], "inside the photo"),
    ([10, 5, 0, 30], "positive width"),
    ([10, 5, "a", 30], "four numbers"),
    ([10, 5, 30], "four numbers"),
])
def test_a_box_outside_the_photo_or_without_size_is_refused_and_nothing_stored(client, bob, image, box, message):
    client.force_login(bob)
    response = save(client, image, {"box": box, "body_part": "head"})
    assert response.status_code == 400 and message in response.json()["error"]
    image.refresh_from_db()
    assert image.box is None and image.body_part == "left_flank"


def test_an_unknown_source_or_body_part_or_a_non_json_body_is_refused(client, bob, image):
    client.force_login(bob)
    assert save(client, image, {"box": [1, 1, 20, 20], "source": "import"}).status_code == 400
    assert save(client, image, {"box": [1, 1, 20, 20], "body_part": "wing"}).status_code == 400
    url = reverse("image_box_save", args=[image.sighting_id, image.pk])
    assert client.post(url, "not json", content_type="application/json").status_code == 400
    image.refresh_from_db()
    assert image.box is None


def test_a_sighting_that_cant_be_edited_refuses_the_box(client, bob, image):
    image.sighting.status = SightingStatus.UNIDENTIFIABLE
    image.sighting.save()
    client.force_login(bob)
    response = save(client, image, {"box": [1, 1, 20, 20]})
    assert response.status_code == 409 and "can't be edited" in response.json()["error"]
    image.refresh_from_db()
    assert image.box is None


def test_only_contributors_of_the_organisation_may_save_a_box(client, charlie, image, org_a):
    client.force_login(charlie)
    assert save(client, image, {"box": [1, 1, 20, 20]}).status_code == 404
    other = SightingImageFactory(sighting=SightingFactory(organization=org_a))
    # An image of another sighting under this sighting's URL is not found either.
    url = reverse("image_box_save", args=[image.sighting_id, other.pk])
    client.logout()
    assert client.post(url, "{}", content_type="application/json").status_code == 302  # to the login page
    image.refresh_from_db()
    assert image.box is None


def test_an_image_of_another_sighting_is_not_found_under_this_one(client, bob, image, org_a):
    other = SightingImageFactory(sighting=SightingFactory(organization=org_a))
    client.force_login(bob)
    url = reverse("image_box_save", args=[image.sighting_id, other.pk])
    assert client.post(url, json.dumps({"box": [1, 1, 20, 20]}), content_type="application/json").status_code == 404


def test_the_save_endpoint_needs_the_csrf_token(bob, image):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    assert save(client, image, {"box": [1, 1, 20, 20]}).status_code == 403
    image.refresh_from_db()
    assert image.box is None


def test_the_photos_page_gives_each_editor_its_save_url_only_while_editable(client, bob, image):
    client.force_login(bob)
    url = reverse("image_box_save", args=[image.sighting_id, image.pk])
    assert f'data-save-url="{url}"' in client.get(reverse("sighting_edit", args=[image.sighting_id])).content.decode()
    image.sighting.status = SightingStatus.UNIDENTIFIABLE
    image.sighting.save()
    assert "data-save-url" not in client.get(reverse("sighting_edit", args=[image.sighting_id])).content.decode()


def _run(monkeypatch, bob, sighting):
    install_engine(monkeypatch, ranking_engine([IndividualFactory()]))
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    tasks.identify(run.pk)
    run.refresh_from_db()
    return run


def test_the_results_page_says_when_the_run_used_boxes_nobody_confirmed(client, bob, org_a, monkeypatch):
    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting, box_x=1, box_y=1, box_w=20, box_h=20, box_source=BoxSource.DETECTOR)
    SightingImageFactory(sighting=sighting, box_x=1, box_y=1, box_w=20, box_h=20, box_source=BoxSource.USER)
    run = _run(monkeypatch, bob, sighting)
    assert run.unconfirmed_boxes == 1
    client.force_login(bob)
    html = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'id="unconfirmed-boxes"' in html and "1 query photo was matched inside a box that nobody confirmed" in html


def test_the_results_page_is_silent_about_boxes_when_all_were_confirmed(client, bob, org_a, monkeypatch):
    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting, box_x=1, box_y=1, box_w=20, box_h=20, box_source=BoxSource.USER)
    SightingImageFactory(sighting=sighting)  # no box: the whole frame, which is no unconfirmed box
    run = _run(monkeypatch, bob, sighting)
    client.force_login(bob)
    html = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert run.unconfirmed_boxes == 0 and 'id="unconfirmed-boxes"' not in html
