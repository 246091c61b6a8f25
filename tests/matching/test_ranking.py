"""End-to-end ranking with the real extractor, LightGlue and verification on small synthetic images."""

import numpy as np
import pytest
from django.conf import settings

from matching.engine import calibration
from matching.engine.index import Entry, ShortlistIndex
from matching.engine.scoring import PAIR_VERSION, QueryImage, identify
from tests.matching.ranking_images import distorted_copy, rosette_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine():
    from matching.engine.evaluation_runner import build_engine

    # The product's settings, so that the shipped calibration applies to these scores.
    return build_engine(settings.MATCHING_DEFAULT_EXTRACTOR, device="cpu", max_keypoints=settings.MATCHING_MAX_KEYPOINTS)


@pytest.fixture(scope="module")
def catalog(engine):
    """Three individuals, two photos each (the second shifted), as features in a shortlist index."""
    feats, index = {}, None
    for ind in range(3):
        base = rosette_image(100 + ind)
        for k, img in enumerate((base, np.roll(base, 25, axis=1))):
            f = engine.extractor.extract(img)
            key = f"ind{ind}-{k}"
            feats[key] = f
            if index is None:
                index = ShortlistIndex(dim=f.descriptors.shape[1])
            index.add(Entry(key=key, individual=f"ind{ind}", image_size=f.image_size), f.descriptors, f.keypoints, f.scores)
    return index, feats


def run(engine, catalog, image, **kw):
    index, feats = catalog
    query = engine.extractor.extract(image)
    cal = calibration.load(extractor=engine.extractor.name, pair_version=PAIR_VERSION)
    return identify([QueryImage("q", query, **kw)], index, feats.__getitem__,
                    match_fn=engine.match_fn, verify_pair_fn=engine.verify_pair_fn,
                    likely_new_below=cal.likely_new_below if cal else 0.0)


def shipped_calibration(engine):
    cal = calibration.load(extractor=engine.extractor.name, pair_version=PAIR_VERSION)
    assert cal is not None, "no calibration file for the default extractor and pair score"
    # "Likely new" is never above Fair, so a score under it is below Fair too. The shipped file gives no
    # Fair at all (threshold 1e9: no score band earned it on the dev sets, see docs/benchmarks.md), so
    # these tests hold scores against the finite "likely new" threshold and against the source's score.
    assert cal.likely_new_below <= cal.thresholds["fair"]
    assert 0 < cal.likely_new_below < 1e6
    return cal


def test_a_rotated_rescaled_occluded_copy_ranks_its_source_first_and_unrelated_stay_below_fair(engine, catalog):
    result = run(engine, catalog, distorted_copy(rosette_image(101)))
    assert result.candidates[0].individual == "ind1"
    assert result.candidates[0].num_inliers >= 15
    assert all(result.candidates[0].score > 3 * max(other.score, 1.0) for other in result.candidates[1:])
    cal = shipped_calibration(engine)
    for other in result.candidates[1:]:
        assert other.score < cal.likely_new_below
        assert cal.level(other.score) == "uncertain"


def test_an_unrelated_pattern_scores_far_below_a_copy_and_stays_below_fair(engine, catalog):
    cal = shipped_calibration(engine)
    copy = run(engine, catalog, distorted_copy(rosette_image(101)))
    for seed in (999, 1234, 7):
        result = run(engine, catalog, rosette_image(seed))
        assert result.top_score < 0.1 * copy.top_score
        assert all(cal.level(c.score) == "uncertain" for c in result.candidates)


def test_the_source_is_not_likely_new(engine, catalog):
    cal = shipped_calibration(engine)
    result = run(engine, catalog, distorted_copy(rosette_image(101)))
    assert not result.likely_new
    assert result.top_score >= cal.likely_new_below


@pytest.mark.parametrize("image", [np.full((300, 400, 3), 128, np.uint8), np.full((6, 5, 3), 40, np.uint8)],
                         ids=["blank", "tiny"])
def test_an_image_without_keypoints_gives_a_clear_outcome(engine, catalog, image):
    result = run(engine, catalog, image)
    assert result.candidates == [] and result.likely_new
    assert "no keypoints" in result.reason
