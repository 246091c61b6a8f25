import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from catalog import review
from catalog.models import Individual, ReviewAction, ReviewDecision, Role, SightingStatus
from tests.concurrency import run_at_once, skip_without_shared_database
from tests.factories import IndividualFactory, MembershipFactory, SightingFactory, SightingImageFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(org_a):
    s = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW)
    SightingImageFactory(sighting=s)
    return s


def test_confirm_joins_the_individual_records_the_decision_and_queues_indexing(
    pending, alice, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(review, "async_task", lambda *args, **kw: queued.append((args, kw)))
    cat = IndividualFactory()
    with django_capture_on_commit_callbacks(execute=True):
        decision = review.review_confirm(sighting=pending, individual=cat, reviewer=alice)
    pending.refresh_from_db()
    cat.refresh_from_db()
    assert pending.status == SightingStatus.IDENTIFIED and pending.individual == cat
    assert (decision.user, decision.action, decision.previous_status) == (alice, ReviewAction.CONFIRM, "awaiting_review")
    assert cat.first_seen == cat.last_seen == pending.observed_at
    assert queued == [(("matching.tasks.index_sighting", pending.pk), {"cluster": "bulk"})]


def test_first_and_last_seen_follow_confirmations_and_undo(org_a, alice):
    cat = IndividualFactory()
    now = timezone.now()
    old = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW, observed_at=now - timedelta(days=30))
    new = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW, observed_at=now)
    review.review_confirm(sighting=new, individual=cat, reviewer=alice)
    review.review_confirm(sighting=old, individual=cat, reviewer=alice)
    cat.refresh_from_db()
    assert (cat.first_seen, cat.last_seen) == (old.observed_at, new.observed_at)
    review.review_undo(sighting=new, reviewer=alice)
    cat.refresh_from_db()
    assert cat.last_seen == old.observed_at


def test_new_individual_gets_the_next_catalog_code(pending, alice):
    IndividualFactory(code="SL-0007")
    IndividualFactory(code="OTHER-99")
    decision = review.review_new_individual(sighting=pending, reviewer=alice, name="Ilbirs")
    assert decision.individual.code == "SL-0008" and decision.individual.name == "Ilbirs"
    pending.refresh_from_db()
    assert pending.status == SightingStatus.NEW_INDIVIDUAL and pending.individual == decision.individual


def test_next_code_retries_when_another_reviewer_took_it(monkeypatch, db):
    IndividualFactory(code="SL-0001")
    stale = iter(["SL-0001", "SL-0001"])
    real = review.individual_next_code
    monkeypatch.setattr(review, "individual_next_code", lambda: next(stale, None) or real())
    assert review.individual_create_next().code == "SL-0002"


def test_unidentifiable_and_undo_restore_the_previous_state(pending, alice):
    review.review_unidentifiable(sighting=pending, reviewer=alice, note="only a tail tip")
    pending.refresh_from_db()
    assert pending.status == SightingStatus.UNIDENTIFIABLE
    undo = review.review_undo(sighting=pending, reviewer=alice)
    pending.refresh_from_db()
    assert pending.status == SightingStatus.AWAITING_REVIEW and pending.individual is None
    assert undo.undoes.action == ReviewAction.UNIDENTIFIABLE
    with pytest.raises(ValidationError):
        review.review_undo(sighting=pending, reviewer=alice)  # nothing left to undo


def test_contributor_and_charlie_may_not_decide(pending, bob, charlie):
    for user in (bob, charlie):
        with pytest.raises(PermissionDenied):
            review.review_unidentifiable(sighting=pending, reviewer=user)
    assert not ReviewDecision.objects.exists()


def test_staff_may_decide_for_any_organisation(pending, staff):
    review.review_new_individual(sighting=pending, reviewer=staff)
    assert Individual.objects.count() == 1


def test_second_reviewer_with_a_stale_page_sees_the_first_decision(pending, alice, org_a):
    carol = UserFactory(username="carol")
    MembershipFactory(user=carol, organization=org_a, role=Role.REVIEWER)
    seen_by_both = review.review_state_token(pending)
    cat, other = IndividualFactory(), IndividualFactory()
    review.review_confirm(sighting=pending, individual=cat, reviewer=alice, expected=seen_by_both)
    with pytest.raises(review.ReviewConflict) as conflict:
        review.review_confirm(sighting=pending, individual=other, reviewer=carol, expected=seen_by_both)
    assert "alice already decided" in conflict.value.messages[0]
    pending.refresh_from_db()
    assert pending.individual == cat and ReviewDecision.objects.count() == 1


def test_decision_on_an_already_decided_sighting_is_refused_without_a_token(pending, alice):
    review.review_unidentifiable(sighting=pending, reviewer=alice)
    with pytest.raises(review.ReviewConflict):
        review.review_new_individual(sighting=pending, reviewer=alice)
    assert Individual.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_deciding_at_the_same_moment_cannot_both_win(org_a):
    skip_without_shared_database()
    reviewers = []
    for name in ("rev1", "rev2"):
        user = UserFactory(username=name)
        MembershipFactory(user=user, organization=org_a, role=Role.REVIEWER)
        reviewers.append(user)
    sighting = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW)
    token = review.review_state_token(sighting)
    barrier = threading.Barrier(2)
    outcomes = []

    def decide(user):
        try:
            barrier.wait()
            review.review_new_individual(sighting=sighting, reviewer=user, expected=token)
            outcomes.append("won")
        except review.ReviewConflict:
            outcomes.append("conflict")

    run_at_once(decide, reviewers)
    assert sorted(outcomes) == ["conflict", "won"]
    assert ReviewDecision.objects.count() == 1 and Individual.objects.count() == 1


def test_undoing_a_new_individual_withdraws_it_from_the_catalog_but_keeps_it_for_the_audit(pending, alice, client):
    from django.urls import reverse

    from catalog.models import IndividualStatus
    from catalog.selectors import individuals_for

    founded = review.review_new_individual(sighting=pending, reviewer=alice).individual
    assert founded in individuals_for(alice)
    client.force_login(alice)
    assert client.get(reverse("individual_detail", args=[founded.pk])).status_code == 200
    assert founded.code in client.get(reverse("api-individual-list")).content.decode()
    review.review_undo(sighting=pending, reviewer=alice)
    founded.refresh_from_db()
    assert founded.status == IndividualStatus.WITHDRAWN
    assert founded not in individuals_for(alice)
    assert ReviewDecision.objects.filter(individual=founded, action=ReviewAction.NEW_INDIVIDUAL).exists()
    assert founded.code not in client.get(reverse("api-individual-list")).content.decode()
    # Its page stays, saying it was withdrawn (issue 14), instead of a 404.
    page = client.get(reverse("individual_detail", args=[founded.pk]))
    assert page.status_code == 200 and 'id="withdrawn-notice"' in page.content.decode()
    with pytest.raises(ValidationError, match="withdrawn"):
        review.review_confirm(sighting=pending, individual=founded, reviewer=alice)
    # Deciding "new individual" again founds the next code; the withdrawn one stays out of the catalog.
    again = review.review_new_individual(sighting=pending, reviewer=alice).individual
    assert again != founded and again.status == IndividualStatus.ACTIVE


def test_confirming_a_merged_individual_is_refused_and_stores_nothing(pending, alice):
    from catalog.models import IndividualStatus

    merged = IndividualFactory(status=IndividualStatus.MERGED)
    with pytest.raises(ValidationError, match="merged into another individual"):
        review.review_confirm(sighting=pending, individual=merged, reviewer=alice)
    assert not ReviewDecision.objects.exists()


def test_undoing_a_new_individual_that_another_sighting_joined_keeps_it(org_a, alice):
    from catalog.models import IndividualStatus

    first = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW)
    second = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW)
    founded = review.review_new_individual(sighting=first, reviewer=alice).individual
    review.review_confirm(sighting=second, individual=founded, reviewer=alice)
    review.review_undo(sighting=first, reviewer=alice)
    founded.refresh_from_db()
    assert founded.status == IndividualStatus.ACTIVE
