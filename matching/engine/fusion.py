"""Calibrated fusion of several matchers' scores, measured on evaluate reports (scripts/fuse_matchers.py).

Pure module (no Django, no torch). Issue 12 lists, among the levers for the accurate mode, the
fusion of several matchers, each calibrated on the developer sets and then combined, as WildFusion
does. Two ways are measured here, both judged leave-one-individual-out (a cat's queries are ranked
by a fit that never saw them):

  calibrated mean (WildFusion): each matcher's individual score s becomes P(same cat | s) by a
  one-variable logistic fit (Platt scaling) over (query, individual) pairs; the individuals are
  ranked by the mean of those probabilities over the matchers;

  conditional logit: fused(ind) = log prior(ind) + sum_m w_m * s_m(ind), with the weights w_m >= 0
  fitted by the likelihood of the true individual under a softmax of the fused scores. With one
  matcher this is prior.fit_weight; with a uniform prior it ranks by the photos alone.

A matcher that gives an individual no score (not shortlisted, nothing verified) scores 0 there,
as prior.fuse counts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np

from matching.engine.evaluation import pessimistic_rank


@dataclass(frozen=True)
class Case:
    """One query (an image or a sighting): each matcher's score per individual, the location prior
    over the catalog's individuals, and the true individual."""

    scores: tuple[dict[Hashable, float], ...]
    prior: dict[Hashable, float]
    truth: Hashable


def _table(case: Case) -> tuple[list[Hashable], np.ndarray, np.ndarray]:
    """The case's individuals, their matchers' scores (individuals x matchers) and log priors."""
    individuals = list(case.prior)
    x = np.array([[s.get(i, 0.0) for s in case.scores] for i in individuals], np.float64)
    return individuals, x, np.log(np.array([case.prior[i] for i in individuals], np.float64))


def rank1(cases: Sequence[Case], rank) -> float:
    """Share of cases whose truth `rank(case)` (individual -> fused score) puts strictly first:
    ties are broken pessimistically, as in the evaluation protocol."""
    if not cases:
        return 0.0
    return sum(pessimistic_rank(rank(case), case.truth) == 1 for case in cases) / len(cases)


def rank1_macro(cases: Sequence[Case], rank) -> float:
    """rank1 per true individual, averaged over the individuals."""
    by_cat: dict[Hashable, list[Case]] = {}
    for case in cases:
        by_cat.setdefault(case.truth, []).append(case)
    return sum(rank1(own, rank) for own in by_cat.values()) / len(by_cat) if by_cat else 0.0


# --- calibrated mean (WildFusion) ---------------------------------------------------------------


def fit_platt(scores: Sequence[float], same: Sequence[bool], *, iterations: int = 100) -> tuple[float, float]:
    """(a, b) of P(same | s) = sigmoid(a * s + b), by Newton's method on the log-likelihood, with a
    small ridge so that a perfectly separated set keeps a finite slope."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(same, np.float64)
    scale = max(float(np.std(s)), 1e-9)
    x = np.stack([s / scale, np.ones_like(s)], axis=1)
    w = np.zeros(2)
    ridge = 1e-3 * len(s)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (y - p) - ridge * np.array([w[0], 0.0])
        hess = -(x.T * (p * (1 - p))) @ x - np.diag([ridge, 1e-9])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    return float(w[0] / scale), float(w[1])


def fit_calibrations(cases: Sequence[Case]) -> list[tuple[float, float]]:
    """One Platt calibration per matcher, over every (case, individual) pair of `cases`."""
    n = len(cases[0].scores)
    out = []
    for m in range(n):
        scores, same = [], []
        for case in cases:
            for i in case.prior:
                scores.append(case.scores[m].get(i, 0.0))
                same.append(i == case.truth)
        out.append(fit_platt(scores, same))
    return out


def calibrated_mean(calibrations: Sequence[tuple[float, float]], matchers: Sequence[int] | None = None):
    """rank(case): the mean over `matchers` (default all) of each one's calibrated probability."""
    use = list(range(len(calibrations))) if matchers is None else list(matchers)

    def rank(case: Case) -> dict[Hashable, float]:
        individuals, x, _ = _table(case)
        probs = [1.0 / (1.0 + np.exp(-(calibrations[m][0] * x[:, m] + calibrations[m][1]))) for m in use]
        return dict(zip(individuals, np.mean(probs, axis=0).tolist()))

    return rank


# --- conditional logit ---------------------------------------------------------------------------


def fit_logit(cases: Sequence[Case], *, with_prior: bool = True, iterations: int = 500) -> np.ndarray:
    """Weights w >= 0 maximising the mean log-probability of the true individual under
    softmax(log prior + x @ w) (without the prior: softmax(x @ w)). The likelihood is concave in w,
    so projected gradient ascent with a backtracking step finds its maximum."""
    tables = []
    for case in cases:
        individuals, x, logp = _table(case)
        if case.truth in individuals:
            tables.append((x, logp if with_prior else np.zeros_like(logp), individuals.index(case.truth)))
    n = tables[0][0].shape[1] if tables else len(cases[0].scores)

    def value_grad(w):
        total, grad = 0.0, np.zeros(n)
        for x, logp, t in tables:
            z = logp + x @ w
            top = z.max()
            e = np.exp(z - top)
            p = e / e.sum()
            total += z[t] - top - math.log(e.sum())
            grad += x[t] - p @ x
        return total / max(len(tables), 1), grad / max(len(tables), 1)

    w = np.zeros(n)
    value, grad = value_grad(w)
    step = 1.0
    for _ in range(iterations):
        while step > 1e-12:
            trial = np.maximum(w + step * grad, 0.0)
            trial_value, trial_grad = value_grad(trial)
            if trial_value >= value:
                break
            step /= 2
        if step <= 1e-12 or np.max(np.abs(trial - w)) < 1e-9:
            break
        w, value, grad = trial, trial_value, trial_grad
        step *= 2
    return w


def logit_rank(weights: Sequence[float], *, with_prior: bool = True):
    """rank(case): log prior (or 0) + the weighted sum of the matchers' scores."""
    w = np.asarray(weights, np.float64)

    def rank(case: Case) -> dict[Hashable, float]:
        individuals, x, logp = _table(case)
        z = (logp if with_prior else 0.0) + x @ w
        return dict(zip(individuals, z.tolist()))

    return rank


# --- leave one individual out --------------------------------------------------------------------


def leave_one_individual_out(cases: Sequence[Case], fit, make_rank) -> tuple[float, float, int]:
    """(rank-1, macro rank-1, cases ranked): each cat's cases are ranked by make_rank(fit(others)),
    a fit on the other cats' cases only. A cat that is the only one in `cases` is not ranked."""
    by_cat: dict[Hashable, list[Case]] = {}
    for case in cases:
        by_cat.setdefault(case.truth, []).append(case)
    hits, ranked, macro = 0.0, 0, []
    for cat, own in by_cat.items():
        rest = [c for c in cases if c.truth != cat]
        if not rest:
            continue
        r = rank1(own, make_rank(fit(rest)))
        hits += r * len(own)
        ranked += len(own)
        macro.append(r)
    if not ranked:
        return 0.0, 0.0, 0
    return hits / ranked, sum(macro) / len(macro), ranked
