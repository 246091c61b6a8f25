"""From correspondences to the ranking reviewers see: verified pair scores, individuals, outcome.

Pure module (no Django). The flow for one sighting:
  1. each query image asks the shortlist index (index.py) for compatible catalog images;
  2. LightGlue (matcher.match) and geometric verification run on those only, after dropping
     static-background matches of same-camera pairs (verify.verify_pair, verify.suppress_static);
  3. a pair's score is the summed LightGlue confidence of its verified inliers, one per grid cell
     (distinct_inliers), so that many keypoints on one blob do not count as many;
  4. an individual's score combines its best pair per query image (evidence from several
     images of the sighting adds up, with diminishing weight);
  5. the calibration (calibration.py) turns the score into a confidence level and decides
     whether the sighting is likely a new individual.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Hashable, Sequence

import numpy as np

from matching.engine.evaluation import compatible
from matching.engine.index import Entry, ShortlistIndex, shortlist

# Verification needs enough correspondences to fit a model at all; fewer is no evidence.
MIN_MATCHES_TO_VERIFY = 8
# Inliers count once per grid cell of this share of the working image's long side, on both
# sides: detectors put many keypoints on one blob or ring, and a homography through four such
# clusters "verifies" dozens of correspondences between two unrelated coats (seen on synthetic
# rosette images: 32 inliers from 4 blobs). Counting distinct cells makes that 4-6.
DISTINCT_CELL_SHARE = 0.05
# Weight of a second, third... query image's evidence for the same individual.
SUPPORT_WEIGHT = 0.5
# Shortlisted images per individual: one cat's burst of near-identical frames must not fill
# the shortlist alone.
PER_INDIVIDUAL = 2
# Bump when pair verification changes, so cached evaluation pair results are not reused.
PAIR_VERSION = "2"
# Shortlist votes only order individuals that LightGlue did not confirm; they never
# outweigh one verified inlier.
VOTE_TIEBREAK = 1e-3


@dataclass
class QueryImage:
    """One image of the sighting being identified."""

    key: Hashable
    features: object  # extractors.Features
    body_part: str = ""
    station: Hashable | None = None


@dataclass
class PairEvidence:
    query_key: Hashable
    reference_key: Hashable
    individual: Hashable
    score: float
    num_matches: int
    num_inliers: int
    # Verified correspondences (M, 4): xq, yq, xr, yr in original-image pixels.
    matches: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))


@dataclass
class Candidate:
    individual: Hashable
    score: float
    best: PairEvidence | None
    votes: float = 0.0
    body_parts: tuple[str, ...] = ()
    evidence: list[PairEvidence] = field(default_factory=list)

    @property
    def num_inliers(self) -> int:
        return self.best.num_inliers if self.best else 0

    @property
    def rank_score(self) -> float:
        return self.score + VOTE_TIEBREAK * self.votes / (1.0 + self.votes)


@dataclass
class Identification:
    candidates: list[Candidate]  # best first
    likely_new: bool
    top_score: float
    reason: str = ""  # why there is no answer (no keypoints, empty catalog), for the reviewer
    timings: dict = field(default_factory=dict)


def _working_points(features, idx: np.ndarray) -> tuple[np.ndarray, float]:
    """Keypoints ``idx`` in working-image pixels, and that image's long side."""
    points = getattr(features, "prepared_keypoints", None)
    size = getattr(features, "prepared_size", None)
    if points is None or size is None or len(points) != len(features.keypoints):
        points, size = features.keypoints, features.image_size
    return np.asarray(points, np.float64)[idx].reshape(-1, 2), float(max(size))


def distinct_inliers(query, reference, idx0: np.ndarray, idx1: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Indices into the given inlier correspondences, at most one per grid cell on either side.

    Greedy by confidence: a correspondence is kept when neither its query cell nor its reference
    cell (DISTINCT_CELL_SHARE of each working image's long side) holds a stronger one already.
    """
    if len(idx0) == 0:
        return np.zeros(0, np.int64)
    p0, side0 = _working_points(query, idx0)
    p1, side1 = _working_points(reference, idx1)
    c0 = np.floor(p0 / max(side0 * DISTINCT_CELL_SHARE, 1.0)).astype(np.int64)
    c1 = np.floor(p1 / max(side1 * DISTINCT_CELL_SHARE, 1.0)).astype(np.int64)
    used0: set[tuple[int, int]] = set()
    used1: set[tuple[int, int]] = set()
    kept = []
    for i in np.argsort(-np.asarray(confidence, np.float64), kind="stable"):
        a, b = (int(c0[i, 0]), int(c0[i, 1])), (int(c1[i, 0]), int(c1[i, 1]))
        if a in used0 or b in used1:
            continue
        used0.add(a)
        used1.add(b)
        kept.append(i)
    return np.asarray(kept, np.int64)


def verify_pair(
    query, reference, *, same_camera: bool, match_fn: Callable, verify_pair_fn: Callable,
) -> tuple[float, int, int, np.ndarray]:
    """LightGlue, then static suppression + verification: (score, matches, inliers, (M, 4) inlier pixels)."""
    empty = np.zeros((0, 4), np.float32)
    if len(query.keypoints) == 0 or len(reference.keypoints) == 0:
        return 0.0, 0, 0, empty
    m = match_fn(query, reference)
    if len(m.idx0) < MIN_MATCHES_TO_VERIFY:
        return 0.0, len(m.idx0), 0, empty
    v = verify_pair_fn(query, reference, m, same_camera=same_camera)
    mask = np.asarray(v.inlier_mask, bool)
    pts = np.hstack([
        np.asarray(query.keypoints, np.float32)[m.idx0[mask]],
        np.asarray(reference.keypoints, np.float32)[m.idx1[mask]],
    ])
    if int(v.num_inliers) < MIN_MATCHES_TO_VERIFY:
        return 0.0, len(m.idx0), int(v.num_inliers), pts
    confidence = np.asarray(m.confidence, np.float64)[mask]
    distinct = distinct_inliers(query, reference, m.idx0[mask], m.idx1[mask], confidence)
    if len(distinct) < MIN_MATCHES_TO_VERIFY:
        return 0.0, len(m.idx0), int(v.num_inliers), pts
    return float(confidence[distinct].sum()), len(m.idx0), int(v.num_inliers), pts


def same_frame(query: QueryImage, entry: Entry) -> bool:
    """Whether static pixels can be shared: one station, or frames of one size (the same camera
    model stamps its logo and text at the same pixels, whatever station it stands at)."""
    if query.station not in (None, "") and entry.station == query.station:
        return True
    size = tuple(getattr(query.features, "image_size", ()) or ())
    return bool(size) and tuple(entry.image_size) == size


def combine(per_query_best: Sequence[float]) -> float:
    """Individual score from its best pair score per query image: best + half of each further one."""
    ordered = sorted((s for s in per_query_best if s > 0), reverse=True)
    if not ordered:
        return 0.0
    return ordered[0] + SUPPORT_WEIGHT * sum(ordered[1:])


def identify(
    queries: Sequence[QueryImage],
    index: ShortlistIndex,
    features_of: Callable[[Hashable], object],
    *,
    match_fn: Callable,
    verify_pair_fn: Callable,
    match_many_fn: Callable | None = None,
    allowed: Callable[[Entry], bool] | None = None,
    shortlist_images: int = 12,
    per_individual: int = PER_INDIVIDUAL,
    likely_new_below: float = 0.0,
    pair_cache: dict | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Identification:
    """Rank the catalog's individuals for a sighting's query images.

    allowed(entry) applies the run's filters (location, excluded sighting); body-part compatibility
    is applied per query image here. pair_cache maps (query key, reference key) -> verify_pair result
    and lets the evaluation reuse LightGlue results while the ranking rules change.
    match_many_fn(query features, [reference features]) -> [Matches], when given, matches each query
    image's shortlist in one call (matcher.match_many: one padded LightGlue batch on CUDA).
    """
    t0 = time.perf_counter()
    votes_by_ind: dict = defaultdict(float)
    best_by_ind_query: dict = defaultdict(dict)  # individual -> query key -> PairEvidence
    parts_by_ind: dict = defaultdict(set)
    usable = [q for q in queries if len(q.features.keypoints) > 0]
    if not usable:
        return Identification([], True, 0.0, reason="no keypoints in the query images (blank, too small or too blurred)")
    if len(index) == 0:
        return Identification([], True, 0.0, reason="the catalog has no reference images to compare with")
    pairs: list[tuple[QueryImage, object]] = []
    for q in usable:
        def ok(e: Entry, q=q) -> bool:
            return compatible(q.body_part, e.body_part) and (allowed is None or allowed(e))

        votes = index.search(q.features.descriptors, q.features.keypoints, allowed=ok,
                             same_station=lambda e, q=q: same_frame(q, e))
        for v in votes:
            votes_by_ind[v.individual] = max(votes_by_ind[v.individual], v.score)
        for v in shortlist(votes, images=shortlist_images, per_individual=per_individual):
            pairs.append((q, v))
    t1 = time.perf_counter()
    batched: dict = {}
    if match_many_fn is not None:
        todo: dict = defaultdict(list)
        for q, v in pairs:
            if pair_cache is None or (q.key, v.key) not in pair_cache:
                todo[q.key].append((q, v))
        for group in todo.values():
            if progress:
                progress("matching", len(batched), len(pairs))
            q = group[0][0]
            refs = [v.key for _, v in group]
            found = match_many_fn(q.features, [features_of(r) for r in refs])
            batched.update({(q.key, r): m for r, m in zip(refs, found)})
    for i, (q, v) in enumerate(pairs):
        if progress and not batched:
            progress("matching", i, len(pairs))
        entry = index.entries[v.key]
        cache_key = (q.key, v.key)
        if pair_cache is not None and cache_key in pair_cache:
            score, n_m, n_in, pts = pair_cache[cache_key]
        else:
            matched = batched.get(cache_key)
            pair_match = match_fn if matched is None else (lambda f0, f1, m=matched: m)
            score, n_m, n_in, pts = verify_pair(
                q.features, features_of(v.key), same_camera=same_frame(q, entry),
                match_fn=pair_match, verify_pair_fn=verify_pair_fn,
            )
            if pair_cache is not None:
                pair_cache[cache_key] = (score, n_m, n_in, pts)
        ev = PairEvidence(q.key, v.key, entry.individual, score, n_m, n_in, pts)
        prev = best_by_ind_query[entry.individual].get(q.key)
        if prev is None or ev.score > prev.score:
            best_by_ind_query[entry.individual][q.key] = ev
        if ev.score > 0:
            parts_by_ind[entry.individual].add(entry.body_part)
    if progress:
        progress("matching", len(pairs), len(pairs))
    candidates = []
    for ind in set(votes_by_ind) | set(best_by_ind_query):
        evs = list(best_by_ind_query.get(ind, {}).values())
        best = max(evs, key=lambda e: e.score) if evs else None
        candidates.append(Candidate(
            individual=ind,
            score=combine([e.score for e in evs]),
            best=best,
            votes=votes_by_ind.get(ind, 0.0),
            body_parts=tuple(sorted(parts_by_ind.get(ind, ()))),
            evidence=sorted(evs, key=lambda e: -e.score),
        ))
    candidates.sort(key=lambda c: (-c.rank_score, str(c.individual)))
    top = candidates[0].score if candidates else 0.0
    return Identification(
        candidates, top < likely_new_below or top <= 0.0, top,
        reason="" if candidates else "no compatible reference image (filters, body part)",
        timings={"shortlist_seconds": t1 - t0, "verify_seconds": time.perf_counter() - t1, "pairs": len(pairs)},
    )
