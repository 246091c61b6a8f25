"""Closed-population abundance from capture histories. Pure functions (no ORM, no settings).

A capture history here is {individual: set of occasion indices (0-based) it was detected on}.
Two estimators, both for a closed population (no births, deaths, immigration or emigration
during the period) with individuals that are always identified correctly:

- Model M0 (Otis et al. 1978): every individual has the same detection probability p on every
  occasion. Maximum-likelihood N with a profile-likelihood 95 % interval.
- Chao's Mh (Chao 1987, bias-corrected form): detection probability may differ between
  individuals (heterogeneity); uses only the number caught once (f1) and twice (f2).
  Log-normal 95 % interval as in Chao (1987) / EstimateS. Tends to a lower bound when
  heterogeneity is strong.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

# Marks the texts for makemessages only; the page translates them when it shows them.
from django.utils.translation import gettext_noop as N_

CHI2_1_95 = 3.841458820694124  # chi-square quantile, 1 df, 95 %
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Occasion:
    index: int
    start: date  # inclusive
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def occasions_for(start: date, end: date, length_days: int) -> list[Occasion]:
    """Consecutive occasions of `length_days` days from `start` to `end` (both inclusive); the last may be shorter."""
    if length_days < 1:
        raise ValueError("occasion length must be at least one day")
    if end < start:
        raise ValueError("the period ends before it starts")
    out, day, i = [], start, 0
    while day <= end:
        last = min(end, day + timedelta(days=length_days - 1))
        out.append(Occasion(i, day, last))
        day, i = last + timedelta(days=1), i + 1
    return out


def occasion_of(day: date, occasions: list[Occasion]) -> int | None:
    for occ in occasions:
        if occ.start <= day <= occ.end:
            return occ.index
    return None


def usage_days(periods: list[tuple[date | None, date | None]], occasions: list[Occasion]) -> list[int]:
    """Days the station operated within each occasion, summed over its operating periods
    (CameraStation.effort_periods, which do not overlap); an open end counts as operating."""
    out = []
    for occ in occasions:
        days = 0
        for operating_from, operating_to in periods:
            lo = max(occ.start, operating_from) if operating_from else occ.start
            hi = min(occ.end, operating_to) if operating_to else occ.end
            days += max(0, (hi - lo).days + 1)
        out.append(days)
    return out


@dataclass(frozen=True)
class CaptureSummary:
    occasions: int  # K
    individuals: int  # M(t+1): distinct individuals detected
    captures: int  # n: individual-occasion detections (an individual counts once per occasion)
    frequencies: dict[int, int]  # f_k: number of individuals detected on exactly k occasions


def summarise(histories: dict, occasions: int) -> CaptureSummary:
    freq = Counter(len(set(occ)) for occ in histories.values() if occ)
    return CaptureSummary(
        occasions=occasions,
        individuals=sum(freq.values()),
        captures=sum(k * f for k, f in freq.items()),
        frequencies=dict(sorted(freq.items())),
    )


@dataclass(frozen=True)
class Estimate:
    model: str
    n_hat: float | None  # None when the data can't support an estimate
    lower: float | None
    upper: float | None
    p_hat: float | None = None  # per-occasion detection probability (M0)
    note: str = ""
    assumptions: list[str] = field(default_factory=list)


CLOSED = N_("Closed population: no births, deaths or movements in or out during the period.")
IDENTIFIED = N_("Every detection is assigned to the right individual (no misidentification).")
INDEPENDENT = N_("Detections of different individuals are independent.")


def m0_loglik(n: int, captures: int, individuals: int, occasions: int) -> float:
    """Profile log-likelihood of N under M0 (p at its conditional MLE), up to a constant."""
    if n < individuals:
        return -math.inf
    trials = n * occasions
    p = captures / trials
    value = math.lgamma(n + 1) - math.lgamma(n - individuals + 1) + captures * math.log(p)
    if trials > captures:
        value += (trials - captures) * math.log1p(-p)
    return value


def m0_estimate(summary: CaptureSummary, max_factor: int = 200) -> Estimate:
    """Maximum-likelihood N under M0 with a profile-likelihood 95 % interval (integer N)."""
    assumptions = [CLOSED, IDENTIFIED, INDEPENDENT, N_("Same detection probability for every individual and occasion (M0).")]
    m, n, k = summary.individuals, summary.captures, summary.occasions
    if m == 0:
        return Estimate("M0", None, None, None, note=N_("No individuals detected."), assumptions=assumptions)
    if k < 2:
        return Estimate("M0", None, None, None, note=N_("At least two occasions are needed."), assumptions=assumptions)
    if n == m:
        return Estimate("M0", None, None, None, note=N_("No recaptures: abundance can't be estimated."), assumptions=assumptions)
    limit = max(m * max_factor, m + 1000)
    values = [(size, m0_loglik(size, n, m, k)) for size in range(m, limit + 1)]
    best_n, best = max(values, key=lambda item: item[1])
    inside = [size for size, value in values if 2 * (best - value) <= CHI2_1_95]
    upper = max(inside)
    note = ""
    if upper == limit:
        note = N_("The upper limit of the interval was not reached in the search; the data say little about N.")
    return Estimate("M0", float(best_n), float(min(inside)), float(upper), p_hat=n / (best_n * k), note=note, assumptions=assumptions)


def chao_mh_estimate(summary: CaptureSummary) -> Estimate:
    """Chao's (1987) bias-corrected Mh estimator with a log-normal 95 % interval."""
    assumptions = [CLOSED, IDENTIFIED, INDEPENDENT,
                   N_("Detection probability may differ between individuals but not over time (Mh); "
                      "with strong heterogeneity it estimates a lower bound.")]
    m, k = summary.individuals, summary.occasions
    if m == 0:
        return Estimate("Chao Mh", None, None, None, note=N_("No individuals detected."), assumptions=assumptions)
    if k < 2:
        return Estimate("Chao Mh", None, None, None, note=N_("At least two occasions are needed."), assumptions=assumptions)
    f1 = summary.frequencies.get(1, 0)
    f2 = summary.frequencies.get(2, 0)
    a = (k - 1) / k
    f0 = a * f1 * (f1 - 1) / (2 * (f2 + 1))
    var = (
        a * f1 * (f1 - 1) / (2 * (f2 + 1))
        + a**2 * f1 * (2 * f1 - 1) ** 2 / (4 * (f2 + 1) ** 2)
        + a**2 * f1**2 * f2 * (f1 - 1) ** 2 / (4 * (f2 + 1) ** 4)
    )
    if f0 <= 0:
        return Estimate("Chao Mh", float(m), float(m), float(m),
                        note=N_("No individual was missed by the estimator (f1 ≤ 1); the interval is degenerate."),
                        assumptions=assumptions)
    c = math.exp(Z_95 * math.sqrt(math.log(1 + var / f0**2)))
    return Estimate("Chao Mh", m + f0, m + f0 / c, m + f0 * c, assumptions=assumptions)
