"""What a user waits: "Identify" pressed to results shown, through the queue, with a warm worker.

Builds a throw-away site in a temporary folder (its own SQLite database and media, nothing of the
project's `var/` is touched): the demo catalog padded with synthetic identified sightings up to
--catalog images, their features extracted beforehand (as the bulk queue does after an import).
Then it starts one interactive qcluster, identifies one sighting to warm the worker (models, index),
and times --runs identifications from match_run_start (what the "Identify" button calls) to the run's
DONE state, as the results page sees it, polled every 0.25 s. The page itself polls every 1.5 s
(static/js/results.js), which a user may wait on top.

    .venv/bin/python scripts/e2e_latency.py --catalog 1000 --runs 5 [--mode fast] [--storage local|s3|both]
        [--json out.json]

Prints one JSON object: end_to_end_median_seconds, engine_median_seconds (the worker's own time,
started_at -> finished_at), queue_wait_median_seconds (created_at -> started_at), storage_read_median_seconds
(the worker's storage reads inside a run, download included; part of the engine's time), per run rows.

--storage s3 (or both) builds a second site whose photos and feature files are in a bucket of a
throw-away SeaweedFS server (scripts/seaweedfs.py, as the storage tests start it; S3_* settings
for the site and the worker, nothing in MEDIA_ROOT) and adds end_to_end_bucket_median_seconds,
queue_wait_bucket_median_seconds, engine_bucket_median_seconds, storage_read_bucket_median_seconds
and the details under end_to_end_bucket. Where weed cannot start, those figures are null and
end_to_end_bucket_skipped_reason says why.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env(folder: Path, s3: dict[str, str] | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3_")}  # only the bucket given here
    env.update({
        "DEBUG": "1", "DATA_DIR": str(folder), "DATABASE_URL": f"sqlite:///{folder / 'e2e.sqlite3'}",
        "MEDIA_ROOT": str(folder / "media"), "DJANGO_SETTINGS_MODULE": "slreid_site.settings", "PYTHONPATH": str(ROOT),
    })
    env.update(s3 or {})
    env.pop("REDIS_URL", None)  # the embedded ORM broker, as under `make run`
    return env


def _rosette(seed: int):
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(175, 12, (300, 400, 3)), 0, 255).astype(np.uint8)
    for _ in range(90):
        centre = (int(rng.integers(0, 400)), int(rng.integers(0, 300)))
        shade = int(rng.integers(20, 90))
        cv2.ellipse(img, centre, (int(rng.integers(5, 16)), int(rng.integers(4, 12))), float(rng.uniform(0, 180)), 0,
                    int(rng.integers(200, 360)), (shade, shade, shade), int(rng.integers(2, 5)))
    return img


def build(catalog: int, mode: str) -> list[int]:
    """In the child environment: demo catalog + padding, features extracted; returns query sighting ids."""
    import django

    django.setup()
    import io

    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from PIL import Image

    from catalog.models import Individual, Sighting, SightingImage, SightingStatus
    from catalog.services import image_add, sighting_create
    from matching import services

    call_command("migrate", verbosity=0)
    # Features are extracted below, as the bulk queue would have done before anyone identifies.
    call_command("load_demo", verbosity=0, no_index=True)
    first = Sighting.objects.filter(station__isnull=False).order_by("pk").first()
    station, org = first.station, first.organization
    n = SightingImage.objects.filter(sighting__status=SightingStatus.IDENTIFIED).count()
    k = 0
    while n < catalog:
        ind, _ = Individual.objects.get_or_create(code=f"PAD-{k // 5:04d}", defaults={"name": "padding"})
        s = sighting_create(organization=org, submitted_by=None, observed_at=Sighting.objects.first().observed_at,
                            station=station, notes="e2e padding", external_id=f"pad-{k}")
        buf = io.BytesIO()
        Image.fromarray(_rosette(10_000 + k)).save(buf, "JPEG", quality=90)
        image_add(sighting=s, file=SimpleUploadedFile(f"pad{k}.jpg", buf.getvalue(), content_type="image/jpeg"),
                  body_part="left_flank", added_by=None)
        s.individual, s.status = ind, SightingStatus.IDENTIFIED
        s.save(update_fields=["individual", "status", "updated_at"])
        n += 1
        k += 1
    name = settings.MATCHING_ACCURATE_EXTRACTOR if mode == "accurate" else settings.MATCHING_DEFAULT_EXTRACTOR
    for image in SightingImage.objects.filter(sighting__status=SightingStatus.IDENTIFIED):
        services.features_extract(image=image, extractor=name)
    # Queries: the demo's unidentified sightings (new photos of demo cats), then new photos of padding
    # coats (rotated, rescaled, partly covered), each its own submitted sighting.
    import cv2

    for q in range(12):
        img = _rosette(10_000 + 5 * q)
        m = cv2.getRotationMatrix2D((200, 150), 20.0, 0.85)
        img = cv2.warpAffine(img, m, (400, 300), borderValue=(175, 175, 175))
        img[:, :80] = 120
        s = sighting_create(organization=org, submitted_by=None, observed_at=Sighting.objects.first().observed_at,
                            station=station, notes="e2e query", external_id=f"query-{q}")
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=90)
        image_add(sighting=s, file=SimpleUploadedFile(f"query{q}.jpg", buf.getvalue(), content_type="image/jpeg"),
                  body_part="left_flank", added_by=None)
    return list(Sighting.objects.exclude(status=SightingStatus.IDENTIFIED).filter(images__isnull=False)
                .order_by("pk").values_list("pk", flat=True).distinct())


def time_storage(log_path: Path) -> None:
    """In the worker, before the cluster forks: log the wall time of each call on the media storage
    (reads with their download), so that a run's storage time can be told from the engine's."""
    from django.core.files.storage import storages

    cls = type(storages["default"])

    def timed(kind: str, method):
        def wrapper(self, name, *args, **kwargs):
            t0 = time.time()
            c0 = time.perf_counter()
            out = method(self, name, *args, **kwargs)
            if kind == "read" and hasattr(out, "_get_file"):
                out._get_file()  # an S3File downloads on its first read, which comes next anyway
            with open(log_path, "a") as fh:
                fh.write(json.dumps([t0, kind, time.perf_counter() - c0]) + "\n")
            return out

        return wrapper

    for attr, kind in [("_open", "read"), ("_save", "write"), ("exists", "other"), ("size", "other"),
                       ("delete", "other")]:
        setattr(cls, attr, timed(kind, getattr(cls, attr)))


def _storage_calls(log_path: Path, start: float, end: float) -> dict:
    """Seconds and counts of the worker's storage calls that began in [start, end] (epoch seconds)."""
    out = {"storage_read_seconds": 0.0, "storage_write_seconds": 0.0, "storage_other_seconds": 0.0, "storage_reads": 0}
    if not log_path.exists():
        return out
    for line in log_path.read_text().splitlines():
        t0, kind, seconds = json.loads(line)
        if start <= t0 <= end:
            out[f"storage_{kind}_seconds"] += seconds
            out["storage_reads"] += kind == "read"
    return out


def measure(queries: list[int], runs: int, mode: str, storage_log: Path) -> dict:
    import django

    django.setup()
    from django.contrib.auth.models import User

    from matching.models import RunState
    from matching.runs import match_run_start

    user = User.objects.filter(is_superuser=True).first()
    rows = []
    for n, pk in enumerate(queries[: runs + 1]):
        from catalog.models import Sighting

        sighting = Sighting.objects.get(pk=pk)
        t0 = time.perf_counter()
        run = match_run_start(sighting=sighting, requested_by=user, mode=mode)
        deadline = t0 + 600
        while time.perf_counter() < deadline:
            run.refresh_from_db()
            if run.state in (RunState.DONE, RunState.FAILED):
                break
            time.sleep(0.25)
        seconds = time.perf_counter() - t0
        if run.state != RunState.DONE:
            raise SystemExit(f"run {run.pk} ended {run.state}: {run.error}")
        row = {"run": run.pk, "end_to_end_seconds": seconds,
               "engine_seconds": (run.finished_at - run.started_at).total_seconds(),
               "queue_wait_seconds": (run.started_at - run.created_at).total_seconds(),
               "warm_up": n == 0, "images": sighting.images.count(),
               **_storage_calls(storage_log, run.started_at.timestamp(), run.finished_at.timestamp())}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    timed = [r for r in rows if not r["warm_up"]]
    return {
        "mode": mode, "runs": len(timed),
        "end_to_end_median_seconds": statistics.median(r["end_to_end_seconds"] for r in timed),
        "engine_median_seconds": statistics.median(r["engine_seconds"] for r in timed),
        "queue_wait_median_seconds": statistics.median(r["queue_wait_seconds"] for r in timed),
        "storage_read_median_seconds": statistics.median(r["storage_read_seconds"] for r in timed),
        "storage_write_median_seconds": statistics.median(r["storage_write_seconds"] for r in timed),
        "storage_reads_median": statistics.median(r["storage_reads"] for r in timed),
        "warm_up_seconds": rows[0]["end_to_end_seconds"],
        # The warm-up run reads every catalog feature file into the worker's index.
        "warm_up_storage_read_seconds": rows[0]["storage_read_seconds"], "rows": rows,
    }


def site(folder: Path, args, s3: dict[str, str] | None = None) -> dict:
    """Build one throw-away site in `folder`, start its warm worker and time identifications."""
    folder.mkdir(parents=True, exist_ok=True)
    env = _env(folder, s3)
    me = [sys.executable, str(Path(__file__).resolve()), "--catalog", str(args.catalog), "--runs", str(args.runs),
          "--mode", args.mode, "--_folder", str(folder)]
    t_build = time.perf_counter()
    built = subprocess.run(me + ["--_child", "build"], env=env, capture_output=True, text=True)
    if built.returncode:
        raise SystemExit(f"building the {'bucket' if s3 else 'local'} site failed:\n{built.stderr[-3000:]}")
    build_seconds = time.perf_counter() - t_build
    queries = json.loads(built.stdout.strip().splitlines()[-1])
    if len(queries) < args.runs + 1:
        raise SystemExit(f"only {len(queries)} unidentified sightings to time; need {args.runs + 1}")
    (folder / "queries.json").write_text(json.dumps(queries))
    # One interactive cluster, stopped by one TERM (run_qcluster's own cluster, as under `make run`,
    # here in a process that first times the storage calls). One worker, so the warm-up run warms
    # the worker that takes the timed ones.
    env["Q_WORKERS"] = "1"
    with (folder / "worker.log").open("wb") as log:
        cluster = subprocess.Popen(me + ["--_child", "worker"], env=env, cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(5)
        out = subprocess.run(me + ["--_child", "measure"], env=env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"timing the {'bucket' if s3 else 'local'} site failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        cluster.terminate()
        try:
            cluster.wait(30)
        except subprocess.TimeoutExpired:
            pass
        try:  # nothing of the cluster may outlive it (its group is its own)
            os.killpg(cluster.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        cluster.wait()
    result["catalog_build_seconds"] = build_seconds
    media = folder / "media"
    result["media_root_files"] = sum(1 for p in media.rglob("*") if p.is_file()) if media.exists() else 0
    return result


def bucket_site(folder: Path, args) -> dict:
    """The same site with photos and features in a bucket of a throw-away SeaweedFS server."""
    sys.path.insert(0, str(ROOT))
    from scripts import seaweedfs

    try:
        server = seaweedfs.start()
    except seaweedfs.Unavailable as exc:
        print(f"bucket figure skipped: {exc}", file=sys.stderr)
        return {"end_to_end_bucket_median_seconds": None, "end_to_end_bucket_skipped_reason": str(exc)}
    try:
        bucket = "slreid-e2e"
        server.client().create_bucket(Bucket=bucket)
        result = site(folder, args, s3=server.env(bucket))
        keys = server.keys(bucket)
    finally:
        server.stop()
    if result["media_root_files"]:
        raise SystemExit(f"{result['media_root_files']} files landed in MEDIA_ROOT ({folder / 'media'}) of the bucket site")
    result["bucket_objects"] = {top: sum(1 for k in keys if k.split("/", 1)[0] == top)
                                for top in sorted({k.split("/", 1)[0] for k in keys})}
    result["storage"] = f"SeaweedFS {server.endpoint_url} (bucket {bucket}, on this machine)"
    return {
        "end_to_end_bucket_median_seconds": result["end_to_end_median_seconds"],
        "queue_wait_bucket_median_seconds": result["queue_wait_median_seconds"],
        "engine_bucket_median_seconds": result["engine_median_seconds"],
        "storage_read_bucket_median_seconds": result["storage_read_median_seconds"],
        "end_to_end_bucket_skipped_reason": None,
        "end_to_end_bucket": result,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=int, default=1000, help="catalog images (demo + padding)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mode", choices=["fast", "accurate"], default="fast")
    parser.add_argument("--storage", choices=["local", "s3", "both"], default="local",
                        help="media on local disk, in a bucket of a throw-away SeaweedFS server, or one site of each")
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--keep", help="build the sites in this folder (local/, s3/) and keep them (for profiling)")
    parser.add_argument("--_child", choices=["build", "worker", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--_folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        folder = Path(args._folder)
        os.environ.update(_env(folder, {k: v for k, v in os.environ.items() if k.startswith("S3_")}))
        sys.path.insert(0, str(ROOT))
        if args._child == "build":
            print(json.dumps(build(args.catalog, args.mode)))
        elif args._child == "worker":
            import django
            from django.core.management import call_command

            django.setup()
            time_storage(folder / "storage-calls.jsonl")
            call_command("run_qcluster", child=True)  # leaves the process itself
        else:
            queries = json.loads((folder / "queries.json").read_text())
            print(json.dumps(measure(queries, args.runs, args.mode, folder / "storage-calls.jsonl")))
        return 0
    result = {}
    with tempfile.TemporaryDirectory(prefix="slreid-e2e-") as tmp:
        folder = Path(args.keep or tmp)
        if args.storage in ("local", "both"):
            result.update(site(folder / "local", args))
        if args.storage in ("s3", "both"):
            result.update(bucket_site(folder / "s3", args))
    result["catalog_images"] = args.catalog
    print(json.dumps(result, indent=1))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
