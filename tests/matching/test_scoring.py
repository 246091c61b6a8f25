"""Ranking individuals from verified pairs (pure; a tiny fake matcher stands in for LightGlue)."""

from dataclasses import dataclass

import numpy as np

from matching.engine.index import Entry, ShortlistIndex
from matching.engine.scoring import QueryImage, combine, distinct_inliers, identify


@dataclass
class Feats:
    keypoints: np.ndarray
    descriptors: np.ndarray
    scores: np.ndarray
    image_size: tuple = (640, 480)


@dataclass
class FakeMatches:
    idx0: np.ndarray
    idx1: np.ndarray
    confidence: np.ndarray


@dataclass
class FakeVerified:
    inlier_mask: np.ndarray
    num_inliers: int


def fake_match(f0, f1):
    sim = f0.descriptors @ f1.descriptors.T
    nn = sim.argmax(1)
    ok = sim[np.arange(len(nn)), nn] > 0.9
    return FakeMatches(np.flatnonzero(ok), nn[ok], sim[np.arange(len(nn)), nn][ok].astype(np.float32))


def fake_verify(f0, f1, m, *, same_camera):
    keep = np.ones(len(m.idx0), bool)
    if same_camera:  # drop motionless correspondences, like verify.suppress_static
        keep = np.linalg.norm(f0.keypoints[m.idx0] - f1.keypoints[m.idx1], axis=1) >= 12
    return FakeVerified(keep, int(keep.sum()))


def pattern(rng, n=60, dim=32):
    d = rng.normal(size=(n, dim)).astype(np.float32)
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def feats(desc, rng, shift=0.0):
    return Feats(rng.uniform(50, 600, (len(desc), 2)).astype(np.float32) + shift, desc, np.ones(len(desc), np.float32))


def catalog(specs, rng):
    """specs: key -> (individual, body_part, location, station, descriptors)."""
    index = ShortlistIndex(dim=32)
    store = {}
    for key, (ind, part, loc, station, desc) in specs.items():
        f = feats(desc, rng)
        store[key] = f
        index.add(Entry(key=key, individual=ind, body_part=part, location=loc, station=station, image_size=f.image_size),
                  f.descriptors, f.keypoints, f.scores)
    return index, store


def run(queries, index, store, **kw):
    return identify(queries, index, store.__getitem__, match_fn=fake_match, verify_pair_fn=fake_verify, **kw)


def test_individuals_not_images_are_ranked_and_the_source_comes_first():
    rng = np.random.default_rng(0)
    a, b = pattern(rng), pattern(rng)
    index, store = catalog({1: ("A", "", 1, None, a), 2: ("A", "", 1, None, a[:30]), 3: ("B", "", 1, None, b)}, rng)
    result = run([QueryImage("q", feats(a[:45], rng))], index, store)
    assert [c.individual for c in result.candidates][:2] == ["A", "B"]
    assert len({c.individual for c in result.candidates}) == len(result.candidates)
    top = result.candidates[0]
    assert top.best.reference_key == 1 and top.num_inliers == 45
    assert top.best.matches.shape == (45, 4)
    assert result.candidates[1].score == 0.0 and not result.likely_new


def test_a_right_flank_is_never_compared_with_a_left_flank_but_unknown_is():
    rng = np.random.default_rng(1)
    a = pattern(rng)
    index, store = catalog({1: ("A", "left_flank", 1, None, a), 2: ("B", "", 1, None, a[:40])}, rng)
    right = run([QueryImage("q", feats(a, rng), body_part="right_flank")], index, store)
    assert [c.individual for c in right.candidates] == ["B"]
    left = run([QueryImage("q", feats(a, rng), body_part="left_flank")], index, store)
    assert left.candidates[0].individual == "A"


def test_location_filter_and_own_sighting_exclusion_go_through_allowed():
    rng = np.random.default_rng(2)
    a = pattern(rng)
    index, store = catalog({1: ("A", "", 1, None, a), 2: ("B", "", 2, None, a[:50])}, rng)
    result = run([QueryImage("q", feats(a, rng))], index, store, allowed=lambda e: e.location == 2)
    assert [c.individual for c in result.candidates] == ["B"]


def test_static_background_of_the_same_station_gives_no_evidence():
    rng = np.random.default_rng(3)
    bg = pattern(rng)
    ref = feats(bg, rng)
    index = ShortlistIndex(dim=32)
    index.add(Entry(key=1, individual="A", station="S1", image_size=ref.image_size), ref.descriptors, ref.keypoints)
    same_pixels = Feats(ref.keypoints.copy(), bg.copy(), np.ones(len(bg), np.float32), ref.image_size)
    result = identify([QueryImage("q", same_pixels, station="S1")], index, {1: ref}.__getitem__,
                      match_fn=fake_match, verify_pair_fn=fake_verify)
    assert all(c.score == 0 for c in result.candidates) and result.likely_new


def test_evidence_from_several_images_of_a_sighting_adds_up():
    rng = np.random.default_rng(4)
    a = pattern(rng)
    index, store = catalog({1: ("A", "", 1, None, a)}, rng)
    one = run([QueryImage("q1", feats(a[:20], rng))], index, store)
    two = run([QueryImage("q1", feats(a[:20], rng)), QueryImage("q2", feats(a[20:40], rng))], index, store)
    assert two.candidates[0].score > one.candidates[0].score
    assert combine([10.0, 4.0, 0.0]) == 12.0


def test_inliers_count_once_per_grid_cell_so_a_few_matched_blobs_are_no_evidence():
    rng = np.random.default_rng(8)
    a = pattern(rng, n=40)
    # 40 keypoints on 4 blobs of 10 (a few pixels apart), the same layout on both sides.
    blobs = np.repeat(np.array([[100, 100], [400, 120], [150, 380], [500, 400]], np.float32), 10, axis=0)
    blobs += rng.uniform(-4, 4, blobs.shape).astype(np.float32)
    clustered = Feats(blobs, a, np.ones(40, np.float32))
    index = ShortlistIndex(dim=32)
    index.add(Entry(key=1, individual="A", image_size=clustered.image_size), a, blobs)
    result = identify([QueryImage("q", Feats(blobs + 30, a, np.ones(40, np.float32)))], index, {1: clustered}.__getitem__,
                      match_fn=fake_match, verify_pair_fn=fake_verify)
    assert result.candidates[0].num_inliers == 40 and result.candidates[0].score == 0.0 and result.likely_new
    spread = feats(a, rng)
    index = ShortlistIndex(dim=32)
    index.add(Entry(key=1, individual="A", image_size=spread.image_size), a, spread.keypoints)
    result = identify([QueryImage("q", Feats(spread.keypoints + 30, a, np.ones(40, np.float32)))], index,
                      {1: spread}.__getitem__, match_fn=fake_match, verify_pair_fn=fake_verify)
    assert result.candidates[0].score > 30


def test_distinct_inliers_keep_the_strongest_correspondence_of_each_cell_on_both_sides():
    f0 = Feats(np.array([[10, 10], [12, 11], [300, 300], [310, 305]], np.float32), None, None, (640, 480))
    f1 = Feats(np.array([[50, 50], [400, 100], [200, 200], [600, 400]], np.float32), None, None, (640, 480))
    # Cell = 5 % of 640 = 32 px. Query points 0 and 1 share a cell, so do 2 and 3; reference points differ.
    kept = distinct_inliers(f0, f1, np.arange(4), np.arange(4), np.array([0.2, 0.9, 0.5, 0.4]))
    assert sorted(kept.tolist()) == [1, 2]
    # Two query cells matched into one reference cell count once as well.
    f1_same = Feats(np.array([[50, 50], [51, 52], [200, 200], [202, 201]], np.float32), None, None, (640, 480))
    kept = distinct_inliers(f0, f1_same, np.array([0, 2]), np.array([0, 1]), np.array([0.3, 0.6]))
    assert kept.tolist() == [1]
    assert distinct_inliers(f0, f1, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)).size == 0


def test_a_query_without_keypoints_gets_a_clear_outcome():
    rng = np.random.default_rng(5)
    index, store = catalog({1: ("A", "", 1, None, pattern(rng))}, rng)
    blank = Feats(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.float32), np.zeros(0, np.float32))
    result = run([QueryImage("q", blank)], index, store)
    assert result.candidates == [] and result.likely_new and "no keypoints" in result.reason
    empty = identify([QueryImage("q", feats(pattern(rng), rng))], ShortlistIndex(dim=32), {}.__getitem__,
                     match_fn=fake_match, verify_pair_fn=fake_verify)
    assert empty.candidates == [] and "catalog" in empty.reason


def test_below_the_likely_new_threshold_the_outcome_is_likely_new():
    rng = np.random.default_rng(6)
    a = pattern(rng)
    index, store = catalog({1: ("A", "", 1, None, a)}, rng)
    result = run([QueryImage("q", feats(a[:12], rng))], index, store, likely_new_below=100.0)
    assert result.candidates[0].score > 0 and result.likely_new


def test_batched_matching_gives_the_same_ranking_with_one_call_per_query_image():
    rng = np.random.default_rng(7)
    a, b, c = pattern(rng), pattern(rng), pattern(rng)
    index, store = catalog({1: ("A", "", 1, None, a), 2: ("B", "", 1, None, b), 3: ("C", "", 1, None, c[:40])}, rng)
    queries = [QueryImage("q1", feats(a[:40], rng)), QueryImage("q2", feats(c[:30], rng))]
    calls = []

    def many(query, refs):
        calls.append(len(refs))
        return [fake_match(query, r) for r in refs]

    def single_refused(f0, f1):
        raise AssertionError("every pair should have come from the batch")

    one_by_one = run(queries, index, store)
    steps = []
    batched = identify(queries, index, store.__getitem__, match_fn=single_refused, match_many_fn=many,
                       verify_pair_fn=fake_verify, progress=lambda stage, done, total: steps.append((done, total)))
    assert len(calls) == 2 and sum(calls) == batched.timings["pairs"]
    # Progress still advances batch by batch and ends complete.
    assert steps == sorted(steps) and steps[0][0] == 0 and steps[-1] == (sum(calls), sum(calls))
    assert [(x.individual, x.score, x.num_inliers) for x in batched.candidates] == \
        [(x.individual, x.score, x.num_inliers) for x in one_by_one.candidates]
