"""POST /api/merges/ and /api/merges/<id>/undo/: the merge service behind the API's role checks."""

import pytest

from catalog.models import IndividualMerge, IndividualStatus, SightingStatus
from tests.factories import IndividualFactory, SightingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(org_a):
    keep, twin = IndividualFactory(code="SL-0001"), IndividualFactory(code="SL-0002")
    moved = SightingFactory(organization=org_a, individual=twin, status=SightingStatus.IDENTIFIED)
    return keep, twin, moved


def test_reviewer_merges_and_undoes_through_the_api(api, alice, pair):
    keep, twin, moved = pair
    response = api(alice).post("/api/merges/", {"source": twin.pk, "target": keep.pk, "note": "one cat"}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["sightings_moved"], response.json()["user"]) == (1, "alice")
    moved.refresh_from_db()
    assert moved.individual == keep
    detail = api(alice).get(f"/api/individuals/{twin.pk}/").json()
    assert (detail["status"], detail["merged_into"]) == ("merged", keep.pk)
    undone = api(alice).post(f"/api/merges/{response.json()['id']}/undo/")
    assert undone.status_code == 200 and undone.json()["undone_by"] == "alice"
    moved.refresh_from_db()
    twin.refresh_from_db()
    assert moved.individual == twin and twin.status == IndividualStatus.ACTIVE
    assert api(alice).post(f"/api/merges/{response.json()['id']}/undo/").status_code == 400


def test_contributor_and_charlie_get_403_and_nothing_moves(api, bob, charlie, pair):
    keep, twin, moved = pair
    for user in (bob, charlie):
        assert api(user).post("/api/merges/", {"source": twin.pk, "target": keep.pk}, format="json").status_code == 403
    assert not IndividualMerge.objects.exists()
    moved.refresh_from_db()
    assert moved.individual == twin


def test_merge_into_itself_is_a_400_with_a_message(api, alice, pair):
    keep, _twin, _moved = pair
    response = api(alice).post("/api/merges/", {"source": keep.pk, "target": keep.pk}, format="json")
    assert response.status_code == 400 and "itself" in response.content.decode()


def test_review_endpoint_refuses_the_merge_action(api, alice, org_a):
    sighting = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW)
    assert api(alice).post(f"/api/sightings/{sighting.pk}/review/", {"action": "merge"}, format="json").status_code == 400
