"""Every action offered can be done: no button that ends in a refusal, withdrawal, withdrawn individuals."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from catalog import review
from catalog.models import IndividualStatus, ReviewAction, ReviewDecision, SightingStatus
from catalog.withdrawal import sighting_withdraw
from matching.models import MatchRun, RunState
from tests.factories import IndividualFactory, SightingFactory, SightingImageFactory

pytestmark = pytest.mark.django_db


def test_my_sightings_offers_boxes_only_for_sightings_that_can_still_be_edited(client, bob, org_a):
    open_one = SightingFactory(organization=org_a, status=SightingStatus.SUBMITTED)
    done = SightingFactory(organization=org_a, status=SightingStatus.IDENTIFIED, individual=IndividualFactory())
    client.force_login(bob)
    body = client.get(reverse("my_sightings")).content.decode()
    assert reverse("sighting_edit", args=[open_one.pk]) in body
    assert reverse("sighting_edit", args=[done.pk]) not in body
    assert reverse("sighting_detail", args=[done.pk]) in body


def test_my_sightings_flags_a_sighting_without_a_position(client, bob, org_a):
    SightingFactory(organization=org_a)
    client.force_login(bob)
    assert "no position" in client.get(reverse("my_sightings")).content.decode()


def test_edit_page_of_a_sighting_that_cant_be_edited_shows_no_box_buttons(client, bob, org_a):
    sighting = SightingFactory(organization=org_a, status=SightingStatus.IDENTIFIED, individual=IndividualFactory())
    SightingImageFactory(sighting=sighting)
    client.force_login(bob)
    body = client.get(reverse("sighting_edit", args=[sighting.pk])).content.decode()
    assert 'id="details-only"' in body and 'id="identify-button"' not in body
    assert "data-box-action" not in body and "data-boxes-url" not in body
    editable = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=editable)
    assert "data-box-action" in client.get(reverse("sighting_edit", args=[editable.pk])).content.decode()


def _decided_run(org, bob):
    sighting = SightingFactory(organization=org, status=SightingStatus.IDENTIFIED, individual=IndividualFactory())
    SightingImageFactory(sighting=sighting)
    return MatchRun.objects.create(sighting=sighting, extractor="sift", state=RunState.DONE, requested_by=bob)


def test_decided_run_offers_no_rerun_link_but_says_why(client, bob, org_a):
    run = _decided_run(org_a, bob)
    client.force_login(bob)
    body = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'id="change-filters"' not in body and 'id="rerun-note"' in body
    start = client.get(reverse("run_start", args=[run.sighting_id]))
    assert start.status_code == 200
    assert 'id="decided-note"' in start.content.decode() and 'id="start-button"' not in start.content.decode()


def test_undecided_run_still_offers_the_rerun_link(client, bob, org_a):
    sighting = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW)
    run = MatchRun.objects.create(sighting=sighting, extractor="sift", state=RunState.DONE, requested_by=bob)
    client.force_login(bob)
    assert 'id="change-filters"' in client.get(reverse("run_detail", args=[run.pk])).content.decode()


def test_withdrawing_a_sighting_needs_a_reason_and_leaves_an_audit_entry(bob, org_a):
    sighting = SightingFactory(organization=org_a)
    with pytest.raises(Exception, match="Say why"):
        sighting_withdraw(sighting=sighting, user=bob, reason="  ")
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.SUBMITTED
    decision = sighting_withdraw(sighting=sighting, user=bob, reason="Empty frame uploaded by mistake")
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.WITHDRAWN
    assert (decision.action, decision.previous_status, decision.note) == (
        ReviewAction.WITHDRAW, SightingStatus.SUBMITTED, "Empty frame uploaded by mistake")


def test_a_decided_sighting_is_not_withdrawn_until_its_decision_is_undone(bob, org_a):
    sighting = SightingFactory(organization=org_a, status=SightingStatus.IDENTIFIED, individual=IndividualFactory())
    with pytest.raises(Exception, match="undo the decision"):
        sighting_withdraw(sighting=sighting, user=bob, reason="duplicate")
    assert not ReviewDecision.objects.exists()


def test_withdraw_button_on_the_detail_page_withdraws_and_the_dashboard_stops_counting_it(client, bob, org_a):
    sighting = SightingFactory(organization=org_a)
    client.force_login(bob)
    assert 'id="withdraw-button"' in client.get(reverse("sighting_detail", args=[sighting.pk])).content.decode()
    assert client.get(reverse("home")).context["counts"]["open"] == 1
    response = client.post(reverse("sighting_withdraw", args=[sighting.pk]), {"reason": "duplicate upload"})
    assert response.status_code == 302
    page = client.get(reverse("sighting_detail", args=[sighting.pk])).content.decode()
    assert 'id="withdrawn-note"' in page and "duplicate upload" in page and 'id="withdraw-button"' not in page
    assert client.get(reverse("home")).context["counts"]["open"] == 0


def test_outsiders_cannot_withdraw(client, charlie, org_a):
    sighting = SightingFactory(organization=org_a)
    client.force_login(charlie)
    assert client.post(reverse("sighting_withdraw", args=[sighting.pk]), {"reason": "x"}).status_code == 404
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.SUBMITTED


def test_api_withdraws_with_a_reason(bob, charlie, org_a):
    sighting = SightingFactory(organization=org_a)
    api = APIClient()
    api.force_authenticate(charlie)
    assert api.post(f"/api/sightings/{sighting.pk}/withdraw/", {"reason": "x"}, format="json").status_code == 404
    api.force_authenticate(bob)
    assert api.post(f"/api/sightings/{sighting.pk}/withdraw/", {}, format="json").status_code == 400
    response = api.post(f"/api/sightings/{sighting.pk}/withdraw/", {"reason": "empty"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    again = api.post(f"/api/sightings/{sighting.pk}/withdraw/", {"reason": "empty"}, format="json")
    assert again.status_code == 400 and "already withdrawn" in again.content.decode()


def test_withdrawn_sightings_are_left_out_of_the_exports(alice, org_a):
    from catalog.exports.common import ExportScope
    from catalog.exports.tables import sightings_csv

    sighting = SightingFactory(organization=org_a)
    sighting_withdraw(sighting=sighting, user=alice, reason="duplicate")
    assert str(sighting.uuid) not in sightings_csv(alice, ExportScope())


def test_undoing_a_new_individual_leaves_its_page_with_a_withdrawn_notice(client, alice, org_a):
    sighting = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW)
    decision = review.review_new_individual(sighting=sighting, reviewer=alice)
    individual = decision.individual
    review.review_undo(sighting=sighting, reviewer=alice)
    individual.refresh_from_db()
    assert individual.status == IndividualStatus.WITHDRAWN
    client.force_login(alice)
    response = client.get(reverse("individual_detail", args=[individual.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="withdrawn-notice"' in body and individual.code in body
    assert reverse("sighting_detail", args=[sighting.pk]) in body


def test_an_identified_imported_sighting_still_gets_its_station_set(client, bob, org_a):
    from tests.factories import CameraStationFactory, LocationFactory

    area = LocationFactory(name="Zorkul", time_zone="Asia/Dushanbe", organization=org_a)
    station = CameraStationFactory(location=area, organization=org_a, code="Z1")
    sighting = SightingFactory(organization=org_a, status=SightingStatus.IDENTIFIED, individual=IndividualFactory(),
                               external_id="cat21/IMG_1.JPG")
    image = SightingImageFactory(sighting=sighting, box_x=1, box_y=1, box_w=10, box_h=10)
    client.force_login(bob)
    response = client.post(reverse("sighting_edit", args=[sighting.pk]), {
        "observed_at": "2012-07-22T01:53:00", "station": station.pk, "latitude": "", "longitude": "", "notes": "",
        f"box-{image.pk}": "", "save": "1",
    })
    assert response.status_code == 302
    sighting.refresh_from_db()
    image.refresh_from_db()
    assert (sighting.station, sighting.location, sighting.status) == (station, area, SightingStatus.IDENTIFIED)
    assert image.box == (1, 1, 10, 10)  # boxes of a decided sighting stay as they were


def test_viewers_get_no_edit_link_they_would_be_refused_at(client, org_a):
    from django.contrib.auth.models import User

    from catalog.models import Membership, Role

    viewer = User.objects.create_user(username="vera", password="pw")
    Membership.objects.create(user=viewer, organization=org_a, role=Role.VIEWER)
    sighting = SightingFactory(organization=org_a)
    client.force_login(viewer)
    body = client.get(reverse("sighting_detail", args=[sighting.pk])).content.decode()
    assert reverse("sighting_edit", args=[sighting.pk]) not in body and 'id="withdraw-button"' not in body
