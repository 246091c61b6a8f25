"""What a user waits: "Identify" pressed to results shown, through the queue, with a warm worker.

Builds a throw-away site in a temporary folder (its own SQLite database and media, nothing of the
project's `var/` is touched): the demo catalog padded with synthetic identified sightings up to
--catalog images, their features extracted beforehand (as the bulk queue does after an import).
Then it starts one interactive qcluster, identifies one sighting to warm the worker (models, index),
and times --runs identifications from match_run_start (what the "Identify" button calls) to the run's
DONE state, as the results page sees it, polled every 0.25 s. The page itself polls every 1.5 s
(static/js/results.js), which a user may wait on top.

    .venv/bin/python scripts/e2e_latency.py --catalog 1000 --runs 5 [--mode fast] [--json out.json]

Prints one JSON object: end_to_end_median_seconds, engine_median_seconds (the worker's own time,
started_at -> finished_at), queue_wait_median_seconds (created_at -> started_at), per run rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env(folder: Path) -> dict:
    env = dict(os.environ)
    env.update({
        "DEBUG": "1", "DATA_DIR": str(folder), "DATABASE_URL": f"sqlite:///{folder / 'e2e.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "slreid_site.settings", "PYTHONPATH": str(ROOT),
    })
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


def measure(queries: list[int], runs: int, mode: str) -> dict:
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
               "warm_up": n == 0, "images": sighting.images.count()}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    timed = [r for r in rows if not r["warm_up"]]
    return {
        "mode": mode, "runs": len(timed),
        "end_to_end_median_seconds": statistics.median(r["end_to_end_seconds"] for r in timed),
        "engine_median_seconds": statistics.median(r["engine_seconds"] for r in timed),
        "queue_wait_median_seconds": statistics.median(r["queue_wait_seconds"] for r in timed),
        "warm_up_seconds": rows[0]["end_to_end_seconds"], "rows": rows,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=int, default=1000, help="catalog images (demo + padding)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mode", choices=["fast", "accurate"], default="fast")
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--keep", help="build the site in this folder and keep it (for profiling)")
    parser.add_argument("--_child", choices=["build", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--_folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        os.environ.update(_env(Path(args._folder)))
        sys.path.insert(0, str(ROOT))
        if args._child == "build":
            print(json.dumps(build(args.catalog, args.mode)))
        else:
            queries = json.loads((Path(args._folder) / "queries.json").read_text())
            print(json.dumps(measure(queries, args.runs, args.mode)))
        return 0
    with tempfile.TemporaryDirectory(prefix="slreid-e2e-") as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        env = _env(folder)
        me = [sys.executable, str(Path(__file__).resolve()), "--catalog", str(args.catalog), "--runs", str(args.runs),
              "--mode", args.mode, "--_folder", str(folder)]
        built = subprocess.run(me + ["--_child", "build"], env=env, capture_output=True, text=True, check=True)
        queries = json.loads(built.stdout.strip().splitlines()[-1])
        if len(queries) < args.runs + 1:
            raise SystemExit(f"only {len(queries)} unidentified sightings to time; need {args.runs + 1}")
        (folder / "queries.json").write_text(json.dumps(queries))
        # One interactive cluster, stopped by one TERM (run_qcluster, as under `make run`).
        # One worker, so the warm-up run warms the worker that takes the timed ones.
        env["Q_WORKERS"] = "1"
        cluster = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "run_qcluster"], env=env, cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            time.sleep(5)
            out = subprocess.run(me + ["--_child", "measure"], env=env, capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            cluster.terminate()
            try:
                cluster.wait(30)
            except subprocess.TimeoutExpired:
                cluster.kill()
        result["catalog_images"] = args.catalog
        print(json.dumps(result, indent=1))
        if args.json_path:
            Path(args.json_path).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
