"""An overlay is served under exactly the rule of the two photos it shows (issue 13)."""

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from catalog.models import Membership, SightingStatus
from catalog.review import review_undo
from catalog.models import ReviewAction, ReviewDecision
from matching import runs, tasks
from tests.factories import IndividualFactory, SightingFactory, SightingImageFactory
from tests.matching.journey_fakes import install_engine, ranking_engine

pytestmark = pytest.mark.django_db


@pytest.fixture
def reference(org_b, charlie):
    """B's identified sighting of a cat: in the shared catalog, by a decision B can undo."""
    cat = IndividualFactory()
    sighting = SightingFactory(organization=org_b, individual=cat, status=SightingStatus.IDENTIFIED)
    SightingImageFactory(sighting=sighting)
    ReviewDecision.objects.create(sighting=sighting, user=charlie, action=ReviewAction.CONFIRM, individual=cat,
                                  previous_status=SightingStatus.AWAITING_REVIEW, new_status=SightingStatus.IDENTIFIED)
    return sighting


@pytest.fixture
def candidate(org_a, bob, reference, monkeypatch):
    """A's identification whose best candidate is B's reference photo."""
    install_engine(monkeypatch, ranking_engine([reference.individual]))
    query = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=query)
    run = runs.match_run_start(sighting=query, requested_by=bob)
    tasks.identify(run.pk)
    return run.candidates.get(rank=1)


def overlay(client, candidate, lines=True):
    return client.get(reverse("candidate_overlay", args=[candidate.pk]) + ("" if lines else "?lines=0"))


def test_a_reference_withdrawn_from_the_catalog_is_no_longer_served_in_an_overlay(client, bob, charlie, reference,
                                                                                  candidate):
    client.force_login(bob)
    assert overlay(client, candidate).status_code == 200
    assert default_storage.exists(f"overlays/{candidate.run_id}/{candidate.pk}-lines-v1.png")  # cached
    review_undo(sighting=reference, reviewer=charlie)  # B takes its photo back out of the catalog
    reference_photo = reference.images.get()
    assert client.get(reverse("image_file", args=[reference_photo.uuid])).status_code == 404
    assert overlay(client, candidate).status_code == 404  # cached or not
    assert overlay(client, candidate, lines=False).status_code == 404


def test_the_other_organisation_does_not_see_the_overlay_of_our_photo(client, charlie, candidate):
    client.force_login(charlie)  # owns the reference photo, may not see A's query photo
    query_photo = candidate.query_image
    assert client.get(reverse("image_file", args=[query_photo.uuid])).status_code == 404
    assert overlay(client, candidate).status_code == 404


def test_a_member_who_left_the_organisation_loses_the_overlay_with_the_photos(client, bob, candidate):
    client.force_login(bob)
    assert overlay(client, candidate).status_code == 200
    Membership.objects.filter(user=bob).delete()
    assert overlay(client, candidate).status_code == 404


def test_the_owner_of_both_photos_still_sees_the_overlay_after_the_withdrawal(client, bob, org_a, reference,
                                                                              candidate, charlie):
    """B's own members may see B's photo whatever its status: only the catalog share is withdrawn."""
    Membership.objects.create(user=bob, organization=reference.organization, role="viewer")
    review_undo(sighting=reference, reviewer=charlie)
    client.force_login(bob)
    assert overlay(client, candidate).status_code == 200


def test_the_results_page_notes_a_withdrawn_reference_instead_of_a_broken_overlay(client, bob, charlie, reference,
                                                                                  candidate):
    client.force_login(bob)
    page = client.get(reverse("run_detail", args=[candidate.run_id])).content.decode()
    assert reverse("candidate_overlay", args=[candidate.pk]) in page and "overlay-withdrawn" not in page
    review_undo(sighting=reference, reviewer=charlie)
    page = client.get(reverse("run_detail", args=[candidate.run_id])).content.decode()
    assert reverse("candidate_overlay", args=[candidate.pk]) not in page
    assert "overlay-withdrawn" in page and "Reference photo withdrawn" in page
