"""Evaluation protocol and metrics on tiny hand-made data; the real dev set only where present."""

import json
from pathlib import Path

import pytest

from matching.engine.evaluation import (
    DatasetError,
    Query,
    QueryRecord,
    compatible,
    pessimistic_rank,
    plan_queries,
    read_dataset,
    roc_auc,
    summarize,
)

DEV_SNOW = Path(__file__).resolve().parents[3] / "shared" / "data" / "reid-dev" / "snowleopard"
HEADER = "path,individual_id,body_part,encounter_id,station,datetime,latitude,longitude,bbox_x,bbox_y,bbox_w,bbox_h\n"


def write_labels(folder: Path, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    return folder


def test_compatible_follows_the_protocol_rule():
    assert compatible("left_flank", "left_flank")
    assert not compatible("left_flank", "right_flank")
    assert compatible("", "right_flank") and compatible("left_flank", "")


def test_plan_removes_same_encounter_and_incompatible_parts_and_marks_new_individuals(tmp_path):
    ds = read_dataset(write_labels(tmp_path / "set", [
        "images/a/1.jpg,a,left_flank,e1,,,,,,,,",
        "images/a/2.jpg,a,left_flank,e1,,,,,,,,",   # same encounter as 1: never its gallery
        "images/a/3.jpg,a,right_flank,e2,,,,,,,,",  # other side: incompatible with 1 and 2
        "images/a/4.jpg,a,,e3,,,,,10,20,30,40",     # unknown part: compatible with all
        "images/b/1.jpg,b,right_flank,e4,,,,,,,,",
    ]))
    assert ds.items[3].box == (10, 20, 30, 40) and ds.items[0].box is None
    plan = {q.index: q for q in plan_queries(ds)}
    assert plan[0].gallery == (3,)
    assert plan[2].gallery == (3, 4)
    assert plan[0].eligible and plan[2].eligible
    assert not plan[4].eligible  # b has no other image: a 'new individual' query


def test_max_queries_samples_reproducibly(tmp_path):
    rows = [f"images/a/{i}.jpg,a,,e{i},,,,,,,," for i in range(20)]
    ds = read_dataset(write_labels(tmp_path / "set", rows))
    first = [q.index for q in plan_queries(ds, max_queries=5, seed=3)]
    assert first == [q.index for q in plan_queries(ds, max_queries=5, seed=3)]
    assert len(first) == 5 and first != [q.index for q in plan_queries(ds, max_queries=5, seed=4)]


def test_reading_a_folder_without_labels_gives_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="labels.csv"):
        read_dataset(tmp_path)


def test_ties_are_broken_pessimistically():
    scores = {"a": 5.0, "b": 5.0, "c": 1.0}
    assert pessimistic_rank(scores, "a") == 2
    assert pessimistic_rank(scores, "b") == 2
    assert pessimistic_rank(scores, "c") == 3
    assert pessimistic_rank({"a": 1.0}, "z") == 2  # not ranked at all: after everyone


def test_auc_counts_ties_as_half():
    assert roc_auc([3, 4], [1, 2]) == 1.0
    assert roc_auc([1], [1]) == 0.5
    assert roc_auc([2, 1], [1.5]) == 0.5
    assert roc_auc([], [1]) is None


def _record(idx, truth, scores, eligible=True, seconds=1.0):
    return QueryRecord(Query(idx, truth, (), eligible), scores, seconds)


def test_summary_on_a_hand_made_score_table():
    records = [
        _record(0, "a", {"a": 9.0, "b": 1.0}),            # rank 1
        _record(1, "a", {"a": 3.0, "b": 3.0, "c": 5.0}),  # tie with b, behind c: rank 3
        _record(2, "b", {"a": 2.0, "b": 1.0}),            # rank 2
        _record(3, "c", {"a": 0.5}, eligible=False, seconds=3.0),  # new-individual query
    ]
    levels = {9.0: "excellent", 5.0: "fair", 2.0: "fair"}
    out = summarize(records, level_of=lambda s: levels.get(s, "uncertain"), likely_new_threshold=2.5)
    assert out["queries"] == 3 and out["new_individual_queries"] == 1
    assert out["rank1"] == pytest.approx(1 / 3)
    assert out["rank5"] == 1.0
    assert out["map"] == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)
    assert out["rank1_per_individual"] == {"a": 0.5, "b": 0.0}
    assert out["rank1_macro"] == pytest.approx(0.25)
    # known tops 9, 5, 2 vs new tops (true removed) 1, 5, 2: U = 1 + 2.5 + 2.5 ... over 9 pairs
    assert out["new_individual_auc"] == pytest.approx(roc_auc([9, 5, 2], [1, 5, 2]))
    assert out["new_cases_flagged"] == pytest.approx(2 / 3)  # 1 and 2 are below 2.5
    assert out["known_cases_flagged"] == pytest.approx(1 / 3)
    assert out["new_individual_queries_flagged"] == 1.0
    assert out["levels"]["excellent"] == {"count": 1, "precision": 1.0}
    assert out["levels"]["fair"] == {"count": 2, "precision": 0.0}
    assert out["levels"]["good"] == {"count": 0, "precision": None}
    assert out["median_query_seconds"] == 1.0


def test_levels_and_likely_new_use_the_score_the_product_thresholds_not_the_vote_tiebreak():
    # The engine ranks by score + a vote tie-break under 0.001 and thresholds the score alone:
    # "b" is ranked first on votes with no verified pair (score 0), "c" is the best wrong answer.
    rank = {"a": 0.0004, "b": 0.0009, "c": 0.0002}
    confidence = {"a": 0.0, "b": 0.0, "c": 0.0}
    record = QueryRecord(Query(0, "a", (), True), rank, 1.0, confidence_scores=confidence)
    assert record.top == ("b", 0.0) and record.best_wrong == 0.0
    out = summarize([record], level_of=lambda s: "fair" if s > 0.0005 else "uncertain", likely_new_threshold=0.0005)
    assert out["rank1"] == 0.0  # ranking still follows the tie-break
    assert out["levels"]["uncertain"]["count"] == 1 and out["levels"]["fair"]["count"] == 0
    assert out["known_cases_flagged"] == 1.0 and out["new_cases_flagged"] == 1.0
    # Without confidence scores the ranking scores are thresholded, as for the seed baseline.
    plain = summarize([QueryRecord(Query(0, "a", (), True), rank, 1.0)], likely_new_threshold=0.0005)
    assert plain["known_cases_flagged"] == 0.0 and plain["new_cases_flagged"] == 0.0


@pytest.mark.slow
@pytest.mark.devdata
@pytest.mark.django_db
def test_evaluate_command_on_a_few_real_queries_writes_the_issue_keys(tmp_path):
    if not (DEV_SNOW / "labels.csv").is_file():
        pytest.skip("reid-dev snow-leopard set not present")
    from django.core.management import call_command

    from catalog.models import Sighting

    out = tmp_path / "eval.json"
    # The project's feature cache (var/eval-cache) keeps reruns fast; the first run extracts the set.
    call_command("evaluate", str(DEV_SNOW), "--suggested-boxes", "--max-queries", "2", "--seed", "1", "--json", str(out))
    data = json.loads(out.read_text())
    for key in ("queries", "rank1", "rank5", "map", "rank1_macro", "rank1_per_individual", "new_individual_auc",
                "levels", "median_query_seconds", "extract_seconds_per_image"):
        assert key in data
    assert set(data["levels"]) == {"excellent", "good", "fair", "uncertain"}
    assert 0.0 <= data["rank1"] <= 1.0
    assert Sighting.objects.count() == 0  # writes nothing to the database


def _synthetic_set(folder: Path) -> Path:
    """Three individuals, two encounters each: the second is a rotated, rescaled, occluded copy."""
    from PIL import Image

    from tests.matching.textures import rosette_texture, warp_copy

    rows = []
    for n in range(3):
        coat = rosette_texture(320, seed=10 + n)
        copy, _ = warp_copy(coat, angle=15.0, scale=0.85)
        for enc, image in (("a", coat), ("b", copy)):
            rel = f"images/cat{n}/{enc}.jpg"
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / rel, quality=95)
            rows.append(f"{rel},cat{n},left_flank,cat{n}{enc},st{n},,,,,,,")
    return write_labels(folder, rows)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["default", "seed-baseline"])
def test_evaluate_command_runs_both_methods_end_to_end(tmp_path, method):
    from django.core.management import call_command

    data_dir = _synthetic_set(tmp_path / "set")
    out = tmp_path / "eval.json"
    call_command("evaluate", str(data_dir), "--extractor", "sift", "--method", method,
                 "--cache-dir", str(tmp_path / "cache"), "--json", str(out), verbosity=0)
    data = json.loads(out.read_text())
    assert data["method"] == method
    assert data["queries"] == 6
    # Each coat's other encounter is a distorted copy of it: both methods find it first.
    assert data["rank1"] == 1.0
    assert set(data["levels"]) == {"excellent", "good", "fair", "uncertain"}
    assert data["median_query_seconds"] is not None
    # The pattern score alone is reported next to the product's ranking; the seed never uses the prior.
    assert data["pattern_only"]["rank1"] == 1.0 and "encounter_rank1" in data["pattern_only"]
    assert data["location_prior"]["used"] is (method == "default")
    assert len(data["prior_cases"]) == 6 and set(data["prior_cases"][0]["prior"]) == {"cat0", "cat1", "cat2"}
    # Each case names its query and sighting, so that reports of several matchers line up (fuse_matchers.py).
    assert {c["query"] for c in data["prior_cases"]} == {s["query"] for s in data["samples"]}
    assert {c["encounter"] for c in data["encounter_prior_cases"]} == {"cat0a", "cat0b", "cat1a", "cat1b", "cat2a", "cat2b"}


@pytest.mark.django_db
def test_benchmark_command_times_the_shortlist_and_the_exhaustive_baseline(tmp_path):
    from django.core.management import call_command

    data_dir = _synthetic_set(tmp_path / "set")
    out = tmp_path / "bench.json"
    call_command("benchmark", "--dataset", str(data_dir), "--extractor", "sift", "--sizes", "10,40",
                 "--queries", "2", "--exhaustive-queries", "1", "--exhaustive-budget", "120", "--modes", "fast",
                 "--sightings", "2", "--frames", "1",
                 "--cache-dir", str(tmp_path / "cache"), "--json", str(out), stdout=open(tmp_path / "log", "w"))
    data = json.loads(out.read_text())
    assert set(data["sizes"]) == {"10", "40"}
    for size, row in data["sizes"].items():
        assert row["catalog_images"] == int(size)
        assert row["median_seconds"] > 0 and row["p95_seconds"] >= row["median_seconds"]
        # The baseline matched the query against every catalog image outside its own encounter.
        assert row["exhaustive_median_seconds"] is not None
        assert row["exhaustive_pairs_timed"] == int(size) - 1
    fast = data["modes"]["fast"]
    assert set(fast["sizes"]) == {"10", "40"}
    assert all(r["median_seconds"] > 0 and r["p95_seconds"] >= r["median_seconds"] for r in fast["sizes"].values())


def test_gallery_rows_are_catalog_only_and_never_become_queries(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "labels.csv").write_text(
        HEADER.rstrip("\n") + ",role\n"
        "images/a/1.jpg,a,,e1,,,,,,,,,gallery\n"
        "images/a/2.jpg,a,,e2,,,,,,,,,\n"
        "images/b/1.jpg,b,,e3,,,,,,,,,gallery\n"
    )
    ds = read_dataset(folder)
    queries = plan_queries(ds)
    assert [q.index for q in queries] == [1]
    assert set(queries[0].gallery) == {0, 2}  # gallery rows are still the catalog
    assert queries[0].eligible


def test_a_role_other_than_gallery_is_refused_with_its_line(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "labels.csv").write_text(HEADER.rstrip("\n") + ",role\nimages/a/1.jpg,a,,e1,,,,,,,,,query\n")
    with pytest.raises(DatasetError, match="labels.csv:2"):
        read_dataset(folder)


def test_sighting_level_fuses_the_frames_of_an_encounter_and_reports_coverage(tmp_path):
    from matching.engine.evaluation import encounter_records, summarize_encounters

    folder = write_labels(tmp_path / "set", [
        "images/a/1.jpg,a,,e1,,,,,,,,", "images/a/2.jpg,a,,e1,,,,,,,,", "images/a/3.jpg,a,,e2,,,,,,,,",
        "images/b/1.jpg,b,,e3,,,,,,,,",
    ])
    ds = read_dataset(folder)
    q = {x.index: x for x in plan_queries(ds)}
    # Frame 0 alone prefers b, frame 1 strongly prefers a: the encounter (sum) prefers a.
    records = [QueryRecord(q[0], {"a": 1.0, "b": 2.0}, 1.0), QueryRecord(q[1], {"a": 5.0, "b": 1.0}, 1.0)]
    enc = encounter_records(ds, records, fuse=sum)
    assert len(enc) == 1 and enc[0].scores == {"a": 6.0, "b": 3.0}
    out = summarize_encounters(enc, level_of=lambda s: "good" if s > 5 else "uncertain")
    assert out["encounters"] == 1 and out["encounter_rank1"] == 1.0
    assert out["encounter_coverage"]["good"] == {"share": 1.0, "precision": 1.0, "count": 1}
    assert out["encounter_coverage"]["excellent"]["share"] == 0.0



@pytest.mark.slow
@pytest.mark.django_db
def test_benchmark_times_a_sighting_in_accurate_mode_and_marks_the_default(tmp_path, settings):
    from django.core.management import call_command

    settings.MATCHING_DEFAULT_MODE = "accurate"
    data_dir = _synthetic_set(tmp_path / "set")
    out = tmp_path / "bench.json"
    call_command("benchmark", "--dataset", str(data_dir), "--extractor", "sift", "--sizes", "10", "--queries", "1",
                 "--exhaustive-queries", "0", "--modes", "fast,accurate", "--sightings", "1", "--frames", "1",
                 "--cache-dir", str(tmp_path / "cache"), "--json", str(out), stdout=open(tmp_path / "log", "w"))
    modes = json.loads(out.read_text())["modes"]
    assert modes["accurate"]["default"] is True and modes["fast"]["default"] is False
    assert modes["accurate"]["extractor"] == "aliked"
    row = modes["accurate"]["sizes"]["10"]
    assert row["median_seconds"] > 0 and row["median_pairs"] > 0


def test_pair_caches_of_two_processes_keep_each_others_pairs(tmp_path):
    import pickle

    from matching.engine.evaluation_runner import PairCache

    path = tmp_path / "pairs.pkl"
    first, second = PairCache(path), PairCache(path)  # opened before either saved, as two shards are
    first[(0, 1)] = (0.5, 1.0)
    second[(2, 3)] = (0.25, 1.0)
    first.save()
    second.save()
    assert pickle.loads(path.read_bytes()) == {(0, 1): (0.5, 1.0), (2, 3): (0.25, 1.0)}
    assert PairCache(path) == {(0, 1): (0.5, 1.0), (2, 3): (0.25, 1.0)}


@pytest.mark.django_db
def test_shards_split_the_sample_and_a_run_without_shard_reports_it_from_their_pairs(tmp_path, monkeypatch):
    from django.core.management import CommandError, call_command

    from matching.engine import evaluation_runner

    data_dir = _synthetic_set(tmp_path / "set")
    common = [str(data_dir), "--extractor", "sift", "--method", "seed-baseline", "--cache-dir", str(tmp_path / "cache")]
    ran = []
    for k in (0, 1):
        out = tmp_path / f"shard{k}.json"
        call_command("evaluate", *common, "--shard", f"{k}/2", "--json", str(out), verbosity=0)
        data = json.loads(out.read_text())
        assert data["shard"] == f"{k}/2" and data["queries"] == 3
        ran.append({s["query"] for s in data["samples"]})
    assert not ran[0] & ran[1] and len(ran[0] | ran[1]) == 6
    # Every pair is in the shared cache now: the whole-sample run matches nothing.
    calls = []
    real = evaluation_runner.run_seed_baseline

    def counting(dataset, queries, store, **kw):
        engine = store.engine
        match_fn, match_many_fn = engine.match_fn, engine.match_many_fn
        engine.match_fn = lambda *a: calls.append(a) or match_fn(*a)
        engine.match_many_fn = None if match_many_fn is None else (lambda *a: calls.append(a) or match_many_fn(*a))
        return real(dataset, queries, store, **kw)

    monkeypatch.setattr(evaluation_runner, "run_seed_baseline", counting)
    out = tmp_path / "all.json"
    call_command("evaluate", *common, "--json", str(out), verbosity=0)
    data = json.loads(out.read_text())
    assert data["queries"] == 6 and data["shard"] is None and data["rank1"] == 1.0
    assert calls == []
    with pytest.raises(CommandError, match="K/N"):
        call_command("evaluate", *common, "--shard", "2/2", verbosity=0)



@pytest.mark.django_db
def test_cached_only_reports_the_queries_a_stopped_shard_finished_and_matches_nothing(tmp_path, monkeypatch):
    from django.core.management import CommandError, call_command

    from matching.engine import matcher

    data_dir = _synthetic_set(tmp_path / "set")
    common = [str(data_dir), "--extractor", "sift", "--method", "seed-baseline", "--cache-dir", str(tmp_path / "cache")]
    call_command("evaluate", *common, "--shard", "0/2", "--json", str(tmp_path / "shard0.json"), verbosity=0)
    done = {s["query"] for s in json.loads((tmp_path / "shard0.json").read_text())["samples"]}

    def no_matching(*args, **kwargs):
        raise AssertionError("--cached-only matched a pair")

    monkeypatch.setattr(matcher, "match", no_matching)
    monkeypatch.setattr(matcher, "match_many", no_matching)
    out = tmp_path / "cached.json"
    call_command("evaluate", *common, "--cached-only", "--json", str(out), verbosity=0)
    data = json.loads(out.read_text())
    assert data["cached_only"] is True and data["queries"] == 3
    assert {s["query"] for s in data["samples"]} == done
    with pytest.raises(CommandError, match="seed-baseline"):
        call_command("evaluate", *common[:-4], "--cached-only", verbosity=0)


def test_a_pair_cache_travels_as_numbers_and_only_to_the_labels_it_was_made_from(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import pair_cache

    from matching.engine.evaluation_runner import PairCache

    data_dir = _synthetic_set(tmp_path / "set")
    cache = PairCache(tmp_path / "a" / "pairs.pkl")
    cache.update({(0, 1): (0.5, 2.0), (3, 2): (0.125, 1.5)})
    (tmp_path / "a").mkdir()
    cache.save()
    assert pair_cache.export(tmp_path / "a" / "pairs.pkl", data_dir, tmp_path / "pairs.csv") == 2
    text = (tmp_path / "pairs.csv").read_text()
    assert "images/" not in text and text.splitlines()[1] == "query,reference,score,seconds"
    # Into a fresh checkout's cache, merged with what it already holds.
    fresh = PairCache(tmp_path / "b" / "pairs.pkl")
    fresh[(5, 4)] = (0.75, 1.0)
    (tmp_path / "b").mkdir()
    fresh.save()
    assert pair_cache.import_(tmp_path / "pairs.csv", data_dir, tmp_path / "b" / "pairs.pkl") == 2
    assert PairCache(tmp_path / "b" / "pairs.pkl") == {(0, 1): (0.5, 2.0), (3, 2): (0.125, 1.5), (5, 4): (0.75, 1.0)}
    # A labels.csv with other rows would give the numbers to other images: refused.
    with (data_dir / "labels.csv").open("a") as fh:
        fh.write("images/cat0/a.jpg,cat9,left_flank,cat9a,st9,,,,,,,\n")
    with pytest.raises(SystemExit, match="another labels.csv"):
        pair_cache.import_(tmp_path / "pairs.csv", data_dir, tmp_path / "c" / "pairs.pkl")
    assert not (tmp_path / "c").exists()


@pytest.mark.django_db
@pytest.mark.slow
def test_a_match_head_is_fitted_from_the_accurate_cache_and_scores_each_cat_with_its_fold(tmp_path, monkeypatch, settings):
    import sys

    from django.core.management import CommandError, call_command

    from matching.engine import matcher

    settings.MATCHING_ACCURATE_EXTRACTOR = "sift"
    data_dir = _synthetic_set(tmp_path / "set")
    cache = str(tmp_path / "cache")
    common = [str(data_dir), "--mode", "accurate", "--cache-dir", cache]
    call_command("evaluate", *common, "--json", str(tmp_path / "plain.json"), verbosity=0)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import train_match_head

    head = tmp_path / "head.json"
    assert train_match_head.main([str(data_dir), "--cache-dir", cache, "--out", str(head)]) == 0
    folds = json.loads(head.read_text())["folds"]
    assert set(folds) == {"cat0", "cat1", "cat2"}

    def no_matching(*args, **kwargs):
        raise AssertionError("scoring with a head matched a pair again")

    monkeypatch.setattr(matcher, "match", no_matching)
    monkeypatch.setattr(matcher, "match_many", no_matching)
    out = tmp_path / "head-eval.json"
    call_command("evaluate", *common, "--match-head", str(head), "--json", str(out), verbosity=0)
    data = json.loads(out.read_text())
    assert data["match_head"]["folds"] == ["cat0", "cat1", "cat2"]
    assert data["queries"] == json.loads((tmp_path / "plain.json").read_text())["queries"]
    with pytest.raises(CommandError, match="--mode accurate"):
        call_command("evaluate", str(data_dir), "--mode", "fast", "--cache-dir", cache, "--match-head", str(head), verbosity=0)
    with pytest.raises(CommandError, match="fitted on sift"):
        call_command("evaluate", *common, "--extractor", "aliked", "--match-head", str(head), verbosity=0)
