"""benchmark --modes: what a 5-frame sighting costs in each identification mode, per catalog size.

Features precomputed, catalog padded with augmented features of real dev images (as the per-image
figures of `benchmark`); a sighting is the first --frames query frames of an eligible encounter,
identified in one call as the worker does.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from django.conf import settings

from matching.engine.accurate import AccurateConfig, identify_accurate
from matching.engine.evaluation import plan_queries
from matching.engine.evaluation_runner import FeatureStore, build_engine, encounter_groups
from matching.engine.scoring import QueryImage, identify


def _sightings(dataset, frames: int, count: int, seed: int) -> list:
    groups = [(q, idx) for q, idx in encounter_groups(dataset, plan_queries(dataset)) if q.eligible]
    rng = np.random.default_rng(seed)
    # Sightings with enough frames first (a trigger usually gives 3-10); shorter ones repeat none.
    long_enough = [g for g in groups if len(g[1]) >= frames] or groups
    picked = [long_enough[i] for i in sorted(rng.choice(len(long_enough), min(count, len(long_enough)), replace=False))]
    return [(q, idx[:frames]) for q, idx in picked]


def time_modes(cmd, *, modes, sizes, dataset, cache_root, suggested, opts) -> dict:
    from matching.management.commands.benchmark import augment, dev_index, pad_index

    out = {}
    sightings = _sightings(dataset, opts["frames"], opts["sightings"], opts["seed"])
    config = AccurateConfig(individuals=settings.MATCHING_ACCURATE_INDIVIDUALS,
                            per_individual=settings.MATCHING_ACCURATE_PER_INDIVIDUAL,
                            max_frames=settings.MATCHING_ACCURATE_MAX_FRAMES)
    for mode in modes:
        name = settings.MATCHING_ACCURATE_EXTRACTOR if mode == "accurate" else (opts["extractor"] or settings.MATCHING_DEFAULT_EXTRACTOR)
        engine = build_engine(name, device=settings.MATCHING_DEVICE, max_keypoints=opts["max_keypoints"] or settings.MATCHING_MAX_KEYPOINTS)
        store = FeatureStore(cache_root, dataset, engine, ignore_boxes=False, suggested=suggested)
        store.extract_all(range(len(dataset.items)), log=cmd.stderr.write)
        base = [store.get(i) for i in range(len(dataset.items))]

        def features_of(key):
            return base[key] if isinstance(key, int) else augment(base[key[0]], key[1])

        index = dev_index(dataset, base)
        rows = {}
        for size in sizes:
            pad_index(index, dataset, base, size)
            index.sync()
            times, pairs, correct = [], [], 0
            for q, frames in sightings:
                enc = dataset.items[frames[0]].encounter
                images = [QueryImage(i, base[i], dataset.items[i].body_part, dataset.items[i].station or None) for i in frames]
                t0 = time.perf_counter()
                if mode == "accurate":
                    res = identify_accurate(images, index, features_of, match_fn=engine.match_fn,
                                            match_many_fn=engine.match_many_fn,
                                            allowed=lambda e, enc=enc: e.sighting != enc, config=config)
                else:
                    res = identify(images, index, features_of, match_fn=engine.match_fn, verify_pair_fn=engine.verify_pair_fn,
                                   match_many_fn=engine.match_many_fn, allowed=lambda e, enc=enc: e.sighting != enc,
                                   shortlist_images=settings.MATCHING_SHORTLIST)
                seconds = time.perf_counter() - t0
                times.append(seconds)
                pairs.append(res.timings.get("pairs", 0))
                correct += bool(res.candidates) and res.candidates[0].individual == q.individual
            total_pairs = sum(pairs)
            rows[str(size)] = {
                "median_seconds": statistics.median(times),
                "p95_seconds": float(np.percentile(times, 95)),
                "sightings": len(times),
                "frames": opts["frames"],
                "median_pairs": statistics.median(pairs),
                "pairs_per_second": total_pairs / sum(times) if sum(times) else None,
                "rank1_on_timed_sightings": correct / len(times) if times else None,
            }
            cmd.stdout.write(f"mode {mode:<8} size {size:>6}: median {rows[str(size)]['median_seconds']:.1f} s, "
                             f"p95 {rows[str(size)]['p95_seconds']:.1f} s per {opts['frames']}-frame sighting "
                             f"({rows[str(size)]['median_pairs']:.0f} pairs, "
                             f"{rows[str(size)]['pairs_per_second'] or 0:.1f} pairs/s)")
        out[mode] = {"sizes": rows, "default": mode == settings.MATCHING_DEFAULT_MODE, "extractor": engine.extractor.name,
                     "extractor_version": engine.extractor.version}
    return out
