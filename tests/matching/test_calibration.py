"""Calibration: fitted thresholds meet their precisions, levels are monotone, files round-trip."""

import json
import random

import pytest

from matching.engine.calibration import CALIBRATION_DIR, NEVER, Calibration, fit, fit_thresholds, load, save


def synthetic_samples(seed=0):
    """Right answers score higher than wrong ones, with overlap in the middle."""
    rng = random.Random(seed)
    right = [(rng.uniform(20, 200), True) for _ in range(300)]
    wrong = [(rng.uniform(0, 40), False) for _ in range(300)]
    return right + wrong


def test_fitted_levels_meet_their_stated_precision_on_the_fitting_data():
    samples = synthetic_samples()
    t = fit_thresholds(samples)
    assert t["excellent"] >= t["good"] >= t["fair"]
    bands = {"excellent": (t["excellent"], float("inf")), "good": (t["good"], t["excellent"]),
             "fair": (t["fair"], t["good"])}
    for name, target in (("excellent", 0.99), ("good", 0.95), ("fair", 0.80)):
        lo, hi = bands[name]
        band = [c for s, c in samples if lo <= s < hi]
        if band:
            assert sum(band) / len(band) >= target


def test_level_is_monotone_in_the_score():
    cal = Calibration(version="t", extractor="x", thresholds={"excellent": 50, "good": 30, "fair": 10},
                      likely_new_below=5)
    order = {"uncertain": 0, "fair": 1, "good": 2, "excellent": 3}
    levels = [order[cal.level(s / 2)] for s in range(0, 200)]
    assert levels == sorted(levels)
    assert cal.level(50) == "excellent" and cal.level(9.99) == "uncertain"
    assert cal.is_likely_new(4) and not cal.is_likely_new(5)


def test_a_level_no_band_can_support_is_never_given():
    # Right and wrong answers indistinguishable: no score band reaches 99 %.
    samples = [(float(s), s % 2 == 0) for s in range(100)]
    t = fit_thresholds(samples)
    assert all(s < t["excellent"] for s, _ in samples)


def test_fit_from_reports_records_what_it_was_fitted_on_and_round_trips(tmp_path):
    rng = random.Random(1)
    report = {"dataset": "toy", "ignore_boxes": False, "extractor_version": "1", "samples": []}
    for i in range(200):
        right = rng.random() < 0.8
        report["samples"].append({"eligible": True, "individual": "a", "top": "a" if right else "b",
                                  "top_score": rng.uniform(30, 100) if right else rng.uniform(0, 35),
                                  "best_wrong": rng.uniform(0, 30)})
    cal = fit([report], version="test-1", extractor="aliked")
    assert cal.fitted_on["sets"][0]["dataset"] == "toy" and cal.fitted_on["sets"][0]["eligible_queries"] == 200
    assert cal.likely_new_below <= cal.thresholds["fair"]
    path = save(cal, tmp_path)
    assert json.loads(path.read_text())["version"] == "test-1"
    again = load("test-1", folder=tmp_path)
    assert again.thresholds == cal.thresholds
    assert load(extractor="aliked", folder=tmp_path).version == "test-1"
    assert load(extractor="disk", folder=tmp_path) is None


def test_a_calibration_is_used_only_for_the_pair_score_it_was_fitted_on(tmp_path):
    def report(pair_version):
        samples = [{"eligible": True, "individual": "a", "top": "a", "top_score": float(i), "best_wrong": None}
                   for i in range(20)]
        return {"dataset": "toy", "pair_version": pair_version, "samples": samples}

    save(fit([report("1")], version="old", extractor="xfeat"), tmp_path)
    save(fit([report("2")], version="new", extractor="xfeat"), tmp_path)
    assert load(extractor="xfeat", pair_version="1", folder=tmp_path).version == "old"
    assert load(extractor="xfeat", pair_version="2", folder=tmp_path).version == "new"
    assert load(extractor="xfeat", pair_version="3", folder=tmp_path) is None
    legacy = fit([{"dataset": "toy", "samples": report("1")["samples"]}], version="legacy", extractor="sift")
    assert legacy.fitted_on["pair_version"] == "1"
    with pytest.raises(ValueError, match="different pair scores"):
        fit([report("1"), report("2")], version="mixed", extractor="xfeat")


def test_shipped_calibration_files_are_monotone_and_state_their_data():
    files = sorted(CALIBRATION_DIR.glob("*.json"))
    if not files:
        pytest.skip("no calibration file shipped yet")
    for path in files:
        cal = load(path.stem)
        t = cal.thresholds
        assert t["excellent"] >= t["good"] >= t["fair"], path
        assert cal.fitted_on["sets"] and cal.fitted_on["date"], path


def test_earned_levels_are_those_some_band_reached():
    cal = Calibration("v", "xfeat", {"excellent": NEVER, "good": 40.0, "fair": 20.0}, 1.0)
    assert cal.earned_levels == ["good", "fair"]
    assert Calibration("v", "xfeat", dict.fromkeys(("excellent", "good", "fair"), NEVER), 0.0).earned_levels == []


def _report(individuals: int, *, separated: bool, seed: int = 0) -> dict:
    rng = random.Random(seed)
    samples = []
    for k in range(individuals):
        for _ in range(30):
            right = rng.random() < 0.7
            if separated:
                score = rng.uniform(60, 100) if right else rng.uniform(0, 40)
            else:
                score = rng.uniform(0, 100)
            samples.append({"eligible": True, "individual": f"cat{k}", "top": f"cat{k}" if right else "other",
                            "top_score": score, "best_wrong": rng.uniform(0, 40) if separated else rng.uniform(0, 100)})
    return {"dataset": "toy", "pair_version": "a1", "mode": "accurate", "samples": samples, "encounter_samples": []}


def test_levels_are_judged_leave_one_individual_out_and_the_file_states_their_precision_and_count():
    cal = fit([_report(8, separated=True)], version="cv", extractor="aliked")
    assert cal.mode == "accurate"
    assert "excellent" in cal.earned_levels
    for name in cal.earned_levels:
        m = cal.measured[name]
        assert m["cross_validated"] and m["count"] >= 5 and m["precision"] >= {"excellent": 0.99, "good": 0.95, "fair": 0.8}[name]


def test_the_calibration_never_shows_a_level_that_its_file_does_not_earn():
    cal = fit([_report(8, separated=False, seed=3)], version="noise", extractor="aliked")
    assert cal.earned_levels == []
    assert {cal.level(s / 4) for s in range(0, 800)} == {"uncertain"}
    # And where some levels are earned, every score maps to an earned level or to Uncertain.
    good = fit([_report(8, separated=True, seed=4)], version="ok", extractor="aliked")
    shown = {good.level(s / 4) for s in range(0, 800)}
    assert shown <= set(good.earned_levels) | {"uncertain"}


def test_calibrations_are_kept_apart_by_mode(tmp_path):
    save(fit([_report(6, separated=True)], version="acc", extractor="aliked"), tmp_path)
    assert load(extractor="aliked", mode="accurate", folder=tmp_path).version == "acc"
    assert load(extractor="aliked", mode="fast", folder=tmp_path) is None
