"""Shortlist index: LNBNN voting, incremental add/remove, filters, static-background votes."""

import numpy as np

from matching.engine.index import Entry, ShortlistIndex, Vote, shortlist


def make_catalog(n_images=12, n_desc=80, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    index = ShortlistIndex(dim=dim, per_image=64)
    data = {}
    for i in range(n_images):
        desc = rng.normal(size=(n_desc, dim)).astype(np.float32)
        kpts = rng.uniform(0, 500, size=(n_desc, 2)).astype(np.float32)
        data[i] = (desc, kpts)
        index.add(Entry(key=i, individual=f"cat{i // 3}", body_part="left_flank" if i % 2 else "right_flank",
                        station=f"st{i % 4}"), desc, kpts, rng.uniform(size=n_desc))
    return index, data, rng


def noisy_copy(desc, kpts, rng, keep=40, noise=0.15):
    sel = rng.choice(len(desc), keep, replace=False)
    return desc[sel] + noise * rng.normal(size=(keep, desc.shape[1])).astype(np.float32), kpts[sel] + 50.0


def test_a_noisy_subset_of_an_image_votes_for_that_image_first():
    index, data, rng = make_catalog()
    qd, qk = noisy_copy(*data[5], rng)
    votes = index.search(qd, qk)
    assert votes[0].key == 5 and votes[0].individual == "cat1"
    assert votes[0].score > 3 * votes[1].score


def test_removed_images_never_come_back_and_added_ones_are_found_without_rebuilding():
    index, data, rng = make_catalog()
    qd, qk = noisy_copy(*data[5], rng)
    index.remove(5)
    assert len(index) == 11
    assert all(v.key != 5 for v in index.search(qd, qk))
    index.add(Entry(key="new", individual="cat9"), data[5][0], data[5][1])
    assert index.search(qd, qk)[0].key == "new"


def test_allowed_filter_excludes_images_before_voting():
    index, data, rng = make_catalog()
    qd, qk = noisy_copy(*data[5], rng)
    votes = index.search(qd, qk, allowed=lambda e: e.body_part == "right_flank")
    assert votes and all(index.entries[v.key].body_part == "right_flank" for v in votes)
    assert index.search(qd, qk, allowed=lambda e: False) == []


def test_same_station_votes_at_the_same_pixel_are_dropped_as_background():
    index, data, rng = make_catalog()
    desc, kpts = data[4]
    # Exact same descriptors at exactly the same pixels: a static background seen twice.
    static = index.search(desc[:40], kpts[:40], same_station=lambda e: e.station == "st0")
    moved = index.search(desc[:40], kpts[:40] + 100, same_station=lambda e: e.station == "st0")
    assert moved[0].key == 4
    static_score = {v.key: v.score for v in static}.get(4, 0.0)
    assert static[0].key != 4 and static_score < 0.1 * moved[0].score


def test_index_switches_to_an_inverted_file_when_large_and_still_finds_the_source():
    rng = np.random.default_rng(1)
    index = ShortlistIndex(dim=16, per_image=100, ivf_from=3000, nprobe=16)
    data = {}
    for i in range(60):
        desc = rng.normal(size=(100, 16)).astype(np.float32)
        data[i] = desc
        index.add(Entry(key=i, individual=i), desc, rng.uniform(0, 100, (100, 2)))
    qd = data[17][:50] + 0.05 * rng.normal(size=(50, 16)).astype(np.float32)
    votes = index.search(qd, np.zeros((50, 2)))
    assert type(index._index).__name__ == "IndexIVFFlat" and not index.training_due
    assert votes[0].key == 17


def test_a_grown_catalog_is_searched_with_the_old_inverted_file_until_sync_retrains_it():
    rng = np.random.default_rng(2)
    index = ShortlistIndex(dim=16, per_image=100, ivf_from=3000, nprobe=16)
    data = {}

    def add(i):
        data[i] = rng.normal(size=(100, 16)).astype(np.float32)
        index.add(Entry(key=i, individual=i), data[i], rng.uniform(0, 100, (100, 2)))

    for i in range(40):
        add(i)
    index.sync()
    trained = index._index
    for i in range(40, 170):  # 4,000 -> 17,000 descriptors: more than 4x
        add(i)
    assert index.training_due
    qd = data[150][:50] + 0.05 * rng.normal(size=(50, 16)).astype(np.float32)
    assert index.search(qd, np.zeros((50, 2)))[0].key == 150  # new rows joined the old index
    assert index._index is trained and index._index.ntotal == 17_000
    index.sync()
    assert index._index is not trained and not index.training_due
    assert index.search(qd, np.zeros((50, 2)))[0].key == 150


def test_empty_query_or_catalog_gives_no_votes():
    index, _, _ = make_catalog(n_images=2)
    assert index.search(np.zeros((0, 32), np.float32), np.zeros((0, 2))) == []
    assert ShortlistIndex(dim=32).search(np.ones((3, 32), np.float32), np.zeros((3, 2))) == []


def test_shortlist_caps_images_per_individual():
    votes = [Vote(k, 10 - k, "a" if k < 5 else "b") for k in range(8)]
    picked = shortlist(votes, images=4, per_individual=2)
    assert [v.key for v in picked] == [0, 1, 5, 6]
