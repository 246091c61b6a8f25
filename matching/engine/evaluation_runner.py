"""Running a method over a labelled-folder data set with on-disk caches (used by `evaluate` and `benchmark`).

Pure module (no Django): the command passes the cache folder and the engine's functions.
Features are cached per image under <cache>/<dataset>/<extractor>-<version>[-nobox]/ and
pair results (LightGlue + verification) next to them, so the ranking rules can be changed and
re-measured without re-extracting or re-matching. Timings are stored with the cached results,
so the reported latency stays the one measured when the work was really done.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pickle
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from matching.engine.evaluation import Dataset, Query, QueryRecord, individual_scores_from_images
from matching.engine.index import Entry, ShortlistIndex
from matching.engine.preprocess import load_rgb
from matching.engine.scoring import QueryImage, identify


@dataclass
class Engine:
    """The engine's parts, injected so the evaluation can also drive stand-ins."""

    extractor: object  # .name, .version, .extract(image, box=None) -> Features
    features_from_npz: Callable[[dict], object]
    match_fn: Callable  # (Features, Features) -> Matches(idx0, idx1, confidence)
    verify_pair_fn: Callable  # (f0, f1, Matches, same_camera=bool) -> Verified(inlier_mask, num_inliers, model)
    # (query Features, [gallery Features]) -> [Matches]: one query against many, batched on CUDA.
    match_many_fn: Callable | None = None


def device_name(device: str) -> str:
    from matching.engine.extractors import resolve_device

    return resolve_device(device)


def build_engine(name: str, *, device: str = "cpu", long_side: int | None = None, max_keypoints: int | None = None,
                 plain: bool = False) -> Engine:
    """The product engine (H2a's extractors, LightGlue matcher and verification) for extractor `name`;
    plain: without the accurate mode's grey equalisation and glare masking (the seed baseline)."""
    from matching.engine import extractors, matcher, verify

    options = {}
    if long_side:
        options["long_side"] = long_side
    if max_keypoints:
        options["max_keypoints"] = max_keypoints
    if plain:
        options["plain"] = True
    dev = device_name(device)
    extractor = extractors.get_extractor(name, dev, **options)
    return Engine(
        extractor=extractor,
        features_from_npz=extractors.Features.from_npz,
        match_fn=lambda f0, f1: matcher.match(f0, f1, device=dev),
        verify_pair_fn=verify.verify_pair,
        match_many_fn=lambda q, gallery: matcher.match_many(q, gallery, device=dev),
    )


AUTO_BOX_BURST = 5  # frames per suggest_boxes call: the burst a user would submit together


def auto_boxes(dataset: Dataset, cache_root: Path, log: Callable[[str], None] | None = None) -> dict[int, tuple | None]:
    """Suggested boxes (matching.engine.boxes.suggest_boxes) for every image, computed per encounter in
    bursts of consecutive frames, as the submit page offers them; cached as JSON."""
    import json

    path = Path(cache_root) / dataset.name / "auto-boxes.json"
    if path.exists():
        return {int(k): (tuple(v) if v else None) for k, v in json.loads(path.read_text()).items()}
    from matching.engine.boxes import suggest_boxes

    by_encounter: dict[str, list] = {}
    for item in dataset.items:
        by_encounter.setdefault(item.encounter, []).append(item)
    out: dict[int, tuple | None] = {}
    done = 0
    for items in by_encounter.values():
        items = sorted(items, key=lambda it: (it.datetime, it.path.name))
        for start in range(0, len(items), AUTO_BOX_BURST):
            burst = items[start : start + AUTO_BOX_BURST]
            pil = [Image.fromarray(load_rgb(it.path)) for it in burst]
            for it, box in zip(burst, suggest_boxes(images=pil)):
                out[it.index] = (int(box["x"]), int(box["y"]), int(box["w"]), int(box["h"])) if box else None
            done += len(burst)
            if log:
                log(f"auto boxes {done}/{len(dataset.items)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({str(k): v for k, v in out.items()}))
    return out


class FeatureStore:
    """Features of a data set's images, extracted once and kept as .npz files.

    Box policy: the labelled box unless ignore_boxes; with `suggested` (auto_boxes()), images left
    without a box use the suggested one, as when a user accepts the submit page's suggestion.
    """

    def __init__(self, cache_root: Path, dataset: Dataset, engine: Engine, *, ignore_boxes: bool,
                 suggested: dict[int, tuple | None] | None = None):
        ex = engine.extractor
        tag = f"{ex.name}-{ex.version}" + ("-nobox" if ignore_boxes else "") + ("-auto" if suggested is not None else "")
        self.folder = Path(cache_root) / dataset.name / tag
        self.folder.mkdir(parents=True, exist_ok=True)
        self.dataset = dataset
        self.engine = engine
        self.ignore_boxes = ignore_boxes
        self.suggested = suggested
        self._mem: dict[int, object] = {}
        self.extract_seconds: dict[int, float] = {}

    def box(self, idx: int):
        item = self.dataset.items[idx]
        if item.box is not None and not self.ignore_boxes:
            return item.box
        return self.suggested.get(idx) if self.suggested is not None else None

    def _path(self, idx: int) -> Path:
        item = self.dataset.items[idx]
        digest = hashlib.sha1(str(item.path.relative_to(self.dataset.root)).encode()).hexdigest()[:16]
        return self.folder / f"{digest}.npz"

    def get(self, idx: int):
        if idx in self._mem:
            return self._mem[idx]
        path = self._path(idx)
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                d = {k: data[k] for k in data.files}
            self.extract_seconds[idx] = float(d.pop("_extract_seconds", np.nan))
            feats = self.engine.features_from_npz(d)
        else:
            item = self.dataset.items[idx]
            image = load_rgb(item.path)
            t0 = time.perf_counter()
            feats = self.engine.extractor.extract(image, box=self.box(idx))
            seconds = time.perf_counter() - t0
            d = dict(feats.to_npz_dict())
            d["_extract_seconds"] = np.float64(seconds)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **d)
            tmp.replace(path)
            self.extract_seconds[idx] = seconds
        self._mem[idx] = feats
        return feats

    def extract_all(self, indices, log: Callable[[str], None] | None = None) -> None:
        todo = list(indices)
        for n, idx in enumerate(todo, start=1):
            self.get(idx)
            if log and (n % 25 == 0 or n == len(todo)):
                log(f"features {n}/{len(todo)}")

    def seconds_per_image(self) -> float | None:
        vals = [v for v in self.extract_seconds.values() if np.isfinite(v)]
        return statistics.median(vals) if vals else None


class PairCache(dict):
    """(query, reference) -> result, pickled next to the features; keyed by a method tag."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        if path.exists():
            with path.open("rb") as fh:
                self.update(pickle.load(fh))
        self._saved = len(self)

    def save(self) -> None:
        """Write the cache, merged with what other processes (``evaluate --shard``) saved meanwhile."""
        if len(self) == self._saved:
            return
        with self.path.with_suffix(".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.path.exists():
                with self.path.open("rb") as fh:
                    theirs = pickle.load(fh)
                self.update({k: v for k, v in theirs.items() if k not in self})
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                pickle.dump(dict(self), fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(self.path)
        self._saved = len(self)


class _TimedPairs(dict):
    """Pair cache view for identify(): remembers how long each new pair took."""

    def __init__(self, backing: PairCache, verify_seconds: dict):
        super().__init__()
        self.backing = backing
        self.verify_seconds = verify_seconds

    def __contains__(self, key):
        return key in self.backing

    def __getitem__(self, key):
        return self.backing[key][0]

    def __setitem__(self, key, value):
        started = self.verify_seconds.pop("start", None)
        self.backing[key] = (value, 0.0 if started is None else time.perf_counter() - started)


def build_index(dataset: Dataset, store: FeatureStore, *, per_image: int = 384) -> ShortlistIndex:
    index = None
    for item in dataset.items:
        f = store.get(item.index)
        if index is None:
            index = ShortlistIndex(dim=int(f.descriptors.shape[1]) if f.descriptors.ndim == 2 and f.descriptors.shape[1] else 128, per_image=per_image)
        if len(f.descriptors) == 0:
            continue
        index.add(
            Entry(key=item.index, individual=item.individual, body_part=item.body_part, station=item.station or None,
                  sighting=item.encounter, image_size=tuple(f.image_size)),
            f.descriptors, f.keypoints, getattr(f, "scores", None),
        )
    return index


def encounter_groups(dataset: Dataset, queries: list[Query]) -> list[tuple[Query, list[int]]]:
    """Protocol step 10: each encounter's query frames as one query (a sighting, as partners submit it).

    The gallery is every image outside the encounter; body-part compatibility is applied per frame
    by the engine, and the encounter is eligible when any of its frames is.
    """
    by_encounter: dict[str, list[Query]] = {}
    for q in queries:
        by_encounter.setdefault(dataset.items[q.index].encounter, []).append(q)
    groups = []
    for _encounter, frames in sorted(by_encounter.items()):
        frames = sorted(frames, key=lambda q: q.index)
        gallery = tuple(sorted({g for q in frames for g in q.gallery}))
        first = frames[0]
        groups.append((Query(first.index, first.individual, gallery, any(q.eligible for q in frames)),
                       [q.index for q in frames]))
    return groups


class _TimedMatches(dict):
    """Pair cache view for identify_accurate(): raw Matches, with how long each new pair took."""

    def __init__(self, backing: PairCache):
        super().__init__()
        self.backing = backing
        self.started: float | None = None

    def __contains__(self, key):
        return key in self.backing

    def __getitem__(self, key):
        return self.backing[key][0]

    def __setitem__(self, key, value):
        self.backing[key] = (value, 0.0 if self.started is None else time.perf_counter() - self.started)
        self.started = None


def run_default(
    dataset: Dataset, queries: list[Query], store: FeatureStore, *, cache_path: Path,
    shortlist_images: int, per_individual: int, log: Callable[[str], None] | None = None,
    max_seconds: float | None = None, groups: list[tuple[Query, list[int]]] | None = None,
    mode: str = "fast", accurate_config=None, match_head_for: Callable | None = None,
) -> list[QueryRecord]:
    """The product's engine in ``mode``, individuals ranked, per query image (or per group of frames).

    fast: shortlist + LightGlue + homography verification on the shortlisted images (scoring.identify);
    accurate: shortlist by individual + LightGlue soft score + sighting fusion (accurate.identify_accurate).
    ``groups`` [(query, [frame indices])] evaluates several frames as one sighting (encounter_groups).
    ``match_head_for(individual)`` gives the accurate mode's match head for a query of that individual
    (match_head.HeadFile.head_for: the fold head that never saw it, so the figures are cross-validated).
    With max_seconds, no new query starts after that wall time; the records say how many ran."""
    from matching.engine.accurate import AccurateConfig, identify_accurate

    started = time.perf_counter()
    engine = store.engine
    index = build_index(dataset, store)
    cache = PairCache(cache_path)
    records = []
    work = groups if groups is not None else [(q, [q.index]) for q in queries]
    for n, (q, frames) in enumerate(work, start=1):
        if max_seconds is not None and time.perf_counter() - started > max_seconds:
            break
        gallery = set(q.gallery)
        images = [QueryImage(i, store.get(i), dataset.items[i].body_part, dataset.items[i].station or None) for i in frames]
        t0 = time.perf_counter()
        if mode == "accurate":
            pairs = _TimedMatches(cache)

            def timed_match(f0, f1, pairs=pairs):
                pairs.started = time.perf_counter()
                return engine.match_fn(f0, f1)

            result = identify_accurate(
                images, index, store.get, match_fn=timed_match, allowed=lambda e, g=gallery: e.key in g,
                config=accurate_config or AccurateConfig(), pair_cache=pairs,
                match_head=match_head_for(q.individual) if match_head_for else None,
            )
        else:
            timings: dict = {}

            def timed_match(f0, f1, timings=timings):
                timings["start"] = time.perf_counter()
                return engine.match_fn(f0, f1)

            result = identify(
                images, index, store.get,
                match_fn=timed_match, verify_pair_fn=engine.verify_pair_fn,
                allowed=lambda e, g=gallery: e.key in g,
                shortlist_images=shortlist_images, per_individual=per_individual, pair_cache=_TimedPairs(cache, timings),
            )
        shortlist_s = result.timings.get("shortlist_seconds", time.perf_counter() - t0)
        # Latency = shortlist (always measured now) + each pair's LightGlue/verify time when it was done.
        pair_keys = {(e.query_key, e.reference_key) for c in result.candidates for e in c.evidence}
        pair_keys |= set(result.timings.get("pair_keys", ()))
        pair_s = sum(cache[k][1] for k in pair_keys if k in cache)
        scores = {dataset.items[g].individual: 0.0 for g in q.gallery}
        confidence = dict(scores)
        for c in result.candidates:
            scores[c.individual] = c.rank_score
            confidence[c.individual] = c.score
        records.append(QueryRecord(q, scores, shortlist_s + pair_s, {
            "pairs": result.timings.get("pairs", 0), "top_score": result.top_score, "frames": len(frames),
        }, confidence_scores=confidence))
        if n % 3 == 0:
            cache.save()
        if log:
            log(f"{'sightings' if groups is not None else 'queries'} {n}/{len(work)}")
    cache.save()
    return records


def run_seed_baseline(
    dataset: Dataset, queries: list[Query], store: FeatureStore, *, cache_path: Path,
    log: Callable[[str], None] | None = None, max_seconds: float | None = None, cached_only: bool = False,
) -> list[QueryRecord]:
    """The seed project's method: LightGlue against every gallery image, mean match confidence, per image.

    With max_seconds, no new query starts after that wall time; the records say how many ran.
    With cached_only, a query with a pair not yet in the cache is left out instead of matched
    (the report of shards that max_seconds stopped)."""
    started = time.perf_counter()
    engine = store.engine
    cache = PairCache(cache_path)
    records = []
    for n, q in enumerate(queries, start=1):
        if max_seconds is not None and time.perf_counter() - started > max_seconds:
            break
        fq = store.get(q.index)
        todo = [g for g in q.gallery if (q.index, g) not in cache]
        if todo and cached_only:
            continue
        if todo:
            gallery = [store.get(g) for g in todo]
            t = time.perf_counter()
            if engine.match_many_fn is not None:
                found = engine.match_many_fn(fq, gallery)
            else:
                found = [engine.match_fn(fq, fg) for fg in gallery]
            # Batched on CUDA: each pair is charged its share of the batch's time.
            each = (time.perf_counter() - t) / len(todo)
            for g, m in zip(todo, found):
                conf = np.asarray(m.confidence, np.float64)
                cache[(q.index, g)] = (float(conf.mean()) if len(conf) else 0.0, each)
        image_scores = {}
        seconds = 0.0
        for g in q.gallery:
            score, s = cache[(q.index, g)]
            image_scores[g] = score
            seconds += s
        records.append(QueryRecord(q, individual_scores_from_images(dataset.items, image_scores), seconds))
        if n % 5 == 0:
            cache.save()
            if log:
                log(f"queries {n}/{len(queries)}")
    cache.save()
    return records


def cached_accurate_pairs(dataset: Dataset, cache_root: Path, *, extractor: str, max_keypoints: int,
                          suggested_boxes: bool) -> tuple[FeatureStore, dict]:
    """What `evaluate --mode accurate` cached, for the scripts that study it (diagnose_pairs.py,
    train_match_head.py): the feature store and the image-level pairs {(query, reference): Matches}.
    The sighting-level keys (a frame masked by its burst) are left out."""
    from matching.engine.accurate import AccurateConfig

    engine = build_engine(extractor, device="cpu", max_keypoints=max_keypoints)
    suggested = auto_boxes(dataset, Path(cache_root)) if suggested_boxes else None
    store = FeatureStore(Path(cache_root), dataset, engine, ignore_boxes=False, suggested=suggested)
    cache = PairCache(store.folder / f"pairs-accurate-k{AccurateConfig().match_keypoints}.pkl")
    return store, {k: v[0] for k, v in cache.items() if len(k) == 2}


def shares_static_pixels(dataset: Dataset, store: FeatureStore, query: int, reference: int) -> bool:
    """scoring.same_frame for two data-set images: one station, or frames of one size."""
    iq, ig = dataset.items[query], dataset.items[reference]
    if iq.station and iq.station == ig.station:
        return True
    return tuple(store.get(query).image_size) == tuple(store.get(reference).image_size)

