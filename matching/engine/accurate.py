"""Accurate identification mode: sighting-level evidence from LightGlue's soft scores.

Pure module (no Django). Where the fast mode (scoring.identify) verifies a handful of shortlisted
images per frame and counts distinct homography inliers, this mode:
  1. shortlists by individual: the catalog's individuals ranked by the frames' summed shortlist
     votes, and for each of the first ``individuals`` its ``per_individual`` best-voted reference
     images per frame (a generous K whose recall is measured by `evaluate`);
  2. runs LightGlue on every such pair and scores it softly: the summed confidence of the matches
     that survive static-background suppression (same camera) and a fundamental-matrix check,
     which tolerates a bending body where one homography does not;
  3. fuses the sighting: an individual's score is the mean over the sighting's frames of its best
     pair score for that frame, so frames that agree add up and one lucky frame counts for less.
Before matching, keypoints that stay put across the sighting's burst (static background) are
dropped (foreground.py). Keypoints on saturated blobs (eyeshine, flash glare) are dropped by the
extractor's accurate preprocessing (extractors.AlikedExtractor), so they never vote here.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Hashable, Sequence

import numpy as np

from matching.engine.evaluation import compatible
from matching.engine.foreground import foreground
from matching.engine.index import Entry, ShortlistIndex, Vote
from matching.engine.matcher import truncate
from matching.engine.scoring import Candidate, Identification, PairEvidence, QueryImage, same_frame
from matching.engine.verify import verify_pair

# Bump when the pair score changes, so cached evaluation pairs and calibrations are not reused.
ACCURATE_VERSION = "a1-k512"
# Fundamental-matrix threshold in working-image pixels (1024-px long side): loose enough for a
# flank that bends between photos, tight enough that scattered rock matches fall out.
F_THRESHOLD_PX = 4.0
MIN_PAIR_MATCHES = 8


@dataclass(frozen=True)
class AccurateConfig:
    individuals: int = 10  # candidate individuals per sighting, by shortlist votes
    per_individual: int = 2  # reference images per candidate individual and frame
    max_frames: int = 3  # frames of a sighting that are matched (those with most keypoints)
    # Strongest keypoints per side that LightGlue sees, after the burst's background is dropped:
    # LightGlue's CPU time grows with the square of it (0.43 s a pair at 512, 0.8 s at 1,024 on the
    # 2-core machine), so the budget goes to the animal.
    match_keypoints: int = 512


def verified_matches(query, reference, matches, *, same_camera: bool) -> np.ndarray:
    """Indices into ``matches`` of the correspondences verify.verify_pair keeps (static suppression,
    then a fundamental matrix by USAC MAGSAC++); empty with fewer than MIN_PAIR_MATCHES."""
    if len(matches.idx0) < MIN_PAIR_MATCHES:
        return np.zeros(0, np.int64)
    verified = verify_pair(query, reference, matches, same_camera=same_camera, model="fundamental",
                           threshold_px=F_THRESHOLD_PX)
    inl = np.flatnonzero(verified.inlier_mask)
    return inl if len(inl) >= MIN_PAIR_MATCHES else np.zeros(0, np.int64)


def pair_score(query, reference, matches, *, same_camera: bool, match_head=None) -> tuple[float, np.ndarray]:
    """Soft score of one LightGlue result and its kept correspondences (M, 4) in original pixels.

    Score = summed LightGlue confidence of the matches that verified_matches keeps, each weighted by
    ``match_head`` (match_head.MatchHead) where one is given; 0 with fewer than MIN_PAIR_MATCHES.
    """
    inl = verified_matches(query, reference, matches, same_camera=same_camera)
    if len(inl) == 0:
        return 0.0, np.zeros((0, 4), np.float32)
    i0, i1 = np.asarray(matches.idx0)[inl], np.asarray(matches.idx1)[inl]
    conf = np.asarray(matches.confidence, np.float32)[inl]
    if match_head is not None:
        conf = conf * match_head.weights(np.asarray(query.descriptors)[i0], np.asarray(reference.descriptors)[i1])
    pts = np.hstack([np.asarray(query.keypoints, np.float32)[i0], np.asarray(reference.keypoints, np.float32)[i1]])
    order = np.argsort(-conf, kind="stable")
    return float(conf.sum()), pts[order]


def shortlist_by_individual(frame_votes: Sequence[list[Vote]], *, individuals: int, per_individual: int) -> list[list[Vote]]:
    """Per frame, the best-voted reference images of the sighting's top ``individuals`` individuals.

    Individuals are ranked by their best vote summed over the frames, so every frame is matched
    against the same candidate individuals (sighting-level evidence needs them compared alike).
    """
    total: dict = defaultdict(float)
    for votes in frame_votes:
        best: dict = {}
        for v in votes:
            best[v.individual] = max(best.get(v.individual, 0.0), v.score)
        for ind, s in best.items():
            total[ind] += s
    chosen = {ind for ind, _ in sorted(total.items(), key=lambda kv: (-kv[1], str(kv[0])))[:individuals]}
    out = []
    for votes in frame_votes:
        taken: dict = defaultdict(int)
        picked = []
        for v in votes:
            if v.individual in chosen and taken[v.individual] < per_individual:
                taken[v.individual] += 1
                picked.append(v)
        out.append(picked)
    return out


def fuse(per_frame_best: Sequence[float], frames: int) -> float:
    """Sighting score of an individual: the mean over the sighting's frames of its best pair score."""
    return float(sum(per_frame_best)) / max(frames, 1)


def _without_static_background(queries: list[QueryImage]) -> tuple[list[QueryImage], dict]:
    """The sighting's frames with the burst's static keypoints dropped (foreground.foreground), and
    for each frame that lost some, the keys of its burst (which decide what it lost). Frames of one
    size from one station form a burst."""
    groups: dict = defaultdict(list)
    for i, q in enumerate(queries):
        groups[(q.station, tuple(getattr(q.features, "image_size", ()) or ()))].append(i)
    out = list(queries)
    masked = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        cleaned = foreground([queries[i].features for i in members])
        for i, f in zip(members, cleaned):
            if f is not queries[i].features:
                out[i] = QueryImage(queries[i].key, f, queries[i].body_part, queries[i].station)
                masked[queries[i].key] = tuple(sorted((str(queries[j].key) for j in members)))
    return out, masked


def identify_accurate(
    queries: Sequence[QueryImage],
    index: ShortlistIndex,
    features_of: Callable[[Hashable], object],
    *,
    match_fn: Callable,
    match_many_fn: Callable | None = None,
    allowed: Callable[[Entry], bool] | None = None,
    config: AccurateConfig = AccurateConfig(),
    likely_new_below: float = 0.0,
    pair_cache: dict | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    match_head=None,
) -> Identification:
    """Rank the catalog's individuals for a sighting (accurate mode); same result type as scoring.identify.

    pair_cache maps (query key, reference key) -> Matches, so an evaluation can change the scoring
    without running LightGlue again. match_head (match_head.MatchHead) weights each verified match.
    """
    t0 = time.perf_counter()
    usable = [q for q in queries if len(q.features.keypoints) > 0]
    if not usable:
        return Identification([], True, 0.0, reason="no keypoints in the query images (blank, too small or too blurred)")
    if len(index) == 0:
        return Identification([], True, 0.0, reason="the catalog has no reference images to compare with")
    usable, masked = _without_static_background(usable)
    usable = sorted(usable, key=lambda q: -len(q.features.keypoints))[: config.max_frames]
    frame_votes = []
    for q in usable:
        def ok(e: Entry, q=q) -> bool:
            return compatible(q.body_part, e.body_part) and (allowed is None or allowed(e))

        frame_votes.append(index.search(q.features.descriptors, q.features.keypoints, allowed=ok,
                                        same_station=lambda e, q=q: same_frame(q, e)))
    votes_by_ind: dict = defaultdict(float)
    for votes in frame_votes:
        for v in votes:
            votes_by_ind[v.individual] = max(votes_by_ind[v.individual], v.score)
    picked = shortlist_by_individual(frame_votes, individuals=config.individuals, per_individual=config.per_individual)
    pairs = [(q, v) for q, vs in zip(usable, picked) for v in vs]
    t1 = time.perf_counter()
    found: dict = {}
    todo: dict = defaultdict(list)
    def cache_key(q, ref):
        # A frame matched without its burst's background is another query than the whole frame, and
        # what it lost depends on the burst (an evaluation shard may hold only part of an encounter).
        return (q.key, ref, "fg", masked[q.key]) if q.key in masked else (q.key, ref)

    for q, v in pairs:
        key = cache_key(q, v.key)
        if pair_cache is not None and key in pair_cache:
            found[(q.key, v.key)] = pair_cache[key]
        else:
            todo[q.key].append((q, v))
    done = len(found)
    for group in todo.values():
        q = group[0][0]
        refs = [v.key for _, v in group]
        if progress:
            progress("matching", done, len(pairs))
        k = config.match_keypoints
        fq = truncate(q.features, k)
        if match_many_fn is not None:
            results = match_many_fn(fq, [truncate(features_of(r), k) for r in refs])
        else:
            results = (match_fn(fq, truncate(features_of(r), k)) for r in refs)
        # A generator on CPU: each pair is cached as soon as it is matched (the evaluation times it).
        for r, m in zip(refs, results):
            found[(q.key, r)] = m
            if pair_cache is not None:
                pair_cache[cache_key(q, r)] = m
        done += len(refs)
    if progress:
        progress("matching", len(pairs), len(pairs))
    best: dict = defaultdict(dict)  # individual -> frame key -> PairEvidence
    parts: dict = defaultdict(set)
    for q, v in pairs:
        entry = index.entries[v.key]
        m = found[(q.key, v.key)]
        score, pts = pair_score(q.features, features_of(v.key), m, same_camera=same_frame(q, entry),
                                match_head=match_head)
        ev = PairEvidence(q.key, v.key, entry.individual, score, len(m.idx0), len(pts), pts)
        prev = best[entry.individual].get(q.key)
        if prev is None or ev.score > prev.score:
            best[entry.individual][q.key] = ev
        if score > 0:
            parts[entry.individual].add(entry.body_part)
    candidates = []
    for ind in set(votes_by_ind) | set(best):
        evs = sorted(best.get(ind, {}).values(), key=lambda e: -e.score)
        candidates.append(Candidate(
            individual=ind,
            score=fuse([e.score for e in evs], len(usable)),
            best=evs[0] if evs else None,
            votes=votes_by_ind.get(ind, 0.0),
            body_parts=tuple(sorted(parts.get(ind, ()))),
            evidence=evs,
        ))
    candidates.sort(key=lambda c: (-c.rank_score, str(c.individual)))
    top = candidates[0].score if candidates else 0.0
    return Identification(
        candidates, top < likely_new_below or top <= 0.0, top,
        reason="" if candidates else "no compatible reference image (filters, body part)",
        timings={"shortlist_seconds": t1 - t0, "verify_seconds": time.perf_counter() - t1, "pairs": len(pairs),
                 "pair_keys": [cache_key(q, v.key) for q, v in pairs]},
    )
