"""Calibrated fusion of matchers (matching/engine/fusion.py) on hand-made cases."""

import random

import numpy as np

from matching.engine import fusion

CATS = ["a", "b", "c", "d"]


def _cases(n=40, seed=0):
    """Matcher 0 gives the true cat 1 more on average; matcher 1 is noise; the prior is flat."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        truth = CATS[k % len(CATS)]
        good = {i: rng.gauss(1.0 if i == truth else 0.0, 0.5) for i in CATS}
        noise = {i: rng.gauss(0.0, 1.0) for i in CATS}
        out.append(fusion.Case(scores=(good, noise), prior={i: 0.25 for i in CATS}, truth=truth))
    return out


def test_rank1_breaks_ties_pessimistically():
    tie = fusion.Case(scores=({"a": 1.0, "b": 1.0},), prior={"a": 0.5, "b": 0.5}, truth="a")
    assert fusion.rank1([tie], lambda c: dict(c.scores[0])) == 0.0


def test_platt_calibration_rises_with_the_score_and_stays_finite_when_separated():
    a, b = fusion.fit_platt([0, 0, 0, 1, 5, 6], [False, False, False, False, True, True])
    assert a > 0 and np.isfinite(a) and np.isfinite(b)
    p = lambda s: 1 / (1 + np.exp(-(a * s + b)))  # noqa: E731
    assert p(0) < 0.5 < p(6)


def test_the_logit_weighs_the_informative_matcher_and_not_the_noise():
    w = fusion.fit_logit(_cases(), with_prior=False)
    assert w[0] > 1.0 and w[1] < 0.3 * w[0]
    assert (w >= 0).all()


def test_the_logit_lets_a_strong_prior_stand_when_the_photos_say_nothing():
    rng = random.Random(1)
    cases = []
    for k in range(30):
        truth = CATS[k % 2]  # a and b live here; the prior knows it
        prior = {"a": 0.45, "b": 0.45, "c": 0.05, "d": 0.05}
        prior[truth] += 0.3
        cases.append(fusion.Case(scores=({i: rng.gauss(0, 1) for i in CATS},), prior=prior, truth=truth))
    assert fusion.fit_logit(cases)[0] < 0.2
    assert fusion.rank1(cases, fusion.logit_rank(fusion.fit_logit(cases))) >= 0.9


def test_fusion_beats_the_noise_and_the_calibrated_mean_ranks_by_probability():
    cases = _cases()
    noise_alone = fusion.rank1(cases, lambda c: dict(c.scores[1]))
    r1, macro, n = fusion.leave_one_individual_out(cases, lambda rest: fusion.fit_logit(rest, with_prior=False),
                                                   lambda w: fusion.logit_rank(w, with_prior=False))
    assert n == len(cases) and r1 > noise_alone + 0.3 and 0 < macro <= 1
    r1_mean, _, _ = fusion.leave_one_individual_out(cases, fusion.fit_calibrations, fusion.calibrated_mean)
    assert r1_mean > noise_alone


def test_leave_one_individual_out_never_fits_on_the_cat_it_ranks():
    cases = _cases(12)
    seen = []

    def fit(rest):
        seen.append({c.truth for c in rest})
        return fusion.fit_logit(rest, with_prior=False)

    fusion.leave_one_individual_out(cases, fit, lambda w: fusion.logit_rank(w, with_prior=False))
    assert sorted(map(sorted, seen)) == sorted(sorted(set(CATS) - {cat}) for cat in CATS)


def test_the_script_lines_up_reports_by_query_and_uses_only_queries_in_all(tmp_path, capsys):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import fuse_matchers

    cases = _cases(16)
    reports = []
    for m, mode in enumerate(("fast", "accurate")):
        rows = [{"query": f"q{k}.jpg", "encounter": f"e{k}", "individual": c.truth, "pattern": c.scores[m],
                 "prior": c.prior} for k, c in enumerate(cases)]
        if m == 1:
            rows = rows[:-2]  # the second report stopped early: two queries are not in both
        path = tmp_path / f"{mode}.json"
        used = {"used": m == 0, "weight": 0.25 if m == 0 else None}
        path.write_text(json.dumps({"method": "default", "mode": mode, "location_prior": used, "prior_cases": rows[::-1],
                                    "encounter_prior_cases": rows}))
        reports.append(str(path))
    names, lined_up, weights = fuse_matchers.load_cases(reports, "images")
    assert names == ["fast", "accurate"] and len(lined_up) == 14 and weights == [0.25, None]
    assert all(c.scores == cases[int(q)].scores for c, q in zip(lined_up, sorted(str(k) for k in range(14))))
    assert fuse_matchers.main([*reports, "--level", "sightings"]) == 0
    out = capsys.readouterr().out
    assert "sightings: 14 queries in every report" in out and "WildFusion" in out
    assert "fast + location prior at the shipped weight 0.25" in out and "accurate + location prior at" not in out
