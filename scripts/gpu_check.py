#!/usr/bin/env python
"""One-shot GPU check of the identification engine (about 3 minutes on one H100).

    DEBUG=1 .venv/bin/python scripts/gpu_check.py [--dataset DIR] [--extractor NAME] [--json FILE]

Prints extraction seconds per image and LightGlue pairs per second on CPU and on CUDA (single
pairs and batched pairs via matcher.match_many), then runs `manage.py benchmark --sizes 1000,10000`
on CUDA. Uses the reid-dev snow-leopard images when present, else synthetic textured images.
Writes nothing to the database; features are cached under var/eval-cache/ as for `evaluate`.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slreid_site.settings")
os.environ.setdefault("DEBUG", "1")


def images(dataset: Path, n: int):
    import numpy as np

    from matching.engine.evaluation import read_dataset
    from matching.engine.preprocess import load_rgb

    if (dataset / "labels.csv").exists():
        ds = read_dataset(dataset)
        step = max(1, len(ds.items) // n)
        picked = list(ds.items)[::step][:n]
        return [(load_rgb(it.path), it.box) for it in picked], f"{dataset} ({len(picked)} images)"
    import cv2

    out = []
    for seed in range(n):
        rng = np.random.default_rng(seed)
        img = np.clip(rng.normal(170, 15, (1080, 1920, 3)), 0, 255).astype(np.uint8)
        for _ in range(600):
            c = (int(rng.integers(0, 1920)), int(rng.integers(0, 1080)))
            cv2.ellipse(img, c, (int(rng.integers(8, 30)), int(rng.integers(6, 20))), float(rng.uniform(0, 180)),
                        0, 300, (40, 40, 40), 3)
        out.append((img, None))
    return out, f"synthetic ({n} images)"


def timed(fn, *args, repeat=1, **kw):
    t0 = time.perf_counter()
    for _ in range(repeat):
        out = fn(*args, **kw)
    return out, (time.perf_counter() - t0) / repeat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared" / "data" / "reid-dev" / "snowleopard"))
    parser.add_argument("--extractor", default=None)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--json", default=None)
    parser.add_argument("--skip-benchmark", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    import torch
    from django.conf import settings
    from django.core.management import call_command

    from matching.engine.extractors import get_extractor
    from matching.engine.matcher import match, match_many

    if not torch.cuda.is_available():
        print("CUDA is not available on this machine: nothing to check.")
        return 1
    name = args.extractor or settings.MATCHING_DEFAULT_EXTRACTOR
    report = {"extractor": name, "gpu": torch.cuda.get_device_name(0), "cpu_threads": torch.get_num_threads()}
    imgs, source = images(Path(args.dataset), args.images)
    report["images"] = source
    print(f"GPU {report['gpu']}; extractor {name}; images: {source}")

    for device in ("cpu", "cuda"):
        ex = get_extractor(name, device)
        ex.extract(*imgs[0])  # load weights, warm up kernels
        todo = imgs[:3] if device == "cpu" else imgs
        t0 = time.perf_counter()
        feats = [ex.extract(img, box=box) for img, box in todo]
        if device == "cuda":
            torch.cuda.synchronize()
        per_image = (time.perf_counter() - t0) / len(todo)
        report[f"extract_seconds_per_image_{device}"] = per_image
        print(f"{device:>4}: extraction {per_image:.3f} s/image ({len(todo)} images, {ex.version})")
        if device == "cpu":
            cpu_feats = feats
        else:
            gpu_feats = feats

    # CPU: a few single pairs. CUDA: single pairs, then batches of one query against many.
    match(cpu_feats[0], cpu_feats[1], device="cpu")
    _, s = timed(lambda: [match(cpu_feats[0], f, device="cpu") for f in cpu_feats[1:3]])
    report["pairs_per_second_cpu"] = 2 / s
    q, gallery = gpu_feats[0], gpu_feats[1:]
    match(q, gallery[0], device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for g in gallery:
        match(q, g, device="cuda")
    torch.cuda.synchronize()
    report["pairs_per_second_cuda_single"] = len(gallery) / (time.perf_counter() - t0)
    for batch in (8, 32):
        big = (gallery * ((128 // len(gallery)) + 1))[:128]
        match_many(q, big[:batch], device="cuda", batch_size=batch)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        match_many(q, big, device="cuda", batch_size=batch)
        torch.cuda.synchronize()
        report[f"pairs_per_second_cuda_batch{batch}"] = len(big) / (time.perf_counter() - t0)
    for k, v in report.items():
        if k.startswith("pairs_per_second"):
            print(f"{k}: {v:.1f}")

    if not args.skip_benchmark and (Path(args.dataset) / "labels.csv").exists():
        settings.MATCHING_DEVICE = "cuda"
        out = ROOT / "var" / "gpu_benchmark.json"
        out.parent.mkdir(exist_ok=True)
        call_command("benchmark", sizes="1000,10000", json_path=str(out), dataset=args.dataset, extractor=name, suggested_boxes=True,
                     queries=10, exhaustive_budget=60.0, exhaustive_queries=1)
        report["benchmark"] = json.loads(out.read_text())
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
