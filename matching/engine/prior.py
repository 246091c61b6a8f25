"""Where a cat has been seen: a prior over the catalog's individuals, fused with the pattern score.

Pure module (no Django). Snow leopards hold home ranges, so the cats already recorded at a camera
station are the likeliest to walk past it again; a reviewer checks them first. On the developer
set, naming the cat seen most often at the query's station is right for 19 of the 27 sightings
whose station has other sightings, while the pattern scores alone separate same-cat from other-cat
pairs only weakly (AUC about 0.6). This module makes that reviewer's habit explicit and measured:

  prior(ind) = P(ind | station), counted over distinct sightings (a 10-frame burst counts once)
  and smoothed towards the study area's counts, then the whole catalog's, with one pseudo-sighting
  at each step, so a cat never seen at the station keeps a small, non-zero prior;

  fused(ind) = log prior(ind) + weight * pattern(ind)

with one weight per mode, fitted on the developer sets by `fit_weight` (scripts/fit_prior.py),
which also reports the rank-1 it gives with the weight chosen leave-one-individual-out. A strong
pattern match still outranks the station's resident; a weak one no longer outranks it by noise.
A sighting with neither a station nor a study area is ranked by the pattern score alone: the
catalog-wide frequency of a cat is no evidence to weigh against the photos with a weight fitted where
the place was known. The confidence level and "likely new" stay on the pattern score alone: where a cat was seen says
nothing about whether this photo shows a new animal.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Hashable, Iterable, Sequence

# Pattern-score weights per mode (fused = log prior + weight * pattern score). scripts/fit_prior.py
# on the snow-leopard developer set (docs/benchmarks.md) prefers 0 for fast mode (its scores add
# nothing there to where the cat was seen: no true match in the sample scores above 17, and a wrong
# one reaches 14) and 0.15-0.36 for accurate mode. At 0.05 the README's demo walkthrough put a station
# resident without a single verified match above a 238-match hit, so both modes use 0.25: a clear
# match (a score of 8-12) outweighs a resident seen 7-20 times as often; on the developer sample this
# costs fast mode one frame of 39 and one sighting of 18 against 0.05.
WEIGHTS = {"fast": 0.25, "accurate": 0.25}
PSEUDO_SIGHTINGS = 1.0


def location_prior(
    seen: Iterable[tuple[Hashable, Hashable | None, Hashable | None]],
    *, station: Hashable | None, area: Hashable | None, individuals: Iterable[Hashable],
) -> dict[Hashable, float]:
    """P(individual | the query's station) for each of `individuals`.

    `seen` holds one (individual, station, area) per distinct catalog sighting, the query's own
    sighting excluded. An unknown station (or area) skips that level of the smoothing."""
    individuals = list(dict.fromkeys(individuals))
    if not individuals:
        return {}
    seen = list(seen)
    overall = Counter(ind for ind, _, _ in seen)
    total = sum(overall[i] for i in individuals)
    # Add-one over the catalog: an individual never seen anywhere keeps a share.
    p = {i: (overall[i] + 1.0) / (total + len(individuals)) for i in individuals}
    for level, value in ((2, area), (1, station)):
        if value in (None, ""):
            continue
        here = Counter(s[0] for s in seen if s[level] == value)
        n = sum(here[i] for i in individuals)
        p = {i: (here[i] + PSEUDO_SIGHTINGS * p[i]) / (n + PSEUDO_SIGHTINGS) for i in individuals}
    return p


def fuse(pattern: dict[Hashable, float], prior: dict[Hashable, float], weight: float) -> dict[Hashable, float]:
    """Rank scores: log prior + weight * pattern score, over the individuals of `prior`
    (an individual without a pattern score counts as 0: no verified evidence)."""
    return {i: math.log(p) + weight * pattern.get(i, 0.0) for i, p in prior.items()}


def rank1(cases: Sequence[tuple[dict, dict, Hashable]], weight: float) -> float:
    """Share of cases (pattern scores, prior, true individual) whose truth the fusion puts first,
    ties broken pessimistically as in the evaluation protocol."""
    from matching.engine.evaluation import pessimistic_rank  # evaluation imports this module

    if not cases:
        return 0.0
    return sum(pessimistic_rank(fuse(pattern, prior, weight), truth) == 1 for pattern, prior, truth in cases) / len(cases)


def fit_weight(cases: Sequence[tuple[dict, dict, Hashable]], grid: Sequence[float]) -> float:
    """The weight of `grid` that maximises the mean log-probability of the true individual under a
    softmax of the fused scores (a conditional logit with the prior's coefficient fixed at 1). The
    likelihood, not rank-1, so the choice is smooth in the weight and not decided by a few ties."""
    def loglik(w: float) -> float:
        total = 0.0
        for pattern, prior, truth in cases:
            fused = fuse(pattern, prior, w)
            if truth not in fused:
                continue
            top = max(fused.values())
            total += fused[truth] - top - math.log(sum(math.exp(v - top) for v in fused.values()))
        return total

    return max(grid, key=lambda w: (loglik(w), -w))
