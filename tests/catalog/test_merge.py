"""Merging two individuals that are one animal: who may, what moves, what B's page says, and undo."""

import csv
import datetime as dt
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from catalog import merge, review
from catalog.exports.common import ExportScope
from catalog.exports.population import population_for
from catalog.exports.tables import individuals_csv
from catalog.models import IndividualMerge, IndividualStatus, ReviewAction, ReviewDecision, SightingStatus
from tests.factories import (
    CameraStationFactory,
    IndividualFactory,
    LocationFactory,
    SightingFactory,
    SightingImageFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def cats(org_a, alice):
    """A (SL-0001, two sightings) and B (SL-0002, founded by a new-individual decision, plus one
    confirmation), all of organisation A at one station, in one UTC study area."""
    area = LocationFactory(name="Sarychat", time_zone="UTC")
    station = CameraStationFactory(location=area, organization=org_a, code="C07",
                                   operating_from=dt.date(2024, 1, 1), operating_to=dt.date(2024, 1, 31))

    def pending(day):
        s = SightingFactory(organization=org_a, location=area, station=station, status=SightingStatus.AWAITING_REVIEW,
                            observed_at=dt.datetime(2024, 1, day, 12, tzinfo=dt.timezone.utc), submitted_by=alice)
        SightingImageFactory(sighting=s)
        return s

    a = IndividualFactory(code="SL-0001", name="Leo")
    a_sightings = [pending(2), pending(6)]
    for s in a_sightings:
        review.review_confirm(sighting=s, individual=a, reviewer=alice)
    b_first, b_second = pending(10), pending(11)
    b = review.review_new_individual(sighting=b_first, reviewer=alice, name="Ghost").individual
    review.review_confirm(sighting=b_second, individual=b, reviewer=alice)
    return {"a": a, "b": b, "a_sightings": a_sightings, "b_sightings": [b_first, b_second], "area": area}


def test_merge_moves_every_sighting_photo_and_decision_and_records_it(cats, alice):
    a, b = cats["a"], cats["b"]
    record = merge.individual_merge(source=b, target=a, user=alice, note="same scar on the left flank")
    b.refresh_from_db()
    a.refresh_from_db()
    assert (b.status, b.merged_into) == (IndividualStatus.MERGED, a)
    for s in cats["b_sightings"]:
        s.refresh_from_db()
        assert s.individual == a and s.status in (SightingStatus.IDENTIFIED, SightingStatus.NEW_INDIVIDUAL)
        assert s.decisions.order_by("-pk").first().action == ReviewAction.MERGE
    assert a.sightings.count() == 4 and b.sightings.count() == 0
    assert sum(s.images.count() for s in a.sightings.all()) == 4
    assert (record.user, record.note, record.source_previous_status) == (alice, "same scar on the left flank", "active")
    assert record.decisions.filter(action=ReviewAction.MERGE).count() == 2
    assert a.last_seen == cats["b_sightings"][1].observed_at and b.first_seen is None


def test_merge_undo_restores_exactly_what_moved(cats, alice):
    a, b = cats["a"], cats["b"]
    record = merge.individual_merge(source=b, target=a, user=alice)
    moved_back = merge.individual_merge_undo(merge=record, user=alice)
    b.refresh_from_db()
    record.refresh_from_db()
    assert {s.pk for s in moved_back} == {s.pk for s in cats["b_sightings"]}
    assert (b.status, b.merged_into) == (IndividualStatus.ACTIVE, None)
    assert set(b.sightings.values_list("pk", flat=True)) == {s.pk for s in cats["b_sightings"]}
    assert set(a.sightings.values_list("pk", flat=True)) == {s.pk for s in cats["a_sightings"]}
    assert record.undone_by == alice and record.undone_at is not None
    with pytest.raises(ValidationError):
        merge.individual_merge_undo(merge=record, user=alice)


def test_merge_undo_leaves_a_sighting_someone_decided_on_since(cats, alice):
    a, b = cats["a"], cats["b"]
    record = merge.individual_merge(source=b, target=a, user=alice)
    later = cats["b_sightings"][1]
    review.review_undo(sighting=later, reviewer=alice)  # undoes the confirmation, not the merge
    review.review_confirm(sighting=later, individual=a, reviewer=alice)
    moved_back = merge.individual_merge_undo(merge=record, user=alice)
    later.refresh_from_db()
    assert [s.pk for s in moved_back] == [cats["b_sightings"][0].pk]
    assert later.individual == a


def test_undoing_a_founding_decision_after_the_merge_does_not_withdraw_either_individual(cats, alice):
    a, b = cats["a"], cats["b"]
    merge.individual_merge(source=b, target=a, user=alice)
    review.review_undo(sighting=cats["b_sightings"][0], reviewer=alice)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status) == (IndividualStatus.ACTIVE, IndividualStatus.MERGED)


def test_merge_is_refused_for_contributors_and_for_charlie_and_leaves_nothing(cats, bob, charlie):
    for user in (bob, charlie):
        with pytest.raises(PermissionDenied):
            merge.individual_merge(source=cats["b"], target=cats["a"], user=user)
    assert not IndividualMerge.objects.exists()
    assert cats["b"].sightings.count() == 2


def test_a_site_admin_may_merge_any_individual(cats, staff):
    merge.individual_merge(source=cats["b"], target=cats["a"], user=staff)
    assert cats["a"].sightings.count() == 4


def test_merge_into_itself_or_into_a_merged_individual_is_refused(cats, alice):
    with pytest.raises(ValidationError):
        merge.individual_merge(source=cats["a"], target=cats["a"], user=alice)
    merge.individual_merge(source=cats["b"], target=cats["a"], user=alice)
    other = IndividualFactory(code="SL-0003")
    with pytest.raises(ValidationError):
        merge.individual_merge(source=other, target=cats["b"], user=alice)
    with pytest.raises(ValidationError):
        merge.individual_merge(source=cats["b"], target=other, user=alice)


def test_merged_individual_can_no_longer_be_confirmed(cats, alice, org_a):
    merge.individual_merge(source=cats["b"], target=cats["a"], user=alice)
    fresh = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW)
    with pytest.raises(ValidationError):
        review.review_confirm(sighting=fresh, individual=cats["b"], reviewer=alice)


def test_population_and_individuals_export_count_one_animal_after_the_merge(cats, alice):
    def counted():
        result = population_for(alice, location=cats["area"], start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 12),
                                occasion_days=4)
        rows = list(csv.DictReader(io.StringIO(individuals_csv(alice, ExportScope()))))
        return result["individuals"], [r["code"] for r in rows]

    assert counted() == (2, ["SL-0001", "SL-0002"])
    merge.individual_merge(source=cats["b"], target=cats["a"], user=alice)
    assert counted() == (1, ["SL-0001"])


def test_merge_pages_ask_for_confirmation_then_b_page_says_where_it_went(client, cats, alice):
    a, b = cats["a"], cats["b"]
    client.force_login(alice)
    assert 'id="merge-link"' in client.get(reverse("individual_detail", args=[a.pk])).content.decode()
    url = reverse("individual_merge", args=[a.pk])
    assert f'value="{b.pk}"' in client.get(url).content.decode()
    confirm = client.get(url, {"source": b.pk}).content.decode()
    assert 'id="merge-confirm"' in confirm and "2 sightings move" in confirm
    assert b.sightings.count() == 2  # nothing moved before the confirmation
    done = client.post(url, {"source": b.pk, "confirmed": "yes"}, follow=True)
    record = IndividualMerge.objects.get()
    assert done.redirect_chain[-1][0] == reverse("merge_detail", args=[record.pk])
    page = client.get(reverse("individual_detail", args=[b.pk])).content.decode()
    assert 'id="merged-notice"' in page and reverse("individual_detail", args=[a.pk]) in page


def test_merge_undo_page_asks_for_confirmation(client, cats, alice):
    record = merge.individual_merge(source=cats["b"], target=cats["a"], user=alice)
    client.force_login(alice)
    detail = reverse("merge_detail", args=[record.pk])
    assert 'id="merge-undo"' in client.get(detail).content.decode()
    assert client.post(reverse("merge_undo", args=[record.pk])).url == detail + "?undo=1"
    record.refresh_from_db()
    assert record.undone_at is None
    assert 'id="merge-undo-confirm"' in client.get(detail + "?undo=1").content.decode()
    client.post(reverse("merge_undo", args=[record.pk]), {"confirmed": "yes"})
    cats["b"].refresh_from_db()
    assert cats["b"].status == IndividualStatus.ACTIVE and cats["b"].sightings.count() == 2


def test_charlie_cannot_merge_through_the_page_nor_see_the_moved_sightings(client, cats, alice, charlie):
    client.force_login(charlie)
    url = reverse("individual_merge", args=[cats["a"].pk])
    assert client.post(url, {"source": cats["b"].pk, "confirmed": "yes"}).status_code == 403
    assert not IndividualMerge.objects.exists()
    record = merge.individual_merge(source=cats["b"], target=cats["a"], user=alice)
    page = client.get(reverse("merge_detail", args=[record.pk])).content.decode()
    assert reverse("sighting_detail", args=[cats["b_sightings"][0].pk]) not in page
    assert 'id="merge-undo"' not in page
    assert client.post(reverse("merge_undo", args=[record.pk]), {"confirmed": "yes"}).status_code == 403
    assert ReviewDecision.objects.filter(action=ReviewAction.UNDO).count() == 0
