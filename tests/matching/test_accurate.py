"""Accurate mode: burst foreground, soft pair score, sighting-level fusion (real ALIKED + LightGlue where marked)."""

import numpy as np
import pytest

from matching.engine.accurate import AccurateConfig, fuse, identify_accurate, shortlist_by_individual
from matching.engine.extractors import Features
from matching.engine.foreground import foreground, static_mask
from matching.engine.index import Entry, ShortlistIndex, Vote
from matching.engine.matcher import Matches
from matching.engine.scoring import QueryImage
from tests.matching.ranking_images import distorted_copy, rosette_image


@pytest.fixture(scope="module")
def aliked():
    from matching.engine.evaluation_runner import build_engine

    return build_engine("aliked", device="cpu", max_keypoints=1024)


def _burst(n_frames: int = 3):
    """A fixed textured scene and a textured 'animal' patch that walks across it."""
    scene = rosette_image(5, size=(480, 320))
    animal = rosette_image(77, size=(120, 90))
    frames, boxes = [], []
    for k in range(n_frames):
        frame = scene.copy()
        x, y = 40 + 140 * k, 150 - 30 * k
        frame[y : y + 90, x : x + 120] = animal
        frames.append(frame)
        boxes.append((x, y, 120, 90))
    return frames, boxes


@pytest.mark.slow
def test_the_burst_mask_keeps_keypoints_on_the_moving_animal_and_none_on_the_static_background(aliked):
    frames, boxes = _burst()
    feats = [aliked.extractor.extract(f, mask_bars=False) for f in frames]
    cleaned = foreground(feats)
    for f, c, (x, y, w, h) in zip(feats, cleaned, boxes):
        def within(pts, margin):
            return ((pts[:, 0] >= x - margin) & (pts[:, 0] < x + w + margin)
                    & (pts[:, 1] >= y - margin) & (pts[:, 1] < y + h + margin))

        # A descriptor sees tens of pixels around its keypoint (these 480-px frames are worked at 2x),
        # so the background right next to the animal changes with it: a 40-px halo is the animal's.
        halo = 40
        assert within(c.keypoints, halo).all(), f"{int((~within(c.keypoints, halo)).sum())} background keypoints survived"
        on_animal = within(f.keypoints, 0).sum()
        assert within(c.keypoints, 0).sum() >= 0.9 * on_animal, "the animal kept its keypoints"
        # The scene had most of the frame's keypoints before.
        assert (~within(f.keypoints, halo)).sum() > 3 * on_animal


def _features(points: np.ndarray, size=(400, 300), seed=0) -> Features:
    rng = np.random.default_rng(seed)
    desc = rng.normal(size=(len(points), 8)).astype(np.float32)
    return Features(keypoints=points.astype(np.float32), descriptors=desc, scores=np.ones(len(points), np.float32),
                    image_size=size, extractor="fake", version="1", prepared_keypoints=points.astype(np.float32),
                    prepared_size=size)


def test_a_frame_whose_keypoints_all_stay_put_is_kept_whole_rather_than_emptied():
    pts = np.random.default_rng(1).uniform(0, 300, (100, 2))
    a = _features(pts, seed=3)
    b = _features(pts, seed=3)  # the same keypoints and descriptors: a cat that sat still
    assert static_mask([a, b], 0).all()
    assert foreground([a, b])[0] is a


def test_the_shortlist_gives_every_frame_the_same_candidate_individuals():
    votes = [
        [Vote("a1", 5.0, "A"), Vote("c1", 4.0, "C"), Vote("a2", 3.0, "A"), Vote("a3", 2.0, "A"), Vote("b1", 1.0, "B")],
        [Vote("b2", 6.0, "B"), Vote("a4", 1.0, "A"), Vote("c2", 0.5, "C")],
    ]
    picked = shortlist_by_individual(votes, individuals=2, per_individual=2)
    # A (5 + 1) and B (1 + 6) are the sighting's candidates; C (4 + 0.5) is not.
    assert [v.key for v in picked[0]] == ["a1", "a2", "b1"]
    assert [v.key for v in picked[1]] == ["b2", "a4"]


def test_sighting_fusion_ranks_first_the_individual_two_of_three_frames_match():
    rng = np.random.default_rng(0)
    pts = rng.uniform(20, 380, (200, 2))
    frames = [QueryImage(f"q{i}", _features(pts + rng.normal(0, 0.2, pts.shape), seed=10 + i), station=f"s{i}")
              for i in range(3)]
    index = ShortlistIndex(dim=8)
    refs = {}
    for key, ind in (("refA", "A"), ("refB", "B")):
        f = _features(pts * 0.8 + 40.0, seed=20 if ind == "A" else 21)  # another pose: scaled, moved
        refs[key] = f
        index.add(Entry(key=key, individual=ind, image_size=f.image_size), f.descriptors, f.keypoints, f.scores)
    # Frames 0 and 1 match A moderately; frame 2 matches B a little more strongly than either.
    strength = {("q0", "refA"): 60, ("q1", "refA"): 60, ("q2", "refB"): 80}

    def match_fn(f0, f1):
        q = next(fr.key for fr in frames if fr.features is f0)
        r = next(k for k, f in refs.items() if f is f1)
        n = strength.get((q, r), 0)
        idx = np.arange(n)
        return Matches(idx, idx, np.full(n, 0.9, np.float32), "fake")

    result = identify_accurate(frames, index, refs.__getitem__, match_fn=match_fn,
                               config=AccurateConfig(individuals=5, per_individual=1))
    assert [c.individual for c in result.candidates[:2]] == ["A", "B"]
    # 60 matches at 0.9 each, on two of the three frames (MAGSAC may drop a noisy one).
    assert result.candidates[0].score == pytest.approx(fuse([54.0, 54.0], 3), rel=0.05)
    assert sum(e.score > 0 for e in result.candidates[0].evidence) == 2


def test_fusion_is_the_mean_over_the_sightings_frames():
    assert fuse([30.0, 30.0], 3) == pytest.approx(20.0)
    assert fuse([40.0], 3) < fuse([30.0, 30.0], 3)
    assert fuse([], 2) == 0.0


@pytest.mark.slow
def test_a_rotated_rescaled_occluded_copy_ranks_its_source_first_in_accurate_mode(aliked):
    index, feats = ShortlistIndex(dim=128), {}
    for ind in range(3):
        base = rosette_image(100 + ind)
        for k, img in enumerate((base, np.roll(base, 25, axis=1))):
            f = aliked.extractor.extract(img)
            feats[f"ind{ind}-{k}"] = f
            index.add(Entry(key=f"ind{ind}-{k}", individual=f"ind{ind}", image_size=f.image_size),
                      f.descriptors, f.keypoints, f.scores)
    query = aliked.extractor.extract(distorted_copy(rosette_image(101)))
    result = identify_accurate([QueryImage("q", query)], index, feats.__getitem__, match_fn=aliked.match_fn)
    assert result.candidates[0].individual == "ind1"
    assert all(result.candidates[0].score > 3 * max(c.score, 1.0) for c in result.candidates[1:])
    unrelated = identify_accurate([QueryImage("u", aliked.extractor.extract(rosette_image(999)))], index,
                                  feats.__getitem__, match_fn=aliked.match_fn)
    assert unrelated.top_score < 0.2 * result.top_score


def test_saturated_blobs_such_as_eyeshine_carry_no_keypoints():
    from matching.engine.extractors import off_saturated

    image = np.full((100, 100, 3), 90, np.uint8)
    image[40:46, 40:46] = 255  # a glowing eye
    points = np.array([[42.0, 43.0], [47.0, 43.0], [80.0, 80.0]])
    assert off_saturated(image, points).tolist() == [False, False, True]


@pytest.mark.slow
def test_a_match_head_weighs_each_verified_match_of_the_pair_score():
    from matching.engine.match_head import MatchHead

    rng = np.random.default_rng(0)
    pts = rng.uniform(20, 380, (200, 2))
    query = QueryImage("q", _features(pts + rng.normal(0, 0.2, pts.shape), seed=10), station="s0")
    ref = _features(pts * 0.8 + 40.0, seed=20)
    index = ShortlistIndex(dim=8)
    index.add(Entry(key="ref", individual="A", image_size=ref.image_size), ref.descriptors, ref.keypoints, ref.scores)
    idx = np.arange(60)

    def run(head):
        return identify_accurate([query], index, {"ref": ref}.__getitem__,
                                 match_fn=lambda f0, f1: Matches(idx, idx, np.full(60, 0.9, np.float32), "fake"),
                                 config=AccurateConfig(individuals=5, per_individual=1), match_head=head)

    plain = run(None).candidates[0].score
    half = run(MatchHead(np.zeros(8, np.float32), 0.0)).candidates[0].score  # sigmoid(0): every match counts half
    assert plain > 40 and half == pytest.approx(plain / 2, rel=1e-5)
    # A head keyed on the descriptors: the product of a match's two descriptors decides its weight.
    theta = np.zeros(8, np.float32)
    theta[0] = -1e4
    products = query.features.descriptors[:60] * ref.descriptors[:60]
    kept = products[:, 0] < 0  # these matches get weight ~1, the others ~0
    weighted = run(MatchHead(theta, 0.0)).candidates[0].score
    assert 0 < weighted < plain and kept.any() and not kept.all()
