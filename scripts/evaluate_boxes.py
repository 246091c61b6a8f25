"""Measure box suggestion (detector, burst motion, combined) against the dev set's labelled boxes.

    .venv/bin/python scripts/evaluate_boxes.py [--data ../shared/data/reid-dev/snowleopard]
        [--threads 2] [--neighbours 4]

A suggested box "hits" a labelled box when IoU > 0.3 or the suggested box contains the labelled
box's centre: most labelled boxes cover only part of the cat (a flank patch, the head), so IoU
alone would punish a correct whole-animal box. A "false box" is a suggested box that does not
touch the labelled region at all. Bursts: the image plus up to --neighbours frames of the same
encounter_id nearest in time (a camera trigger gives 3-10 frames). Prints numbers only; the
images are read in place and never copied.
"""

from __future__ import annotations

import argparse
import csv
import os
import pickle
import re
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import astuple
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matching.engine import boxes as boxes_module  # noqa: E402
from matching.engine.detector import Detection, get_detector  # noqa: E402
from matching.engine.motion import BurstMotion  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "reid-dev" / "snowleopard"
THRESHOLDS = (0.1, 0.25, 0.4, 0.6)


def hit(xyxy, label) -> bool:
    x0, y0, x1, y1 = xyxy
    bx, by, bw, bh = label
    cx, cy = bx + bw / 2, by + bh / 2
    if x0 <= cx <= x1 and y0 <= cy <= y1:
        return True
    inter = max(0, min(x1, bx + bw) - max(x0, bx)) * max(0, min(y1, by + bh) - max(y0, by))
    union = (x1 - x0) * (y1 - y0) + bw * bh - inter
    return union > 0 and inter / union > 0.3


def touches(xyxy, label) -> bool:
    x0, y0, x1, y1 = xyxy
    bx, by, bw, bh = label
    return min(x1, bx + bw) > max(x0, bx) and min(y1, by + bh) > max(y0, by)


def as_xyxy(box: dict) -> tuple[int, int, int, int]:
    return (box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"])


def is_infrared(image: Image.Image) -> bool:
    """IR night frames are grey: the colour channels (nearly) coincide."""
    small = np.asarray(image.convert("RGB").resize((160, 90)), dtype=np.float32)
    return float(np.abs(small[..., 0] - small[..., 1]).mean() + np.abs(small[..., 1] - small[..., 2]).mean()) < 4.0


def frame_key(row: dict) -> tuple:
    match = re.search(r"\((\d+)\)", row["path"])
    return (row["datetime"], int(match.group(1)) if match else 0, row["path"])


def load(data: Path, row: dict) -> Image.Image:
    image = Image.open(data / row["path"])
    image.load()
    return image.convert("RGB")


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.0f} %)" if whole else "0/0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--neighbours", type=int, default=4)
    parser.add_argument("--cache", type=Path, help="store/reuse detector output here (timings then meaningless)")
    parser.add_argument("--verbose", action="store_true", help="one line per labelled frame")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = list(csv.DictReader((args.data / "labels.csv").open(encoding="utf-8")))
    by_encounter = defaultdict(list)
    for row in rows:
        by_encounter[row["encounter_id"]].append(row)
    for members in by_encounter.values():
        members.sort(key=frame_key)
    labelled = [r for r in rows if r["bbox_x"]]

    started = time.perf_counter()
    detector = get_detector("cpu")
    print(f"detector load: {time.perf_counter() - started:.2f} s (once per process); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    # --- detector, every image ----------------------------------------------------------------
    decode_s, detect_s = [], []
    detections, infrared = {}, {}
    cached = pickle.loads(args.cache.read_bytes()) if args.cache and args.cache.is_file() else None
    for row in rows:
        t0 = time.perf_counter()
        image = load(args.data, row)
        t1 = time.perf_counter()
        if cached is None:
            detections[row["path"]] = detector.detect(image, confidence=min(THRESHOLDS))
        else:
            detections[row["path"]] = [Detection(*d) for d in cached[row["path"]]]
        t2 = time.perf_counter()
        decode_s.append(t1 - t0)
        detect_s.append(t2 - t1)
        infrared[row["path"]] = is_infrared(image)
    if args.cache and cached is None:
        args.cache.write_bytes(pickle.dumps({p: [astuple(d) for d in ds] for p, ds in detections.items()}))
    n_ir = sum(infrared.values())
    print(f"\nimages: {len(rows)} ({n_ir} IR, {len(rows) - n_ir} colour); labelled boxes: {len(labelled)}")
    print(f"seconds per image, {args.threads} torch threads: detect median {statistics.median(detect_s):.3f}"
          f" (mean {statistics.mean(detect_s):.3f}), JPEG decode median {statistics.median(decode_s):.3f}")
    for threshold in THRESHOLDS:
        with_box = sum(any(d.score >= threshold for d in detections[r["path"]]) for r in rows)
        print(f"  every image shows a cat: frames with a detector box >= {threshold}: {share(with_box, len(rows))}")

    print("\ndetector vs labelled boxes (hit = IoU > 0.3 or contains the labelled centre)")
    for threshold in THRESHOLDS:
        for name, subset in (("IR", [r for r in labelled if infrared[r["path"]]]),
                             ("colour", [r for r in labelled if not infrared[r["path"]]])):
            top_hits = any_hits = none = false_boxes = boxes_total = 0
            for row in subset:
                label = tuple(int(row[k]) for k in ("bbox_x", "bbox_y", "bbox_w", "bbox_h"))
                kept = [d for d in detections[row["path"]] if d.score >= threshold]
                none += not kept
                top_hits += bool(kept) and hit(kept[0].xyxy, label)
                any_hits += any(hit(d.xyxy, label) for d in kept)
                false_boxes += sum(not touches(d.xyxy, label) for d in kept)
                boxes_total += len(kept)
            print(f"  >= {threshold:<4} {name:6} best box hits {share(top_hits, len(subset))}, any box hits "
                  f"{share(any_hits, len(subset))}, no box {none}, boxes not touching the label "
                  f"{false_boxes}/{boxes_total}")

    # --- bursts: motion alone and the combined suggestion ---------------------------------------
    # The detector's output per file is already known; reuse it instead of running it again.
    paths_by_image: dict[int, str] = {}
    real_detect_many = detector.detect_many

    def cached_detect_many(images, *, confidence, nms_iou=0.45):
        if all(id(im) in paths_by_image for im in images):
            return [[d for d in detections[paths_by_image[id(im)]] if d.score >= confidence] for im in images]
        return real_detect_many(images, confidence=confidence, nms_iou=nms_iou)

    detector.detect_many = cached_detect_many
    print(f"\nbursts: each labelled frame + up to {args.neighbours} frames of its encounter nearest in time")
    motion_hits = motion_found = motion_false = 0
    combined = {"hit": 0, "none": 0, "false": 0, "detector": 0, "motion": 0}
    split = defaultdict(lambda: [0, 0])
    single = {"hit": 0, "none": 0, "false": 0}
    burst_s, suggest_s = [], []
    for row in labelled:
        label = tuple(int(row[k]) for k in ("bbox_x", "bbox_y", "bbox_w", "bbox_h"))
        members = by_encounter[row["encounter_id"]]
        position = members.index(row)
        others = sorted((j for j in range(len(members)) if j != position),
                        key=lambda j: (abs(j - position), j))[: args.neighbours]
        chosen = sorted(others + [position])
        frames = [load(args.data, members[j]) for j in chosen]
        paths_by_image.clear()
        paths_by_image.update({id(f): members[j]["path"] for f, j in zip(frames, chosen)})
        frames = [f for f in frames if f.size == frames[chosen.index(position)].size]
        index = [members[j]["path"] for j in chosen].index(row["path"])
        t0 = time.perf_counter()
        box = BurstMotion(frames).box(index) if len(frames) > 1 else None
        burst_s.append((time.perf_counter() - t0) / len(frames))
        if box is not None:
            motion_found += 1
            motion_hits += hit(box.xyxy, label)
            motion_false += not touches(box.xyxy, label)
        t0 = time.perf_counter()
        suggestion = boxes_module.suggest_boxes(images=frames)[index]
        suggest_s.append((time.perf_counter() - t0) / len(frames))
        kind = "IR" if infrared[row["path"]] else "colour"
        split[kind][1] += 1
        if suggestion is None:
            combined["none"] += 1
        else:
            xyxy = as_xyxy(suggestion)
            combined[suggestion["source"]] += 1
            good = hit(xyxy, label)
            combined["hit"] += good
            split[kind][0] += good
            combined["false"] += not touches(xyxy, label)
        if args.verbose:
            top = [(round(d.x), round(d.y), round(d.w), round(d.h), round(d.score, 2))
                   for d in detections[row["path"]][:3]]
            print(f"    {row['path'][-38:]} {kind:6} label {label} suggestion {suggestion} motion {box} top {top}")
        alone = boxes_module.suggest_boxes(images=[frames[index]])[0]
        if alone is None:
            single["none"] += 1
        else:
            xyxy = as_xyxy(alone)
            single["hit"] += hit(xyxy, label)
            single["false"] += not touches(xyxy, label)
    n = len(labelled)
    print(f"  motion alone: box found {share(motion_found, n)}, hits {share(motion_hits, n)}, "
          f"not touching the label {motion_false}; {statistics.mean(burst_s):.3f} s per frame")
    print(f"  suggest_boxes on the burst: hits {share(combined['hit'], n)} (IR {share(*split['IR'])}, colour "
          f"{share(*split['colour'])}), none {combined['none']}, not touching the label {combined['false']}, "
          f"sources detector {combined['detector']} / motion {combined['motion']}; "
          f"{statistics.mean(suggest_s):.3f} s per frame (motion + combining; detector time above)")
    print(f"  suggest_boxes on the single frame: hits {share(single['hit'], n)}, none {single['none']}, "
          f"not touching the label {single['false']}")


if __name__ == "__main__":
    main()
