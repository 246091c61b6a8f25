"""The review queue's thumbnails, filters and sorting, and sorting of the sighting and individual lists."""

from datetime import datetime, timezone

import pytest
from django.urls import reverse

from catalog.models import Individual, SightingStatus
from matching.models import MatchCandidate, MatchRun, RunState
from tests.factories import IndividualFactory, SightingFactory, SightingImageFactory

pytestmark = pytest.mark.django_db


def awaiting(org, *, observed, level, score, body_part="left_flank", station=None, location=None):
    sighting = SightingFactory(
        organization=org, status=SightingStatus.AWAITING_REVIEW, station=station, location=location,
        observed_at=datetime.fromisoformat(observed).replace(tzinfo=timezone.utc),
    )
    SightingImageFactory(sighting=sighting, body_part=body_part)
    run = MatchRun.objects.create(sighting=sighting, extractor="x", state=RunState.DONE)
    MatchCandidate.objects.create(run=run, individual=IndividualFactory(), rank=1, score=score, confidence=level)
    return sighting


@pytest.fixture
def queue(org_a, org_b):
    from catalog.models import CameraStation, Location

    area = Location.objects.create(name="Sarychat")
    other_area = Location.objects.create(name="Naryn")
    station = CameraStation.objects.create(location=area, code="SC-01", latitude=41.9, longitude=78.4)
    hidden = Location.objects.create(name="Hidden valley of B")
    return {
        "first": awaiting(org_a, observed="2024-03-01", level="excellent", score=9.0, station=station),
        "second": awaiting(org_a, observed="2023-06-10", level="uncertain", score=0.5, body_part="head", location=other_area),
        "third": awaiting(org_a, observed="2024-08-20", level="good", score=4.0),
        "of_b": awaiting(org_b, observed="2024-03-01", level="excellent", score=9.0, location=hidden),
        "station": station, "area": area,
    }


def order(html: str, sightings) -> list:
    found = [(html.index(f'data-sighting="{s.pk}"'), s) for s in sightings if f'data-sighting="{s.pk}"' in html]
    return [s for _, s in sorted(found, key=lambda pair: pair[0])]


def queue_html(client, **params):
    response = client.get(reverse("review_queue"), params)
    return response, response.content.decode()


def test_the_queue_shows_a_thumbnail_of_each_sighting(client, alice, queue):
    client.force_login(alice)
    _, html = queue_html(client)
    image = queue["first"].images.get()
    assert f'src="{reverse("image_thumb", args=[image.uuid])}?size=160"' in html


@pytest.mark.parametrize("sort, expected", [
    ("", ["first", "second", "third"]),  # oldest submitted first, as before
    ("newest", ["third", "second", "first"]),
    ("observed", ["third", "first", "second"]),
    ("observed_oldest", ["second", "first", "third"]),
    ("score", ["first", "third", "second"]),
])
def test_the_queue_sorts_by_whitelisted_orders(client, alice, queue, sort, expected):
    client.force_login(alice)
    _, html = queue_html(client, sort=sort) if sort else queue_html(client)
    assert order(html, [queue[k] for k in ("first", "second", "third")]) == [queue[k] for k in expected]


def test_an_unknown_order_is_refused_with_a_message_not_passed_to_the_database(client, alice, queue):
    client.force_login(alice)
    response, html = queue_html(client, sort="organization__name")
    assert response.status_code == 400 and "Unknown order" in html
    assert order(html, [queue[k] for k in ("first", "second", "third")]) == [queue[k] for k in ("first", "second", "third")]


@pytest.mark.parametrize("params, expected", [
    ({"level": "excellent"}, ["first"]),
    ({"level": "uncertain"}, ["second"]),
    ({"body_part": "head"}, ["second"]),
    ({"observed_from": "2024-01-01"}, ["first", "third"]),
    ({"observed_from": "2024-01-01", "observed_to": "2024-05-01"}, ["first"]),
])
def test_the_queue_filters_by_level_body_part_and_observation_dates(client, alice, queue, params, expected):
    client.force_login(alice)
    response, html = queue_html(client, **params)
    assert response.status_code == 200
    assert order(html, [queue[k] for k in ("first", "second", "third")]) == [queue[k] for k in expected]


def test_the_queue_filters_by_station_and_study_area(client, alice, queue):
    client.force_login(alice)
    _, html = queue_html(client, station=queue["station"].pk)
    assert order(html, [queue[k] for k in ("first", "second", "third")]) == [queue["first"]]
    # A station's sightings belong to its study area.
    _, html = queue_html(client, area=queue["area"].pk)
    assert order(html, [queue[k] for k in ("first", "second", "third")]) == [queue["first"]]


def test_bad_filter_values_say_what_is_wrong(client, alice, queue):
    client.force_login(alice)
    response, html = queue_html(client, observed_from="March", level="superb", station="SC-01")
    assert response.status_code == 400
    assert "is not a date" in html and "Unknown level" in html and "Unknown station or study area" in html


def test_the_queue_and_its_filters_stay_in_the_reviewers_organisations(client, alice, charlie, queue):
    client.force_login(alice)
    _, html = queue_html(client, level="excellent")
    assert f'data-sighting="{queue["of_b"].pk}"' not in html
    assert "Hidden valley of B" not in html  # another organisation's place is no filter option
    client.force_login(charlie)  # an org admin (so a reviewer) of B only
    _, html = queue_html(client)
    assert order(html, list(queue[k] for k in ("first", "second", "third", "of_b"))) == [queue["of_b"]]
    assert "Hidden valley of B" in html and "SC-01" not in html


def test_my_sightings_sorts_by_observation_date_and_ignores_unknown_orders(client, bob, queue):
    client.force_login(bob)
    mine = [queue[k] for k in ("first", "second", "third")]
    html = client.get(reverse("my_sightings"), {"sort": "observed"}).content.decode()
    assert order(html, mine) == [queue["third"], queue["first"], queue["second"]]
    html = client.get(reverse("my_sightings"), {"sort": "observed_oldest"}).content.decode()
    assert order(html, mine) == [queue["second"], queue["first"], queue["third"]]
    response = client.get(reverse("my_sightings"), {"sort": "-organization__name"})
    assert response.status_code == 200  # the default order, newest submitted first
    assert order(response.content.decode(), mine) == [queue["third"], queue["second"], queue["first"]]


def test_the_individual_list_sorts_by_code_name_or_newest(client, bob, org_a):
    for code, name in (("SL-002", "Ak"), ("SL-001", "Zhol"), ("SL-003", "Bars")):
        Individual.objects.create(code=code, name=name)
    client.force_login(bob)

    def codes(sort):
        html = client.get(reverse("individual_list"), {"sort": sort}).content.decode()
        return sorted(("SL-001", "SL-002", "SL-003"), key=html.index)

    assert codes("code") == ["SL-001", "SL-002", "SL-003"]
    assert codes("code_desc") == ["SL-003", "SL-002", "SL-001"]
    assert codes("name") == ["SL-002", "SL-003", "SL-001"]
    assert codes("newest") == ["SL-003", "SL-001", "SL-002"]
    assert codes("name; DROP TABLE") == ["SL-001", "SL-002", "SL-003"]
