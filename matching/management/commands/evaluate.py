"""Measure identification accuracy on a labelled-folder data set (reid-dev protocol); writes nothing to the DB."""

import argparse
import json
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from matching.engine import calibration
from matching.engine.evaluation import DatasetError, format_report, plan_queries, read_dataset, summarize
from matching.engine.scoring import PAIR_VERSION


class Command(BaseCommand):
    help = (
        "Evaluate identification on DATASET_DIR (labels.csv + images/) with the protocol of "
        "reid-dev/README.md: leave-one-out queries, other encounters only, compatible body parts, "
        "individuals ranked with pessimistic ties. Prints rank-1/5, mAP, per-individual rank-1, "
        "new-individual AUC, confidence levels and timings. Features and pair results are cached "
        "under var/eval-cache/."
    )

    def add_arguments(self, parser):
        parser.add_argument("dataset_dir")
        parser.add_argument("--extractor", default=None,
                            help="default: the mode's extractor (seed-baseline: aliked)")
        parser.add_argument("--method", choices=["default", "seed-baseline"], default="default",
                            help="default: the product's engine in --mode; seed-baseline: ALIKED-n16 on the colour photo, "
                                 "2,048 keypoints, LightGlue against every gallery image, mean match confidence, "
                                 "ranked per image")
        parser.add_argument("--mode", choices=["fast", "accurate"], default=None,
                            help="the product's identification mode (default: settings.MATCHING_DEFAULT_MODE)")
        parser.add_argument("--ignore-boxes", action="store_true", help="match full frames, as when no box is drawn")
        parser.add_argument("--suggested-boxes", action="store_true",
                            help="images without a box use the submit page's suggestion (detector + burst motion)")
        parser.add_argument("--max-queries", type=int, default=None, help="reproducible random sample of queries")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--shard", type=_shard, default=None, metavar="K/N",
                            help="run only every N-th query of the sample, from the K-th (K = 0..N-1), to split a "
                                 "long run over processes; they share the pair cache, so a later run without "
                                 "--shard reports the whole sample from it")
        parser.add_argument("--json", dest="json_path", default=None, help="write the figures to this file")
        parser.add_argument("--cache-dir", default=None, help="default: var/eval-cache in the project")
        parser.add_argument("--long-side", type=int, default=None, help="working resolution (default: the engine's)")
        parser.add_argument("--max-keypoints", type=int, default=None)
        parser.add_argument("--shortlist", type=int, default=None, help="gallery images verified per query image")
        parser.add_argument("--max-seconds", type=float, default=None,
                            help="start no new query after this many seconds of matching (queries run in random order)")
        parser.add_argument("--cached-only", action="store_true",
                            help="seed baseline: report only the queries whose pairs are all in the pair cache, "
                                 "matching nothing (after --shard runs that --max-seconds stopped)")
        parser.add_argument("--calibration", default=None, help="calibration version (default: latest for the extractor)")
        parser.add_argument("--match-head", default=None, metavar="FILE",
                            help="accurate mode: weight each verified match by the learned head in FILE "
                                 "(scripts/train_match_head.py); a query of a cat the file holds a fold for "
                                 "is scored by the head fitted without that cat")
        parser.add_argument("--no-location-prior", action="store_true",
                            help="rank by the pattern score alone, without where each cat has been seen "
                                 "(default: as settings.MATCHING_LOCATION_PRIOR; the seed baseline never uses it)")

    def handle(self, *args, **opts):
        from matching.engine import scoring
        from matching.engine.accurate import ACCURATE_VERSION, AccurateConfig
        from matching.engine.evaluation import encounter_records, prior_for, summarize_encounters, with_location_prior
        from matching.engine.match_head import HeadFile
        from matching.engine.prior import WEIGHTS
        from matching.engine.evaluation_runner import (
            FeatureStore, auto_boxes, build_engine, device_name, encounter_groups, run_default, run_seed_baseline,
        )

        try:
            dataset = read_dataset(opts["dataset_dir"])
        except DatasetError as exc:
            raise CommandError(str(exc)) from None
        method = opts["method"]
        if opts["cached_only"] and method != "seed-baseline":
            raise CommandError("--cached-only is for --method seed-baseline, whose pair cache holds whole results")
        mode = opts["mode"] or settings.MATCHING_DEFAULT_MODE
        if mode not in ("fast", "accurate"):
            raise CommandError(f"MATCHING_DEFAULT_MODE must be fast or accurate, not {mode!r}")
        heads = None
        if opts["match_head"]:
            if method != "default" or mode != "accurate":
                raise CommandError("--match-head weights the accurate mode's matches: use it with --mode accurate")
            try:
                heads = HeadFile.load(Path(opts["match_head"]))
            except (OSError, ValueError, KeyError) as exc:
                raise CommandError(f"cannot read the match head {opts['match_head']}: {exc}") from None
        if method == "seed-baseline":
            # The seed project's configuration unless told otherwise.
            extractor_name = opts["extractor"] or "aliked"
            max_keypoints = opts["max_keypoints"] or 2048
        else:
            extractor_name = opts["extractor"] or (
                settings.MATCHING_ACCURATE_EXTRACTOR if mode == "accurate" else settings.MATCHING_DEFAULT_EXTRACTOR)
            max_keypoints = opts["max_keypoints"] or settings.MATCHING_MAX_KEYPOINTS
        # The seed saw the photos as they are: no grey equalisation or glare masking (accurate mode's).
        engine = build_engine(extractor_name, device=settings.MATCHING_DEVICE, long_side=opts["long_side"],
                              max_keypoints=max_keypoints, plain=method == "seed-baseline")
        if heads and (heads.extractor, heads.extractor_version) != (engine.extractor.name, engine.extractor.version):
            raise CommandError(f"the match head was fitted on {heads.extractor} {heads.extractor_version} features, "
                               f"not {engine.extractor.name} {engine.extractor.version}")
        cache_root = Path(opts["cache_dir"] or (settings.BASE_DIR / "var" / "eval-cache"))
        log = self.stderr.write if opts["verbosity"] >= 1 else None
        suggested = auto_boxes(dataset, cache_root, log=log) if opts["suggested_boxes"] else None
        store = FeatureStore(cache_root, dataset, engine, ignore_boxes=opts["ignore_boxes"], suggested=suggested)
        queries = plan_queries(dataset, max_queries=opts["max_queries"], seed=opts["seed"])
        if opts["shard"]:
            k, n = opts["shard"]
            queries = queries[k::n]
        needed = sorted({q.index for q in queries} | ({g for q in queries for g in q.gallery}))
        store.extract_all(needed if method == "seed-baseline" else range(len(dataset.items)), log=log)

        score_version = ACCURATE_VERSION if mode == "accurate" else PAIR_VERSION
        cal = calibration.load(opts["calibration"], extractor=engine.extractor.name, pair_version=score_version,
                               mode=mode)
        if heads:
            # The calibration was fitted on unweighted scores: with a head, every answer stays uncertain.
            cal = None
        shortlist = opts["shortlist"] or settings.MATCHING_SHORTLIST
        config = AccurateConfig(
            individuals=settings.MATCHING_ACCURATE_INDIVIDUALS, per_individual=settings.MATCHING_ACCURATE_PER_INDIVIDUAL,
            max_frames=settings.MATCHING_ACCURATE_MAX_FRAMES,
        )
        if method == "seed-baseline":
            records = run_seed_baseline(dataset, queries, store, cache_path=store.folder / "pairs-seed.pkl", log=log,
                                        max_seconds=opts["max_seconds"], cached_only=opts["cached_only"])
            # The seed ranked per image: a sighting's individual score is its best frame's.
            sightings = encounter_records(dataset, records, fuse=max)
            level_of, likely_new = None, None
        else:
            # Accurate mode caches raw LightGlue matches, which do not depend on the pair score.
            cache_path = store.folder / (f"pairs-accurate-k{config.match_keypoints}.pkl" if mode == "accurate"
                                         else f"pairs-default-{scoring.PAIR_VERSION}.pkl")
            common = dict(cache_path=cache_path, shortlist_images=shortlist, per_individual=scoring.PER_INDIVIDUAL,
                          mode=mode, accurate_config=config,
                          match_head_for=heads.head_for if heads else None)
            records = run_default(dataset, queries, store, log=log, max_seconds=opts["max_seconds"], **common)
            # Sightings as the product identifies them: all their frames in one identification.
            ran = [r.query for r in records]
            sightings = run_default(dataset, ran, store, log=log, groups=encounter_groups(dataset, ran), **common)
            level_of = cal.level if cal else None
            likely_new = cal.likely_new_below if cal else None
        # The pattern score alone is always reported; the product's ranking adds the location prior.
        use_prior = method == "default" and settings.MATCHING_LOCATION_PRIOR and not opts["no_location_prior"]
        weight = WEIGHTS[mode]
        pattern = summarize(records)
        pattern.update(summarize_encounters(sightings))
        if use_prior:
            records = with_location_prior(dataset, records, weight)
            sightings = with_location_prior(dataset, sightings, weight)
        result = summarize(records, level_of=level_of, likely_new_threshold=likely_new)
        result.update(summarize_encounters(sightings, level_of=level_of, likely_new_threshold=likely_new))
        result["location_prior"] = {"used": use_prior, "weight": weight if use_prior else None}
        result["pattern_only"] = {k: pattern[k] for k in (
            "rank1", "rank5", "map", "rank1_macro", "rank1_per_individual", "new_individual_auc",
            "encounter_rank1", "encounter_rank5", "encounter_rank1_macro", "encounter_rank1_per_individual",
            "encounter_new_individual_auc")}
        if "levels" not in result:
            # The seed method has no calibrated levels: every answer is reported as uncertain.
            for prefix, n, r1 in (("", result["queries"], result["rank1"]),
                                  ("encounter_", result["encounters"], result["encounter_rank1"])):
                result[prefix + "levels"] = {lv: {"count": 0, "precision": None} for lv in ("excellent", "good", "fair")}
                result[prefix + "levels"]["uncertain"] = {"count": n, "precision": r1}
                result[prefix + "coverage"] = {lv: {"share": 0.0, "precision": None, "count": 0}
                                               for lv in ("excellent", "good", "fair")}
                result[prefix + "coverage"]["uncertain"] = {"share": 1.0 if n else None, "precision": r1, "count": n}
        result.update({
            "dataset": dataset.name,
            "dataset_dir": str(Path(opts["dataset_dir"]).resolve()),
            "method": method,
            "mode": mode if method == "default" else None,
            "extractor": engine.extractor.name,
            "extractor_version": engine.extractor.version,
            "max_keypoints": max_keypoints,
            "pair_version": score_version if method == "default" else None,
            "ignore_boxes": opts["ignore_boxes"],
            "suggested_boxes": opts["suggested_boxes"],
            "max_queries": opts["max_queries"],
            "max_seconds": opts["max_seconds"],
            "queries_run": len(records),
            "seed": opts["seed"],
            "shard": "{}/{}".format(*opts["shard"]) if opts["shard"] else None,
            "cached_only": opts["cached_only"],
            "shortlist_images": shortlist if method == "default" and mode == "fast" else None,
            "accurate_config": config.__dict__ if method == "default" and mode == "accurate" else None,
            "calibration_version": cal.version if cal and method == "default" else None,
            "match_head": {"path": opts["match_head"], "folds": sorted(heads.folds), "about": heads.about} if heads else None,
            "extract_seconds_per_image": store.seconds_per_image(),
            "cpu_threads": os.cpu_count(),
            "device": device_name(settings.MATCHING_DEVICE),
            # Raw material for calibration.fit: (top score, top-1 correct) per eligible query, and
            # the best wrong score per query (the "new individual" case of protocol step 8).
            "samples": _samples(dataset, records),
            "encounter_samples": _samples(dataset, sightings),
            # For scripts/fit_prior.py: each query's pattern score and location prior per individual.
            "prior_cases": _prior_cases(dataset, records, prior_for),
            "encounter_prior_cases": _prior_cases(dataset, sightings, prior_for),
        })
        self.stdout.write(format_report(result))
        if opts["json_path"]:
            Path(opts["json_path"]).write_text(json.dumps(result, indent=1, default=float))
            self.stdout.write(f"wrote {opts['json_path']}")


def _shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes K/N, for example 0/2, not {text!r}") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"--shard K/N needs 0 <= K < N, not {text!r}")
    return k, n


def _prior_cases(dataset, records, prior_for) -> list[dict]:
    out = []
    for r in records:
        if not r.query.eligible or not dataset.items[r.query.index].station:
            continue  # the prior is used only where the place is known
        pattern = r.extra.get("pattern", r.scores)
        item = dataset.items[r.query.index]
        out.append({"query": str(item.path.relative_to(dataset.root)), "encounter": item.encounter,
                    "individual": r.query.individual, "pattern": pattern,
                    "prior": r.extra.get("prior") or prior_for(dataset, r)})
    return out


def _samples(dataset, records) -> list[dict]:
    return [
        {"query": str(dataset.items[r.query.index].path.relative_to(dataset.root)),
         "encounter": dataset.items[r.query.index].encounter,
         "individual": r.query.individual, "eligible": r.query.eligible,
         "top": r.top[0], "top_score": r.top[1],
         "best_wrong": r.best_wrong,
         "frames": r.extra.get("frames", 1),
         "seconds": r.seconds}
        for r in records
    ]
