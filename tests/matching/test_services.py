"""Engine services with the database and storage: cached features, catalog index, identify_run."""

import numpy as np
import pytest
from django.core.files.base import ContentFile

from catalog.models import BodyPart, SightingStatus
from matching import services
from matching.models import FeatureSet, MatchRun
from tests.factories import IndividualFactory, LocationFactory, SightingFactory, SightingImageFactory
from tests.matching.ranking_images import distorted_copy, jpeg, rosette_image


@pytest.fixture(autouse=True)
def fresh_engine_state(settings):
    """Real weights on the CPU; each test starts with an empty per-process index and feature cache."""
    settings.MATCHING_DEVICE = "cpu"
    services._INDEXES.clear()
    services._FEATURES.data.clear()
    yield
    services._INDEXES.clear()


def reference(org, individual, img, *, body_part=BodyPart.UNKNOWN, location=None):
    s = SightingFactory(organization=org, status=SightingStatus.IDENTIFIED, individual=individual, location=location)
    return SightingImageFactory(sighting=s, file=ContentFile(jpeg(img), name="ref.jpg"), body_part=body_part)


def query_sighting(org, img, *, body_part=BodyPart.UNKNOWN):
    s = SightingFactory(organization=org, status=SightingStatus.IDENTIFYING)
    SightingImageFactory(sighting=s, file=ContentFile(jpeg(img), name="q.jpg"), body_part=body_part)
    return s


@pytest.mark.slow
@pytest.mark.django_db
def test_identify_run_ranks_the_source_individual_first_and_stores_candidates(org_a, org_b, charlie):
    cats = [IndividualFactory() for _ in range(3)]
    for i, cat in enumerate(cats):
        reference(org_b if i == 2 else org_a, cat, rosette_image(200 + i))
    sighting = query_sighting(org_a, distorted_copy(rosette_image(201)))
    run = MatchRun.objects.create(sighting=sighting, extractor="", filters={})
    seen = []
    services.identify_run(run=run, progress=lambda stage, i, n: seen.append(stage))
    run.refresh_from_db()
    top = run.candidates.order_by("rank").first()
    assert top.individual == cats[1] and top.num_inliers > 0 and top.matches
    assert top.query_image == sighting.images.get() and top.reference_image.sighting.individual == cats[1]
    assert not run.likely_new and run.top_score == pytest.approx(top.score)
    assert "extracting" in seen and "matching" in seen
    assert run.calibration_version
    # The sighting's own images are never their own reference; a rerun replaces the candidates.
    services.identify_run(run=run)
    assert run.candidates.filter(rank=1).count() == 1


@pytest.mark.slow
@pytest.mark.django_db
def test_body_part_and_location_filters_restrict_the_candidates(org_a):
    here, there = LocationFactory(), LocationFactory()
    left_cat, right_cat = IndividualFactory(), IndividualFactory()
    img = rosette_image(300)
    reference(org_a, left_cat, img, body_part=BodyPart.LEFT_FLANK, location=here)
    reference(org_a, right_cat, np.roll(img, 30, axis=1), body_part=BodyPart.RIGHT_FLANK, location=there)
    sighting = query_sighting(org_a, distorted_copy(img, angle=10), body_part=BodyPart.RIGHT_FLANK)
    run = MatchRun.objects.create(sighting=sighting, extractor="", filters={})
    services.identify_run(run=run)
    assert {c.individual for c in run.candidates.all()} <= {right_cat}
    run = MatchRun.objects.create(sighting=sighting, extractor="", filters={"locations": [here.pk]})
    services.identify_run(run=run)
    assert run.candidates.count() == 0 and run.likely_new


@pytest.mark.slow
@pytest.mark.django_db
def test_features_are_cached_and_a_version_bump_or_new_box_recomputes_them(org_a, monkeypatch):
    image = reference(org_a, IndividualFactory(), rosette_image(400))
    first = services.features_extract(image=image)
    assert services.features_extract(image=image).pk == first.pk
    ex = services._extractor(first.extractor, "cpu")
    monkeypatch.setattr(ex, "version", ex.version + "-bumped")  # what an extractor upgrade does
    bumped = services.features_extract(image=image)
    assert bumped.pk != first.pk and bumped.version.endswith("-bumped")
    assert FeatureSet.objects.filter(image=image).count() == 1
    image.box_x, image.box_y, image.box_w, image.box_h = 10, 10, 200, 150
    image.save()
    boxed = services.features_extract(image=image)
    assert boxed.pk != bumped.pk and boxed.box == "10,10,200,150"


@pytest.mark.slow
@pytest.mark.django_db
def test_a_blank_query_image_ends_likely_new_without_candidates(org_a):
    reference(org_a, IndividualFactory(), rosette_image(500))
    sighting = query_sighting(org_a, np.full((200, 300, 3), 128, np.uint8))
    run = MatchRun.objects.create(sighting=sighting, extractor="", filters={})
    services.identify_run(run=run)
    run.refresh_from_db()
    assert run.candidates.count() == 0 and run.likely_new and run.top_score is None


@pytest.mark.slow
@pytest.mark.django_db
def test_catalog_index_add_makes_a_new_reference_findable_in_this_worker(org_a):
    first = IndividualFactory()
    reference(org_a, first, rosette_image(600))
    warm = MatchRun.objects.create(sighting=query_sighting(org_a, rosette_image(601)), extractor="", filters={})
    services.identify_run(run=warm)  # builds this process's index
    newcomer = IndividualFactory()
    added = reference(org_a, newcomer, rosette_image(602))
    services.catalog_index_add(sighting=added.sighting)
    run = MatchRun.objects.create(sighting=query_sighting(org_a, distorted_copy(rosette_image(602))), extractor="", filters={})
    services.identify_run(run=run)
    assert run.candidates.order_by("rank").first().individual == newcomer


def test_available_extractors_say_which_can_run_and_why_not():
    rows = {r["name"]: r for r in services.available_extractors()}
    assert {"sift", "disk", "aliked", "xfeat", "superpoint"} <= set(rows)
    assert rows["sift"]["usable"]
    if not rows["superpoint"]["usable"]:
        assert "superpoint" in rows["superpoint"]["reason"].lower()
    assert all(r["licence"] for r in rows.values())


def test_catalog_index_train_trains_only_a_due_index_of_the_named_extractor():
    from matching.engine.index import Entry, ShortlistIndex

    rng = np.random.default_rng(0)

    def large_index():
        index = ShortlistIndex(dim=8, per_image=100, ivf_from=1000)
        for i in range(20):
            index.add(Entry(key=i, individual=i), rng.normal(size=(100, 8)).astype(np.float32), np.zeros((100, 2)))
        return index

    services._INDEXES[("xfeat", "v1")] = xfeat = large_index()
    services._INDEXES[("aliked", "v1")] = aliked = large_index()
    services.catalog_index_train(extractor="xfeat")
    assert not xfeat.training_due and type(xfeat._index).__name__ == "IndexIVFFlat"
    assert aliked.training_due and aliked._index is None
