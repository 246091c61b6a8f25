"""Engine glue: cached features in storage, the catalog index, identification runs.

The pure modules (extractors, matcher, verify, index, scoring, calibration) know nothing of
the database; this module feeds them SightingImages and writes FeatureSets and MatchCandidates.
Models and the shortlist index live once per worker process.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import threading
import time
from collections import Counter
from typing import Callable

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from catalog.models import REFERENCE_STATUSES, SUGGESTED_BOX_SOURCES, BoxSource, Sighting, SightingImage
from catalog.submission import EDITABLE_STATUSES
from matching.engine import calibration, scoring
from matching.engine.evaluation import compatible
from matching.engine.index import Entry, ShortlistIndex
from matching.engine.preprocess import load_rgb
from matching.models import Confidence, FeatureSet, MatchCandidate, MatchRun, RunMode

logger = logging.getLogger(__name__)

# Candidates stored per run: reviewers look at the first few; more adds noise, not help.
MAX_CANDIDATES = 10
# Correspondences stored per candidate for the overlay (the strongest ones are enough to judge).
MAX_OVERLAY_MATCHES = 300


def _device() -> str:
    from matching.engine.extractors import resolve_device

    return resolve_device(settings.MATCHING_DEVICE)


@functools.cache
def _extractor(name: str, device: str):
    from matching.engine.extractors import get_extractor

    return get_extractor(name, device, max_keypoints=settings.MATCHING_MAX_KEYPOINTS)


def available_extractors() -> list[dict]:
    """Every known extractor with whether it can run here and why not: [{name, usable, reason, licence, ...}].

    Checks the weight files (hashes are cached per file), without loading any model.
    """
    from matching.engine.extractors import EXTRACTORS, extractor_status
    from matching.engine.matcher import matcher_method

    out = []
    for name in EXTRACTORS:
        row = extractor_status(name)
        row["matcher"] = matcher_method(name) if row["usable"] else ""
        row["default"] = name == settings.MATCHING_DEFAULT_EXTRACTOR
        out.append(row)
    return out


def _load_rgb(image: SightingImage) -> np.ndarray:
    with image.file.open("rb") as fh:
        return load_rgb(io.BytesIO(fh.read()))


def _box(image: SightingImage) -> tuple[int, int, int, int] | None:
    if None in (image.box_x, image.box_y, image.box_w, image.box_h) or not image.box_w or not image.box_h:
        return None
    return (image.box_x, image.box_y, image.box_w, image.box_h)


def _box_key(box) -> str:
    return "" if box is None else ",".join(str(int(v)) for v in box)


def features_extract(*, image: SightingImage, extractor: str | None = None) -> FeatureSet:
    """Features of `image` for `extractor` (default from settings), from the cache when still valid.

    The cache is keyed by (image, extractor, version) and the box the features were taken in; a new
    extractor version or an edited box computes them again.
    """
    name = extractor or settings.MATCHING_DEFAULT_EXTRACTOR
    ex = _extractor(name, _device())
    box = _box(image)
    existing = FeatureSet.objects.filter(image=image, extractor=name, version=ex.version).first()
    if existing is not None and existing.box == _box_key(box) and existing.file and existing.file.storage.exists(existing.file.name):
        return existing
    # Extract outside the transaction: it can take seconds and needs no lock.
    feats = ex.extract(_load_rgb(image), box=box)
    buf = io.BytesIO()
    np.savez_compressed(buf, **feats.to_npz_dict())
    stored = ""
    try:
        with transaction.atomic():
            stale = list(FeatureSet.objects.select_for_update().filter(image=image, extractor=name))
            for fs in stale:
                name_in_storage = fs.file.name
                fs.delete()
                if name_in_storage:
                    transaction.on_commit(functools.partial(_delete_file, fs.file.storage, name_in_storage))
            fs = FeatureSet(image=image, extractor=name, version=ex.version, num_keypoints=len(feats.keypoints),
                            box=_box_key(box))
            fs.file.save("features.npz", ContentFile(buf.getvalue()), save=False)
            stored = fs.file.name
            fs.save()
    except IntegrityError:
        # Another worker (machine) stored this image's features first: two cold indexes being
        # built at once. Its features are the same as ours; keep its file, which may carry our name.
        winner = FeatureSet.objects.filter(image=image, extractor=name, version=ex.version).first()
        if stored and (winner is None or winner.file.name != stored):
            FeatureSet.file.field.storage.delete(stored)
        if winner is None:
            raise
        fs = winner
    except Exception:
        if stored:
            FeatureSet.file.field.storage.delete(stored)
        raise
    _FEATURES.pop(image.pk, None)
    return fs


def _delete_file(storage, name: str) -> None:
    # The new file for this image may carry the same name: keep it.
    if not FeatureSet.objects.filter(file=name).exists():
        storage.delete(name)


class _FeatureCache:
    """Features read from storage, per process, keyed by image pk and FeatureSet pk."""

    def __init__(self, size: int = 20000):
        self.size = size
        self.data: dict = {}
        self.lock = threading.Lock()

    def get(self, fs: FeatureSet):
        from matching.engine.extractors import Features

        hit = self.data.get(fs.image_id)
        if hit is not None and hit[0] == fs.pk:
            return hit[1]
        with fs.file.open("rb") as fh:
            with np.load(io.BytesIO(fh.read()), allow_pickle=False) as data:
                feats = Features.from_npz({k: data[k] for k in data.files})
        with self.lock:
            if len(self.data) >= self.size:
                self.data.pop(next(iter(self.data)))
            self.data[fs.image_id] = (fs.pk, feats)
        return feats

    def pop(self, image_id, default=None):
        with self.lock:
            return self.data.pop(image_id, default)


_FEATURES = _FeatureCache()
_INDEXES: dict[tuple[str, str], ShortlistIndex] = {}
_INDEX_LOCK = threading.Lock()


def _reference_images():
    return SightingImage.objects.filter(
        sighting__status__in=REFERENCE_STATUSES, sighting__individual__isnull=False
    ).select_related("sighting", "sighting__station")


def _entry(image: SightingImage, feats) -> Entry:
    s = image.sighting
    location = s.location_id or (s.station.location_id if s.station_id else None)
    return Entry(key=image.pk, individual=s.individual_id, body_part=image.body_part or "",
                 station=s.station_id, location=location, sighting=s.pk, image_size=tuple(feats.image_size))


def _catalog_index(name: str, progress: Callable[[str, int, int], None] | None = None, *,
                   extract_missing: int | None = None) -> ShortlistIndex:
    """This process's index for extractor `name`, brought in line with the catalog (adds and removals).

    extract_missing: at most this many catalog images without features are extracted here (None: all);
    the rest are left out until the bulk queue has made them (see pending_references), so that an
    identification never spends minutes extracting a freshly imported catalog while a user waits."""
    ex = _extractor(name, _device())
    key = (name, ex.version)
    with _INDEX_LOCK:
        index = _INDEXES.get(key)
        refs = list(_reference_images())
        wanted = {img.pk: img for img in refs}
        if index is not None:
            for gone in [k for k, e in index.entries.items() if k not in wanted or e.individual != wanted[k].sighting.individual_id]:
                index.remove(gone)
        missing = [img for pk, img in wanted.items() if index is None or pk not in index.entries]
        sets = {fs.image_id: fs for fs in FeatureSet.objects.filter(
            image_id__in=[img.pk for img in missing], extractor=name, version=ex.version)}
        for i, img in enumerate(missing):
            fs = sets.get(img.pk)
            if fs is None or fs.box != _box_key(_box(img)):
                if extract_missing is not None:
                    if extract_missing <= 0:
                        continue
                    extract_missing -= 1
                if progress:
                    progress("extracting", i, len(missing))
                fs = features_extract(image=img, extractor=name)
            feats = _FEATURES.get(fs)
            if index is None:
                dim = int(feats.descriptors.shape[1]) if feats.descriptors.ndim == 2 else 0
                if dim == 0:
                    continue
                index = ShortlistIndex(dim=dim)
            if len(feats.descriptors):
                index.add(_entry(img, feats), feats.descriptors, feats.keypoints, feats.scores)
        if index is None:
            index = ShortlistIndex(dim=1)
        _INDEXES[key] = index
        return index


def mode_extractors() -> list[str]:
    """The extractors the two modes use (fast: the default extractor; accurate: its own)."""
    return list(dict.fromkeys([settings.MATCHING_DEFAULT_EXTRACTOR, settings.MATCHING_ACCURATE_EXTRACTOR]))


# Boxes a suggestion may replace: none yet, or an earlier suggestion nobody confirmed. A box a user
# drew or accepted, or one imported with the photo, is never touched.
UNCONFIRMED_BOX_SOURCES = (BoxSource.NONE, *SUGGESTED_BOX_SOURCES)


def sighting_box_suggestions(*, sighting: Sighting) -> tuple[list[SightingImage], list[dict | None]]:
    """The sighting's images (by pk) and the box matching.engine.boxes.suggest_boxes suggests for each
    (detector + the burst's motion), as the submit page's box editor and sighting_boxes_suggest get them."""
    from PIL import Image

    from matching.engine.boxes import suggest_boxes

    images = list(sighting.images.order_by("pk"))
    pictures = []
    for image in images:
        with image.file.open("rb") as handle:
            picture = Image.open(handle)
            picture.load()
        pictures.append(picture.convert("RGB"))
    return images, suggest_boxes(images=pictures)


def sighting_boxes_suggest(*, sighting: Sighting) -> int:
    """Stores the suggested box (detector + burst motion, as the submit page's box editor gets it) on
    each image of the sighting that has no confirmed box, as an unconfirmed detector or motion box
    for the user to accept, redraw or remove. Returns how many images got a box.

    The whole sighting is looked at together because motion needs the burst: a frame uploaded later
    can give the earlier ones their box. Only while the sighting's boxes can still be edited.
    """
    images, suggestions = sighting_box_suggestions(sighting=sighting)
    stored = 0
    with transaction.atomic():
        # Locked so that the status still holds when the boxes are written; each update replaces only an
        # unconfirmed box, so a box the user confirms meanwhile wins.
        if not Sighting.objects.select_for_update().filter(pk=sighting.pk, status__in=EDITABLE_STATUSES).exists():
            return 0
        for image, box in zip(images, suggestions):
            if box is None:
                continue  # an earlier suggestion, if any, stays
            stored += SightingImage.objects.filter(pk=image.pk, box_source__in=UNCONFIRMED_BOX_SOURCES).update(
                box_x=box["x"], box_y=box["y"], box_w=box["w"], box_h=box["h"],
                box_source=BoxSource.MOTION if box["source"] == "motion" else BoxSource.DETECTOR,
            )
    return stored


def pending_references(name: str) -> int:
    """Catalog images without features for extractor `name` yet (queued on the bulk cluster)."""
    version = _extractor(name, _device()).version
    return _reference_images().exclude(feature_sets__extractor=name, feature_sets__version=version).count()


def catalog_index_add(*, sighting: Sighting) -> None:
    """Extract and index a sighting that joined the catalog (bulk queue), for both modes' extractors,
    so that no identification has to extract catalog images while a user waits."""
    for name in mode_extractors():
        for image in sighting.images.all():
            features_extract(image=image, extractor=name)
        if (name, _extractor(name, _device()).version) in _INDEXES:
            _catalog_index(name)


def catalog_index_train(*, extractor: str = "") -> None:
    """Train this process's index for `extractor` when it is due (index.ShortlistIndex.training_due).

    Called after a run's answer is saved (matching.tasks.identify): searches do not retrain, so the
    5-20 s of k-means at each 4x growth of a large catalog fall between runs, not inside one."""
    name = extractor or settings.MATCHING_DEFAULT_EXTRACTOR
    with _INDEX_LOCK:
        for (index_name, _version), index in _INDEXES.items():
            if index_name == name and index.training_due:
                started = time.perf_counter()
                index.sync()
                logger.info("trained the %s index (%d vectors) in %.1f s", name, index.num_vectors,
                            time.perf_counter() - started)


def _with_location_prior(result, index: ShortlistIndex, allowed: Callable[[Entry], bool], sighting, mode: str):
    """The identification re-ranked by log P(individual | station) + weight * pattern score
    (matching/engine/prior.py), counted over the distinct catalog sightings the run may compare
    with. Individuals seen at the station but without pattern evidence join the candidates with a
    score of 0, as the evaluation ranks them. Returns (result, priors, sightings at the station)."""
    from matching.engine import prior as location

    seen, here = {}, Counter()
    station = sighting.station_id
    area = sighting.location_id or (sighting.station.location_id if station else None)
    if station is None and area is None:
        # No place to go by: how common a cat is in the catalog is not weighed against the photos.
        return result, {}, {}
    for e in index.entries.values():
        if e.sighting is None or e.individual is None or not allowed(e) or e.sighting in seen:
            continue
        seen[e.sighting] = (e.individual, e.station, e.location)
        if station is not None and e.station == station:
            here[e.individual] += 1
    if not result.candidates and not seen:
        return result, {}, {}
    by_ind = {c.individual: c for c in result.candidates}
    for ind in here:
        by_ind.setdefault(ind, scoring.Candidate(individual=ind, score=0.0, best=None))
    priors = location.location_prior(seen.values(), station=station, area=area, individuals=by_ind)
    fused = location.fuse({i: c.rank_score for i, c in by_ind.items()}, priors, location.WEIGHTS[mode])
    ranked = sorted(by_ind.values(), key=lambda c: (-fused[c.individual], str(c.individual)))
    return dataclasses.replace(result, candidates=ranked), priors, dict(here)


def _unverified_pair(individual, queries: list, index: ShortlistIndex, allowed: Callable[[Entry], bool]) -> tuple:
    """(query image pk, reference image pk) to show for a candidate that only the shortlist's votes ranked.

    The verification step compares only the shortlist's best-voted images, so the lower candidates
    have no verified pair; the reviewer still needs a photo of each side by side to judge them.
    """
    for q in queries:
        for key, entry in index.entries.items():
            if entry.individual == individual and allowed(entry) and compatible(q.body_part, entry.body_part):
                return q.key, key
    return None, None


def identify_run(*, run: MatchRun, progress: Callable[[str, int, int], None] | None = None) -> None:
    """Rank the catalog's individuals for run.sighting; replaces run.candidates and sets the outcome."""
    from matching.engine import matcher, verify

    name = run.extractor or settings.MATCHING_DEFAULT_EXTRACTOR
    device = _device()
    sighting = run.sighting
    images = list(sighting.images.all())
    queries = []
    for i, image in enumerate(images):
        if progress:
            progress("extracting", i, len(images))
        fs = features_extract(image=image, extractor=name)
        queries.append(scoring.QueryImage(image.pk, _FEATURES.get(fs), image.body_part or "", sighting.station_id))
    if progress:
        progress("extracting", len(images), len(images))
    index = _catalog_index(name, extract_missing=settings.MATCHING_EXTRACT_IN_RUN)
    pending = pending_references(name)
    filters = run.filters or {}
    locations = set(filters.get("locations") or [])
    body_parts = set(filters.get("body_parts") or [])

    def allowed(e: Entry) -> bool:
        if e.sighting == sighting.pk:
            return False
        if locations and e.location not in locations:
            return False
        return not body_parts or e.body_part in body_parts

    version = _extractor(name, device).version
    feature_sets: dict = {}

    def features_of(image_pk):
        fs = feature_sets.get(image_pk)
        if fs is None:
            fs = FeatureSet.objects.get(image_id=image_pk, extractor=name, version=version)
            feature_sets[image_pk] = fs
        return _FEATURES.get(fs)

    match_fn = lambda f0, f1: matcher.match(f0, f1, device=device)  # noqa: E731
    match_many_fn = lambda q, refs: matcher.match_many(q, refs, device=device)  # noqa: E731
    if run.mode == RunMode.ACCURATE:
        from matching.engine.accurate import ACCURATE_VERSION, AccurateConfig, identify_accurate

        cal = calibration.load(extractor=name, pair_version=ACCURATE_VERSION, mode=RunMode.ACCURATE)
        result = identify_accurate(
            queries, index, features_of, match_fn=match_fn, match_many_fn=match_many_fn, allowed=allowed,
            config=AccurateConfig(
                individuals=settings.MATCHING_ACCURATE_INDIVIDUALS,
                per_individual=settings.MATCHING_ACCURATE_PER_INDIVIDUAL,
                max_frames=settings.MATCHING_ACCURATE_MAX_FRAMES,
            ),
            likely_new_below=cal.likely_new_below if cal else 0.0, progress=progress,
        )
    else:
        cal = calibration.load(extractor=name, pair_version=scoring.PAIR_VERSION, mode=RunMode.FAST)
        result = scoring.identify(
            queries, index, features_of,
            match_fn=match_fn, match_many_fn=match_many_fn, verify_pair_fn=verify.verify_pair,
            allowed=allowed, shortlist_images=settings.MATCHING_SHORTLIST,
            likely_new_below=cal.likely_new_below if cal else 0.0, progress=progress,
        )
    priors, here = {}, {}
    if filters.get("location_prior", settings.MATCHING_LOCATION_PRIOR):
        result, priors, here = _with_location_prior(result, index, allowed, sighting, run.mode)
    with transaction.atomic():
        if progress:  # first in the transaction: the caller may refuse the write (matching.runs)
            progress("saving", len(images), len(images))
        run.candidates.all().delete()
        rows = []
        for rank, cand in enumerate(result.candidates[:MAX_CANDIDATES], start=1):
            best = cand.best
            pts = best.matches[:MAX_OVERLAY_MATCHES] if best is not None else np.zeros((0, 4))
            query_key, reference_key = (best.query_key, best.reference_key) if best else _unverified_pair(
                cand.individual, queries, index, allowed)
            rows.append(MatchCandidate(
                run=run, individual_id=cand.individual, rank=rank, score=round(float(cand.score), 4),
                confidence=cal.level(cand.score) if cal else Confidence.UNCERTAIN,
                num_inliers=cand.num_inliers, body_parts=list(cand.body_parts),
                query_image_id=query_key,
                reference_image_id=reference_key,
                matches=[[round(float(v), 1) for v in row] for row in pts],
                prior=round(priors[cand.individual], 4) if cand.individual in priors else None,
                station_sightings=here.get(cand.individual, 0),
            ))
        MatchCandidate.objects.bulk_create(rows)
        run.likely_new = result.likely_new
        run.top_score = float(result.top_score) if result.candidates else None
        run.calibration_version = cal.version if cal else ""
        run.references_pending = pending
        if result.reason and not result.candidates:
            logger.info("run %s: %s", run.pk, result.reason)
        run.save(update_fields=["likely_new", "top_score", "calibration_version", "references_pending"])
