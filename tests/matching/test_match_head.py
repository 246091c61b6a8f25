"""The accurate mode's learned match head (matching/engine/match_head.py) on hand-made matches."""

import numpy as np
import pytest

from matching.engine import match_head as mh

DIM = 8
PATTERN, ROCK = 0, 1  # the descriptor direction of rosette matches, and of rock matches


def _matches(n, direction, rng):
    """n matches whose two descriptors agree along `direction` (unit vectors, products summing to ~1)."""
    d = np.full((n, DIM), 0.05, np.float32) + rng.normal(0, 0.01, (n, DIM)).astype(np.float32)
    d[:, direction] = 1.0
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return d * d, rng.uniform(0.5, 1.0, n).astype(np.float32)


def _frame(truth, others, rng):
    """The true cat's pair holds 10 pattern matches; each other cat's pair 25 rock matches, so the
    plain summed confidence puts a wrong cat first."""
    pairs = [mh.PairData(truth, *_matches(10, PATTERN, rng))]
    pairs += [mh.PairData(o, *_matches(25, ROCK, rng)) for o in others]
    return mh.FrameCase(truth, tuple(pairs))


def _plain_rank1(cases, head=None):
    right = 0
    for c in cases:
        best = {}
        for p in c.pairs:
            w = np.ones(len(p.confidence)) if head is None else head.weights_of_products(p.products)
            best[p.individual] = max(best.get(p.individual, 0.0), float((w * p.confidence).sum()))
        right += max(best, key=best.get) == c.truth
    return right


def test_the_head_learns_to_discount_matches_that_vote_for_wrong_cats():
    rng = np.random.default_rng(0)
    cats = ["a", "b", "c", "d"]
    cases = [_frame(cats[k % 4], [o for o in cats if o != cats[k % 4]][:2], rng) for k in range(24)]
    assert _plain_rank1(cases) == 0
    head = mh.fit(cases, l2=1e-4)
    assert _plain_rank1(cases, head) == len(cases)
    rock, pattern = (head.weights_of_products(_matches(1, d, rng)[0])[0] for d in (ROCK, PATTERN))
    assert rock < 0.4 * pattern  # 25 rock matches now weigh less than 10 pattern matches


def test_a_strong_penalty_keeps_the_plain_score():
    rng = np.random.default_rng(1)
    cases = [_frame("a", ["b"], rng), _frame("b", ["a"], rng)]
    head = mh.fit(cases, l2=1e6)
    assert np.abs(head.theta).max() < 1e-3
    w = head.weights_of_products(_matches(5, ROCK, rng)[0])
    assert np.allclose(w, w[0])  # every match weighed alike: the ranking of the plain score


def test_frames_whose_truth_was_not_shortlisted_teach_nothing():
    rng = np.random.default_rng(2)
    unreachable = [mh.FrameCase("z", (mh.PairData("a", *_matches(5, ROCK, rng)), mh.PairData("b", *_matches(5, PATTERN, rng))))]
    head = mh.fit(unreachable)
    assert not head.theta.any()


def test_a_fold_head_never_sees_the_held_out_cat(monkeypatch):
    rng = np.random.default_rng(3)
    cats = ["a", "b", "c"]
    by_cat = {c: [_frame(c, [o for o in cats if o != c], rng)] for c in cats}
    seen = {}

    def spy(cases, **kw):
        seen[len(seen)] = {p.individual for c in cases for p in c.pairs} | {c.truth for c in cases}
        return mh.MatchHead(np.zeros(DIM, np.float32), 0.0, 2.0)

    monkeypatch.setattr(mh, "fit", spy)
    heads = mh.leave_one_individual_out(by_cat)
    assert set(heads) == set(cats)
    for k, held in enumerate(cats):
        assert held not in seen[k] and seen[k] == set(cats) - {held}


def test_head_file_round_trip_and_fold_choice(tmp_path):
    a = mh.MatchHead(np.arange(DIM, dtype=np.float32), -1.0, 0.5)
    every = mh.MatchHead(np.zeros(DIM, np.float32), 2.0)
    path = tmp_path / "head.json"
    mh.HeadFile("aliked", "3", every, {"cat01": a}, {"frames": 3}).save(path)
    loaded = mh.HeadFile.load(path)
    assert np.allclose(loaded.head_for("cat01").theta, a.theta) and loaded.head_for("cat01").bias == -1.0
    assert loaded.head_for("cat01").scale == 0.5
    assert loaded.head_for("cat09") is loaded.all and loaded.head_for(None) is loaded.all
    bad = path.read_text().replace('"version": "h1"', '"version": "h0"')
    path.write_text(bad)
    with pytest.raises(ValueError, match="version"):
        mh.HeadFile.load(path)
