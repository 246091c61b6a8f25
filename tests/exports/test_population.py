"""Golden tests of catalog.population on a small example checked by hand (numbers in the comments)."""

from datetime import date

import pytest

from catalog.population import (
    chao_mh_estimate,
    m0_estimate,
    m0_loglik,
    occasions_for,
    summarise,
    usage_days,
)

# Six individuals over K = 5 occasions: caught 1, 1, 1, 2, 2 and 3 times.
# M = 6 individuals, n = 10 captures, f1 = 3, f2 = 2, f3 = 1.
HISTORIES = {"a": {0}, "b": {1}, "c": {2}, "d": {0, 1}, "e": {3, 4}, "f": {0, 2, 4}}

def test_summary_counts_individuals_captures_and_frequencies():
    s = summarise(HISTORIES, 5)
    assert (s.individuals, s.captures, s.frequencies) == (6, 10, {1: 3, 2: 2, 3: 1})

def test_m0_likelihood_matches_the_hand_computed_values():
    # lnL(N) = ln N!/(N-6)! + 10 ln p + (5N - 10) ln(1 - p), p = 10 / 5N
    # N = 6: ln 720 + 10 ln(1/3) + 20 ln(2/3)       = 6.5793 - 10.9861 - 8.1093 = -12.516
    # N = 7: ln 5040 + 10 ln(2/7) + 25 ln(5/7)      = 8.5252 - 12.5276 - 8.4118 = -12.414
    # N = 8: ln 20160 + 10 ln(1/4) + 30 ln(3/4)     = 9.9115 - 13.8629 - 8.6305 = -12.582
    assert m0_loglik(6, 10, 6, 5) == pytest.approx(-12.516, abs=1e-3)
    assert m0_loglik(7, 10, 6, 5) == pytest.approx(-12.414, abs=1e-3)
    assert m0_loglik(8, 10, 6, 5) == pytest.approx(-12.582, abs=1e-3)

def test_m0_estimate_is_the_likelihood_maximum_with_a_profile_interval():
    est = m0_estimate(summarise(HISTORIES, 5))
    assert est.n_hat == 7 and est.p_hat == pytest.approx(10 / 35)
    # The interval keeps N with 2 (lnL(7) - lnL(N)) <= 3.841: the lower end is M = 6 itself,
    # and N = 14 is inside while 15 is outside.
    assert est.lower == 6 and est.upper == 14
    best = m0_loglik(7, 10, 6, 5)
    assert 2 * (best - m0_loglik(14, 10, 6, 5)) <= 3.841 < 2 * (best - m0_loglik(15, 10, 6, 5))
    assert any("Closed population" in a for a in est.assumptions)

def test_chao_mh_matches_the_hand_computed_estimate_and_interval():
    # a = (K-1)/K = 0.8; f0 = a f1 (f1-1) / (2 (f2+1)) = 0.8 * 3 * 2 / 6 = 0.8 -> N = 6.8
    # var = 0.8 + 0.64*3*25/36 + 0.64*9*2*4/324 = 0.8 + 1.33333 + 0.14222 = 2.27556
    # C = exp(1.96 sqrt(ln(1 + 2.27556/0.64))) = exp(1.96 * 1.23140) = 11.1726
    # interval = [6 + 0.8/C, 6 + 0.8 C] = [6.0716, 14.938]
    est = chao_mh_estimate(summarise(HISTORIES, 5))
    assert est.n_hat == pytest.approx(6.8)
    assert est.lower == pytest.approx(6.0716, abs=1e-3)
    assert est.upper == pytest.approx(14.938, abs=1e-2)

def test_estimates_refuse_data_without_recaptures_or_occasions():
    no_recaptures = summarise({"a": {0}, "b": {1}}, 3)
    assert m0_estimate(no_recaptures).n_hat is None
    assert "recapture" in m0_estimate(no_recaptures).note
    assert m0_estimate(summarise({}, 3)).n_hat is None
    assert chao_mh_estimate(summarise({"a": {0}}, 1)).n_hat is None

def test_occasions_cover_the_period_and_usage_counts_operating_days():
    occ = occasions_for(date(2024, 1, 1), date(2024, 1, 10), 4)
    assert [(o.start.day, o.end.day) for o in occ] == [(1, 4), (5, 8), (9, 10)]
    assert usage_days([(date(2024, 1, 3), date(2024, 1, 9))], occ) == [2, 4, 1]
    assert usage_days([(None, None)], occ) == [4, 4, 2]
    assert usage_days([(date(2024, 2, 1), None)], occ) == [0, 0, 0]
    # Down from the 4th to the 7th, set up again on the 8th: two periods, their days summed.
    assert usage_days([(date(2024, 1, 1), date(2024, 1, 3)), (date(2024, 1, 8), None)], occ) == [3, 1, 2]
    assert occ[2].days == 2
    with pytest.raises(ValueError):
        occasions_for(date(2024, 1, 2), date(2024, 1, 1), 1)
