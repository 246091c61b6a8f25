"""Every listed candidate shows a photo pair, also those below the verified shortlist (ranks 8-10)."""

import pytest
from django.urls import reverse

from catalog.models import SightingStatus
from matching import services
from matching.engine.index import Entry
from matching.engine.scoring import QueryImage
from matching.models import MatchCandidate, MatchRun, RunState
from tests.factories import IndividualFactory, SightingFactory, SightingImageFactory


class FakeIndex:
    def __init__(self, entries):
        self.entries = {e.key: e for e in entries}


def test_an_unverified_candidate_gets_a_compatible_allowed_photo_of_its_individual():
    index = FakeIndex([
        Entry(key=1, individual="A", body_part="left_flank"),
        Entry(key=2, individual="B", body_part="right_flank"),  # incompatible with a left-flank query
        Entry(key=3, individual="B", body_part="left_flank", location=9),  # filtered out
        Entry(key=4, individual="B", body_part="left_flank"),
    ])
    queries = [QueryImage(10, None, "left_flank", None)]
    allowed = lambda e: e.location != 9  # noqa: E731
    assert services._unverified_pair("B", queries, index, allowed) == (10, 4)
    assert services._unverified_pair("C", queries, index, allowed) == (None, None)


@pytest.fixture
def run_with_ten(org_a):
    """A done run of ten candidates; ranks 8-10 have no verified match, 10 not even a stored pair (an older run)."""
    sighting = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW)
    query = SightingImageFactory(sighting=sighting)
    run = MatchRun.objects.create(sighting=sighting, extractor="x", state=RunState.DONE)
    for rank in range(1, 11):
        cat = IndividualFactory()
        reference = SightingImageFactory(sighting=SightingFactory(
            organization=org_a, individual=cat, status=SightingStatus.IDENTIFIED))
        verified = rank <= 7
        MatchCandidate.objects.create(
            run=run, individual=cat, rank=rank, score=1.0 / rank if verified else 0.0, confidence="uncertain",
            num_inliers=20 if verified else 0, query_image=query if rank < 10 else None,
            reference_image=reference if rank < 10 else None, matches=[[1, 1, 2, 2]] if verified else [],
        )
    return run


@pytest.mark.django_db
def test_every_listed_candidate_shows_its_photo_pair(client, alice, run_with_ten):
    client.force_login(alice)
    html = client.get(reverse("run_detail", args=[run_with_ten.pk])).content.decode()
    items = html.split('<li class="candidate"')[1:]
    assert len(items) == 10
    for item in items[:9]:
        assert 'class="overlay"' in item
    assert 'class="photo-pair"' in items[9]  # drawn from the individual's catalog photos
    assert all("no-verified-pair" in item for item in items[7:])
    assert not any("no-verified-pair" in item for item in items[:7])
    cand = run_with_ten.candidates.get(rank=9)
    response = client.get(reverse("candidate_overlay", args=[cand.pk]) + "?lines=1")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"


@pytest.mark.django_db
def test_the_pair_of_a_low_candidate_stays_scoped(client, charlie, run_with_ten):
    client.force_login(charlie)
    cand = run_with_ten.candidates.get(rank=9)
    assert client.get(reverse("run_detail", args=[run_with_ten.pk])).status_code == 404
    assert client.get(reverse("candidate_overlay", args=[cand.pk])).status_code == 404
