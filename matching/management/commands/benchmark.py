"""Identification latency per catalog size, against the exhaustive LightGlue baseline; writes nothing to the DB."""

import json
import os
import resource
import statistics
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from matching.engine.evaluation import plan_queries, read_dataset
from matching.engine.evaluation_runner import FeatureStore, auto_boxes, build_engine, device_name
from matching.engine.index import Entry, ShortlistIndex
from matching.engine.scoring import QueryImage, identify


def augment(f, seed: int):
    """A plausible other photo's features from real ones: keypoint dropout, an affine warp of the
    positions, descriptor noise. Done on features, in memory: extracting thousands of real
    augmented images would take hours on the 2-core machine, and the catalog only needs features."""
    from matching.engine.extractors import Features

    rng = np.random.default_rng(seed)
    n = len(f.keypoints)
    keep = np.sort(rng.choice(n, size=max(1, int(n * rng.uniform(0.6, 0.9))), replace=False)) if n else np.zeros(0, int)
    angle = rng.uniform(-0.2, 0.2)
    scale = rng.uniform(0.85, 1.15)
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)

    def warp(points, size):
        centre = np.asarray(size, np.float32) / 2
        out = (points - centre) @ rot.T + centre + rng.normal(0, 2, size=2).astype(np.float32)
        return np.clip(out, 0, np.asarray(size, np.float32) - 1).astype(np.float32)

    desc = f.descriptors[keep] + rng.normal(0, 0.08, size=(len(keep), f.descriptors.shape[1])).astype(np.float32)
    desc /= np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-6)
    return Features(
        keypoints=warp(f.keypoints[keep], f.image_size), descriptors=desc.astype(np.float32),
        scores=f.scores[keep], image_size=f.image_size, extractor=f.extractor, version=f.version,
        prepared_keypoints=warp(f.prepared_keypoints[keep], f.prepared_size), prepared_size=f.prepared_size,
        scales=None if f.scales is None else f.scales[keep], oris=None if f.oris is None else f.oris[keep],
        transform=f.transform, bars=f.bars,
    )


def dev_index(dataset, base) -> ShortlistIndex:
    """A shortlist index of the data set's images (features ``base``, by item index)."""
    index = ShortlistIndex(dim=int(base[0].descriptors.shape[1]))
    for it, f in zip(dataset.items, base):
        if len(f.descriptors):
            index.add(Entry(key=it.index, individual=it.individual, body_part=it.body_part, station=it.station or None,
                            sighting=it.encounter, image_size=tuple(f.image_size)), f.descriptors, f.keypoints, f.scores)
    return index


def pad_index(index: ShortlistIndex, dataset, base, size: int) -> None:
    """Grow ``index`` to ``size`` images with augmented copies of the data set's features, keyed
    (item index, seed): padding individuals of ten images each, never a query's individual."""
    pad_n = sum(1 for key in index.entries if isinstance(key, tuple))
    while len(index) < size:
        b = pad_n % len(base)
        key = (b, 1000 + pad_n)
        f = augment(base[b], key[1])
        it = dataset.items[b]
        index.add(Entry(key=key, individual=f"pad{pad_n // 10}", body_part=it.body_part, station=None,
                        sighting=f"pad{pad_n}", image_size=tuple(f.image_size)), f.descriptors, f.keypoints, f.scores)
        pad_n += 1


# Catalog images matched per match_many call by the exhaustive baseline (one padded batch on CUDA).
EXHAUSTIVE_CHUNK = 32


class Command(BaseCommand):
    help = (
        "Median and p95 identify latency per catalog size (features precomputed; the catalog is padded "
        "with augmented features of real dev images), the exhaustive LightGlue baseline where it finishes "
        "in its time box, extraction time per image and peak memory."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sizes", default="100,1000,10000")
        parser.add_argument("--json", dest="json_path", default=None)
        parser.add_argument("--dataset", default=str(settings.BASE_DIR.parent / "shared" / "data" / "reid-dev" / "snowleopard"))
        parser.add_argument("--extractor", default=None)
        parser.add_argument("--queries", type=int, default=10, help="identifications timed per size")
        parser.add_argument("--exhaustive-budget", type=float, default=300.0,
                            help="seconds the exhaustive baseline may take per size (all its queries)")
        parser.add_argument("--exhaustive-queries", type=int, default=2)
        parser.add_argument("--cache-dir", default=None)
        parser.add_argument("--long-side", type=int, default=None)
        parser.add_argument("--max-keypoints", type=int, default=None)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--suggested-boxes", action="store_true",
                            help="as in evaluate: images without a box use the suggested box")
        parser.add_argument("--modes", default="fast,accurate",
                            help="identification modes timed per 5-frame sighting (JSON 'modes'); empty: none")
        parser.add_argument("--sightings", type=int, default=5, help="5-frame sightings timed per mode and size")
        parser.add_argument("--frames", type=int, default=5, help="frames per timed sighting")
        parser.add_argument("--end-to-end", action="store_true",
                            help="also time 'Identify' to results through the queue with a warm worker "
                                 "(scripts/e2e_latency.py, a throw-away site at the largest --sizes)")
        parser.add_argument("--end-to-end-runs", type=int, default=5)
        parser.add_argument("--end-to-end-storage", choices=["local", "s3", "both"], default="local",
                            help="media of the end-to-end site: local disk (end_to_end_median_seconds), a bucket "
                                 "of a throw-away SeaweedFS server (end_to_end_bucket_median_seconds), or both")

    def handle(self, *args, **opts):
        try:
            sizes = sorted({int(s) for s in opts["sizes"].split(",") if s.strip()})
        except ValueError:
            raise CommandError("--sizes takes comma-separated integers, e.g. 100,1000,10000") from None
        if not sizes or sizes[0] < 1:
            raise CommandError("--sizes must be positive")
        name = opts["extractor"] or settings.MATCHING_DEFAULT_EXTRACTOR
        engine = build_engine(name, device=settings.MATCHING_DEVICE, long_side=opts["long_side"],
                              max_keypoints=opts["max_keypoints"] or settings.MATCHING_MAX_KEYPOINTS)
        dataset = read_dataset(opts["dataset"]) if (Path(opts["dataset"]) / "labels.csv").exists() else None
        if dataset is None:
            raise CommandError(f"no labelled data set at {opts['dataset']} (pass --dataset)")
        cache_root = Path(opts["cache_dir"] or settings.BASE_DIR / "var" / "eval-cache")
        suggested = auto_boxes(dataset, cache_root, log=self.stderr.write) if opts["suggested_boxes"] else None
        store = FeatureStore(cache_root, dataset, engine, ignore_boxes=False, suggested=suggested)
        store.extract_all(range(len(dataset.items)), log=self.stderr.write)
        base = [store.get(i) for i in range(len(dataset.items))]
        queries = [q for q in plan_queries(dataset, seed=opts["seed"]) if q.eligible]
        rng = np.random.default_rng(opts["seed"])
        queries = [queries[i] for i in sorted(rng.choice(len(queries), min(opts["queries"], len(queries)), replace=False))]

        def features_of(key):
            if isinstance(key, int):
                return base[key]
            b, s = key
            return augment(base[b], s)

        result = {"sizes": {}, "extractor": engine.extractor.name, "extractor_version": engine.extractor.version,
                  "device": device_name(settings.MATCHING_DEVICE), "queries_per_size": len(queries),
                  "dataset": dataset.name, "shortlist_images": settings.MATCHING_SHORTLIST}
        index = dev_index(dataset, base)
        for size in sizes:
            t_build = time.perf_counter()
            pad_index(index, dataset, base, size)
            # Index (re)training belongs to adding images, not to the first query's latency.
            index.sync()
            build_s = time.perf_counter() - t_build
            times, cpu_times, correct = [], [], 0
            for q in queries:
                item = dataset.items[q.index]
                c0 = time.process_time()
                t0 = time.perf_counter()
                res = identify([QueryImage(q.index, base[q.index], item.body_part, item.station or None)], index, features_of,
                               match_fn=engine.match_fn, verify_pair_fn=engine.verify_pair_fn,
                               match_many_fn=engine.match_many_fn,
                               allowed=lambda e, enc=item.encounter: e.sighting != enc,
                               shortlist_images=settings.MATCHING_SHORTLIST)
                times.append(time.perf_counter() - t0)
                cpu_times.append(time.process_time() - c0)
                correct += bool(res.candidates) and res.candidates[0].individual == q.individual
            ex_times = self._exhaustive(queries[: opts["exhaustive_queries"]], index, features_of, engine,
                                        opts["exhaustive_budget"], dataset)
            row = {
                "median_seconds": statistics.median(times),
                "p95_seconds": float(np.percentile(times, 95)),
                # CPU seconds of this process (all threads): on a shared machine the wall time
                # depends on the other load; this does not.
                "median_cpu_seconds": statistics.median(cpu_times),
                "exhaustive_median_seconds": statistics.median(ex_times["done"]) if ex_times["done"] else None,
                "exhaustive_seconds_per_pair": ex_times["per_pair"],
                "exhaustive_cpu_seconds_per_pair": ex_times["cpu_per_pair"],
                "exhaustive_pairs_timed": ex_times["pairs"],
                "catalog_images": len(index),
                "index_vectors": index.num_vectors,
                "index_type": type(index._index).__name__ if index._index is not None else None,
                "padding_build_seconds": build_s,
                "rank1_on_timed_queries": correct / len(queries),
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
            result["sizes"][str(size)] = row
            self.stdout.write(
                f"size {size:>6}: median {row['median_seconds']:.2f} s (CPU {row['median_cpu_seconds']:.2f} s), "
                f"p95 {row['p95_seconds']:.2f} s; exhaustive "
                + (f"{row['exhaustive_median_seconds']:.1f} s" if row["exhaustive_median_seconds"] is not None
                   else f"did not finish in {opts['exhaustive_budget']:.0f} s ({ex_times['per_pair'] or float('nan'):.3f} s/pair)")
                + f"; peak RSS {row['peak_rss_mib']:.0f} MiB"
            )
        modes = [m.strip() for m in opts["modes"].split(",") if m.strip()]
        if modes:
            from matching.management.commands._benchmark_modes import time_modes

            result["modes"] = time_modes(self, modes=modes, sizes=sizes, dataset=dataset, cache_root=cache_root,
                                         suggested=suggested, opts=opts)
        if opts["end_to_end"]:
            result.update(self._end_to_end(max(sizes), opts["end_to_end_runs"], opts["end_to_end_storage"]))
        result["load_average_at_end"] = list(os.getloadavg())
        result["extract_seconds_per_image"] = store.seconds_per_image()
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stdout.write(f"extraction {result['extract_seconds_per_image'] or float('nan'):.2f} s per image (median, "
                          f"{engine.extractor.name} {engine.extractor.version}); peak RSS {result['peak_rss_mib']:.0f} MiB")
        if opts["json_path"]:
            Path(opts["json_path"]).write_text(json.dumps(result, indent=1))
            self.stdout.write(f"wrote {opts['json_path']}")

    def _end_to_end(self, catalog: int, runs: int, storage: str = "local") -> dict:
        """scripts/e2e_latency.py in a child process (its own database, media or bucket, and worker)."""
        import subprocess
        import sys
        import tempfile

        script = Path(settings.BASE_DIR) / "scripts" / "e2e_latency.py"
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            subprocess.run([sys.executable, str(script), "--catalog", str(catalog), "--runs", str(runs),
                            "--mode", settings.MATCHING_DEFAULT_MODE, "--storage", storage, "--json", out.name],
                           check=True, stdout=subprocess.DEVNULL)
            e2e = json.loads(Path(out.name).read_text())
        result = {}
        if "end_to_end_median_seconds" in e2e:
            self.stdout.write(f"end to end (Identify -> results, warm worker, {catalog} images): median "
                              f"{e2e['end_to_end_median_seconds']:.1f} s, worker {e2e['engine_median_seconds']:.1f} s, "
                              f"queue {e2e['queue_wait_median_seconds']:.2f} s")
            result["end_to_end_median_seconds"] = e2e["end_to_end_median_seconds"]
            result["end_to_end"] = {k: v for k, v in e2e.items() if k != "rows" and "_bucket" not in k}
        if "end_to_end_bucket_median_seconds" in e2e:
            bucket = e2e.get("end_to_end_bucket")
            if bucket is None:
                self.stdout.write(f"end to end with a bucket: skipped ({e2e['end_to_end_bucket_skipped_reason']})")
            else:
                self.stdout.write(f"end to end with photos and features in a bucket ({catalog} images): median "
                                  f"{bucket['end_to_end_median_seconds']:.1f} s, worker {bucket['engine_median_seconds']:.1f} s "
                                  f"(storage reads {bucket['storage_read_median_seconds']:.2f} s), "
                                  f"queue {bucket['queue_wait_median_seconds']:.2f} s")
            result.update({k: v for k, v in e2e.items() if "_bucket_" in k})
            result["end_to_end_bucket"] = None if bucket is None else {k: v for k, v in bucket.items() if k != "rows"}
        return result

    def _exhaustive(self, queries, index, features_of, engine, budget, dataset):
        """The seed method's cost: LightGlue against every catalog image; stops at the time box."""
        done, pairs, spent, cpu = [], 0, 0.0, 0.0
        deadline = time.perf_counter() + budget
        for q in queries:
            fq = features_of(q.index)
            t0 = time.perf_counter()
            c0 = time.process_time()
            finished = True
            keys = [k for k, e in index.entries.items() if e.sighting != dataset.items[q.index].encounter]
            # In chunks through match_many, as evaluate's seed baseline does: batched on CUDA, so the
            # baseline gets the same GPU batching as the shortlisted identification.
            for start in range(0, len(keys), EXHAUSTIVE_CHUNK):
                if time.perf_counter() > deadline:
                    finished = False
                    break
                chunk = keys[start : start + EXHAUSTIVE_CHUNK]
                engine.match_many_fn(fq, [features_of(k) for k in chunk])
                pairs += len(chunk)
            spent += time.perf_counter() - t0
            cpu += time.process_time() - c0
            if not finished:
                break
            done.append(time.perf_counter() - t0)
        return {"done": done, "per_pair": spent / pairs if pairs else None,
                "cpu_per_pair": cpu / pairs if pairs else None, "pairs": pairs}
