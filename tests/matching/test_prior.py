"""The location prior: where each cat has been seen, fused with the pattern score."""

import math

import pytest
from django.core.files.base import ContentFile

from catalog.models import BodyPart, SightingStatus
from matching import services
from matching.engine.evaluation import Dataset, Item, Query, QueryRecord, summarize, with_location_prior
from matching.engine.prior import WEIGHTS, fit_weight, fuse, location_prior, rank1
from matching.models import MatchRun
from tests.factories import CameraStationFactory, IndividualFactory, SightingFactory, SightingImageFactory
from tests.matching.ranking_images import distorted_copy, jpeg, rosette_image


def test_the_station_s_resident_is_likeliest_and_no_cat_drops_to_zero():
    seen = [("a", "s1", "north"), ("a", "s1", "north"), ("b", "s2", "north"), ("c", "s9", "south")]
    p = location_prior(seen, station="s1", area="north", individuals=["a", "b", "c", "d"])
    assert p["a"] > p["b"] > p["c"] > 0 and p["d"] > 0
    assert math.isclose(sum(p.values()), 1.0)
    # A station nobody was seen at falls back to its study area, then to the whole catalog.
    p_area = location_prior(seen, station="new", area="north", individuals=["a", "b", "c"])
    assert p_area["a"] > p_area["b"] > p_area["c"]
    p_all = location_prior(seen, station=None, area=None, individuals=["a", "b", "c"])
    assert p_all["a"] > p_all["b"] == p_all["c"]


def test_strong_pattern_evidence_outranks_the_resident_and_weak_evidence_does_not():
    prior = {"resident": 0.8, "visitor": 0.2}
    strong = fuse({"resident": 0.0, "visitor": 12.0}, prior, weight=0.25)
    weak = fuse({"resident": 0.0, "visitor": 2.0}, prior, weight=0.25)
    assert max(strong, key=strong.get) == "visitor"
    assert max(weak, key=weak.get) == "resident"


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_a_clear_match_outranks_a_resident_seen_seven_times_as_often(mode):
    # The demo walkthrough's case: 238 verified matches (score 37) against a resident with none.
    fused = fuse({"match": 37.0, "resident": 0.0}, {"match": 0.08, "resident": 0.58}, WEIGHTS[mode])
    assert max(fused, key=fused.get) == "match"


def test_fit_weight_follows_the_evidence_that_names_the_truth():
    # The pattern names the truth and the prior does not: the fitted weight trusts the pattern.
    cases = [({"a": 5.0, "b": 0.0}, {"a": 0.3, "b": 0.7}, "a"), ({"a": 0.0, "b": 4.0}, {"a": 0.7, "b": 0.3}, "b")]
    grid = [0.0, 0.1, 1.0, 10.0]
    w = fit_weight(cases, grid)
    assert w == 10.0 and rank1(cases, w) == 1.0 and rank1(cases, 0.0) == 0.0
    # The prior names the truth and the pattern is noise: the weight goes to zero.
    cases = [({"a": 0.0, "b": 1.0}, {"a": 0.9, "b": 0.1}, "a"), ({"a": 1.0, "b": 0.0}, {"a": 0.1, "b": 0.9}, "b")]
    assert fit_weight(cases, grid) == 0.0


def _item(i, ind, enc, station):
    return Item(i, None, ind, "", enc, station, "", None)


def test_evaluation_ranks_with_the_prior_but_keeps_the_pattern_for_levels():
    items = (_item(0, "a", "e0", "R/S1/C1"), _item(1, "a", "e1", "R/S1/C1"), _item(2, "b", "e2", "R/S2/C1"),
             _item(3, "b", "e3", "R/S2/C1"))
    dataset = Dataset("toy", None, items)
    # Query 0 (cat a at S1) whose photos slightly favour b: the prior puts a first.
    record = QueryRecord(Query(0, "a", (1, 2, 3), True), {"a": 0.0, "b": 1.0}, 0.1,
                         confidence_scores={"a": 0.0, "b": 1.0})
    before = summarize([record])
    fused = with_location_prior(dataset, [record], weight=0.25)
    after = summarize(fused)
    assert before["rank1"] == 0.0 and after["rank1"] == 1.0
    # The level and "likely new" read the pattern score, not the fused one.
    assert fused[0].confidence("a") == 0.0 and fused[0].extra["prior"]["a"] > fused[0].extra["prior"]["b"]
    # Without a station (nyala) the photos alone rank.
    placeless = Dataset("toy", None, tuple(_item(i, ind, f"e{i}", "") for i, ind in enumerate("aab")))
    r = QueryRecord(Query(0, "a", (1, 2), True), {"a": 0.0, "b": 1.0}, 0.1)
    assert with_location_prior(placeless, [r], weight=0.25)[0].scores == {"a": 0.0, "b": 1.0}
    # The query's own encounter never counts as having been seen.
    own_only = Dataset("toy", None, (_item(0, "a", "e0", "R/S1/C1"), _item(1, "b", "e1", "R/S2/C1")))
    r = QueryRecord(Query(0, "a", (1,), False), {"a": 0.0, "b": 0.0}, 0.1)
    prior = with_location_prior(own_only, [r], weight=0.25)[0].extra["prior"]
    assert prior["a"] < prior["b"]


@pytest.fixture
def cpu_engine(settings):
    settings.MATCHING_DEVICE = "cpu"
    services._INDEXES.clear()
    services._FEATURES.data.clear()
    yield
    services._INDEXES.clear()


def _reference(org, individual, img, station):
    s = SightingFactory(organization=org, status=SightingStatus.IDENTIFIED, individual=individual, station=station,
                        location=station.location)
    return SightingImageFactory(sighting=s, file=ContentFile(jpeg(img), name="ref.jpg"), body_part=BodyPart.UNKNOWN)


@pytest.mark.slow
@pytest.mark.django_db
def test_a_run_ranks_the_station_s_resident_first_unless_told_not_to(org_a, cpu_engine):
    home, away = CameraStationFactory(organization=org_a), CameraStationFactory(organization=org_a)
    visitor = IndividualFactory()
    resident = IndividualFactory()  # created second: a tie on pattern alone would rank it last
    _reference(org_a, visitor, rosette_image(310), away)
    _reference(org_a, resident, rosette_image(311), home)
    _reference(org_a, resident, rosette_image(312), home)
    # A photo that matches nobody's pattern, at the resident's station.
    query = SightingFactory(organization=org_a, status=SightingStatus.IDENTIFYING, station=home, location=home.location)
    SightingImageFactory(sighting=query, file=ContentFile(jpeg(rosette_image(399)), name="q.jpg"))
    run = MatchRun.objects.create(sighting=query, extractor="", filters={"location_prior": True})
    services.identify_run(run=run)
    top = run.candidates.order_by("rank").first()
    assert top.individual == resident and top.station_sightings == 2 and top.prior > 0.5
    # Off: no prior is stored, and the order is the pattern's.
    run_off = MatchRun.objects.create(sighting=query, extractor="", filters={"location_prior": False})
    services.identify_run(run=run_off)
    assert all(c.prior is None for c in run_off.candidates.all())
    # A sighting with no station or study area: the photos alone, whatever the switch says.
    placeless = SightingFactory(organization=org_a, status=SightingStatus.IDENTIFYING, station=None, location=None)
    SightingImageFactory(sighting=placeless, file=ContentFile(jpeg(rosette_image(399)), name="q.jpg"))
    run_placeless = MatchRun.objects.create(sighting=placeless, extractor="", filters={"location_prior": True})
    services.identify_run(run=run_placeless)
    assert all(c.prior is None for c in run_placeless.candidates.all())


@pytest.mark.slow
@pytest.mark.django_db
def test_the_photos_still_win_against_the_resident_when_they_match(org_a, cpu_engine):
    home, away = CameraStationFactory(organization=org_a), CameraStationFactory(organization=org_a)
    visitor, resident = IndividualFactory(), IndividualFactory()
    _reference(org_a, visitor, rosette_image(320), away)
    for seed in (321, 322, 323):
        _reference(org_a, resident, rosette_image(seed), home)
    query = SightingFactory(organization=org_a, status=SightingStatus.IDENTIFYING, station=home, location=home.location)
    SightingImageFactory(sighting=query, file=ContentFile(jpeg(distorted_copy(rosette_image(320))), name="q.jpg"))
    run = MatchRun.objects.create(sighting=query, extractor="", filters={"location_prior": True})
    services.identify_run(run=run)
    assert run.candidates.order_by("rank").first().individual == visitor



def test_a_catalog_photo_of_unknown_body_part_is_compared_with_any_part():
    from matching.engine.evaluation import compatible

    assert compatible("left_flank", "unknown") and compatible("unknown", "right_flank") and compatible("", "head")
    assert not compatible("left_flank", "right_flank")


@pytest.mark.django_db
def test_the_results_page_says_the_prior_ranked_and_how_often_each_cat_was_seen_here(client, bob, org_a):
    from django.urls import reverse

    from matching.models import MatchCandidate, RunState

    station = CameraStationFactory(organization=org_a)
    sighting = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW, station=station,
                               location=station.location)
    query = SightingImageFactory(sighting=sighting)
    cat = IndividualFactory()
    run = MatchRun.objects.create(sighting=sighting, extractor="xfeat", state=RunState.DONE,
                                  filters={"location_prior": True})
    MatchCandidate.objects.create(run=run, individual=cat, rank=1, score=0.0, confidence="uncertain",
                                  query_image=query, prior=0.7, station_sightings=2)
    client.force_login(bob)
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'id="prior-note"' in page and "seen here 2 times" in page
    run.filters = {"location_prior": False}
    run.save()
    MatchCandidate.objects.filter(run=run).update(prior=None)
    page = client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert 'id="prior-note"' not in page and "seen here" not in page
