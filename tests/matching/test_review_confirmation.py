"""Confirm, New individual and Undo on the results page ask first: a page says what will happen,
and only its own form (confirmed=yes) decides. No script involved."""

import pytest
from django.urls import reverse

from catalog.models import Individual, ReviewDecision, SightingStatus
from catalog.review import review_state_token
from matching import runs, tasks
from tests.factories import IndividualFactory, SightingFactory, SightingImageFactory
from tests.matching.journey_fakes import install_engine, ranking_engine

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(org_b):
    cats = []
    for _ in range(2):
        cat = IndividualFactory()
        SightingImageFactory(sighting=SightingFactory(organization=org_b, individual=cat, status=SightingStatus.IDENTIFIED))
        cats.append(cat)
    return cats


@pytest.fixture
def done_run(org_a, bob, catalog, monkeypatch):
    install_engine(monkeypatch, ranking_engine(catalog))
    sighting = SightingFactory(organization=org_a, submitted_by=bob)
    SightingImageFactory(sighting=sighting)
    run = runs.match_run_start(sighting=sighting, requested_by=bob)
    tasks.identify(run.pk)
    run.refresh_from_db()
    return run


def decide(client, sighting, **fields):
    return client.post(reverse("review_decide", args=[sighting.pk]), {"expected": review_state_token(sighting), **fields})


def test_confirm_shows_a_confirmation_page_and_changes_nothing_until_confirmed(client, alice, done_run, catalog):
    sighting = done_run.sighting
    client.force_login(alice)
    response = decide(client, sighting, action="confirm", individual=catalog[0].pk)
    html = response.content.decode()
    assert response.status_code == 200 and 'id="confirm-decision"' in html and str(catalog[0]) in html
    assert 'name="confirmed" value="yes"' in html and f'name="individual" value="{catalog[0].pk}"' in html
    assert "<script>" not in html.split('id="review-confirm"')[1]
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.AWAITING_REVIEW and not ReviewDecision.objects.exists()
    decide(client, sighting, action="confirm", individual=catalog[0].pk, confirmed="yes")
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.IDENTIFIED and sighting.individual == catalog[0]


def test_new_individual_asks_first_and_keeps_the_name(client, alice, done_run):
    sighting = done_run.sighting
    client.force_login(alice)
    html = decide(client, sighting, action="new_individual", name="Ilbirs").content.decode()
    assert 'name="name" value="Ilbirs"' in html and Individual.objects.count() == 2
    decide(client, sighting, action="new_individual", name="Ilbirs", confirmed="yes")
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.NEW_INDIVIDUAL and sighting.individual.name == "Ilbirs"


def test_undo_asks_first_naming_the_decision(client, alice, done_run, catalog):
    sighting = done_run.sighting
    client.force_login(alice)
    decide(client, sighting, action="confirm", individual=catalog[1].pk, confirmed="yes")
    sighting.refresh_from_db()
    html = decide(client, sighting, action="undo").content.decode()
    assert "Confirmed a match" in html and catalog[1].code in html
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.IDENTIFIED
    decide(client, sighting, action="undo", confirmed="yes")
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.AWAITING_REVIEW


def test_contributor_gets_403_and_charlie_404_on_the_confirmation_page(client, bob, charlie, done_run, catalog):
    sighting = done_run.sighting
    client.force_login(bob)
    assert decide(client, sighting, action="confirm", individual=catalog[0].pk).status_code == 403
    client.force_login(charlie)
    assert decide(client, sighting, action="confirm", individual=catalog[0].pk).status_code == 404


def test_a_candidate_merged_since_the_run_offers_the_individual_it_became(client, alice, done_run, catalog, staff):
    from catalog.merge import individual_merge

    individual_merge(source=catalog[0], target=catalog[1], user=staff)
    client.force_login(alice)
    html = client.get(reverse("run_detail", args=[done_run.pk])).content.decode()
    assert f"Confirm: this is {catalog[0].code}" not in html
    assert html.count(f"Confirm: this is {catalog[1].code}") == 2 and 'class="merged-into"' in html
