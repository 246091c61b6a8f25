"""Suggested boxes around the animal for the images of one submitted sighting.

The suggestion combines two weak sources and is only ever a starting point that the user
accepts, redraws or removes in the browser; it is never treated as ground truth:
- MegadetectorLite (matching.engine.detector), which misses small/blurred/partial cats and puts
  confident boxes on rocks;
- motion between the frames of a burst (matching.engine.motion), which only exists when several
  frames of one trigger are submitted together and the animal moved.

Rules, per image:
1. Detector boxes (score >= DETECTOR_THRESHOLD) whose region does not change at all across the
   burst while something else in the frame does move are dropped as static background.
2. If motion was found, the best detector box covering most of the moving region wins
   (detectors frame the whole animal better than a difference mask), its score raised by the
   agreement; otherwise the motion box, its score capped at MOTION_SCORE_CAP.
3. Without motion (single image, still animal) the best remaining detector box is used.
No Django imports apart from a lazy read of DETECTOR_ENABLED and MATCHING_DEVICE.
"""

from __future__ import annotations

import logging

from PIL import Image

from matching.engine import detector as detector_module
from matching.engine.motion import BurstMotion, MotionBox

logger = logging.getLogger(__name__)

DETECTOR_THRESHOLD = 0.25  # zamba's own operating point; measured in docs/benchmarks.md
# A box is "static" when under this share of its pixels change while the burst shows motion elsewhere.
STATIC_CHANGED_SHARE = 0.02
# Motion alone says "something moved here", not "an animal": wind, shadows and snow move too.
MOTION_SCORE_CAP = 0.8


def _settings() -> tuple[bool, str]:
    """(detector enabled, device) from Django settings when configured, else defaults."""
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:  # used as a plain library (scripts/evaluate_boxes.py without Django)
        return True, "auto"
    try:
        return bool(getattr(settings, "DETECTOR_ENABLED", True)), str(getattr(settings, "MATCHING_DEVICE", "auto"))
    except ImproperlyConfigured:
        return True, "auto"


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto" or (device.startswith("cuda") and not torch.cuda.is_available()):
        # A suggestion must not fail an upload because the GPU is gone: the CPU is fast enough.
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _covers_motion(det_xyxy, motion: MotionBox) -> bool:
    """The detector box covers at least half of the moving region.

    Measured on the dev set: a detector box inside a larger moving region is usually a part of
    the animal (or something else), while a detector box holding most of the motion frames the
    whole animal better than the difference mask does.
    """
    x0, y0, x1, y1 = det_xyxy
    m0, n0, m1, n1 = motion.xyxy
    inter = max(0.0, min(x1, m1) - max(x0, m0)) * max(0.0, min(y1, n1) - max(y0, n0))
    return inter >= 0.5 * max(1.0, (m1 - m0) * (n1 - n0))


def _as_dict(x: float, y: float, w: float, h: float, score: float, source: str, image: Image.Image) -> dict:
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(image.width, int(round(x + w))), min(image.height, int(round(y + h)))
    return {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0, "score": round(float(score), 3), "source": source}


def _detections(images: list[Image.Image]) -> list[list[detector_module.Detection]]:
    enabled, device = _settings()
    if not enabled:
        return [[] for _ in images]
    try:
        detector = detector_module.get_detector(_resolve_device(device))
    except detector_module.DetectorUnavailable as exc:
        # The suggestion is optional; uploads must keep working without the weights.
        logger.warning("Box suggestion without detector: %s", exc)
        return [[] for _ in images]
    return detector.detect_many(images, confidence=DETECTOR_THRESHOLD)


def _bursts(images: list[Image.Image]) -> dict[int, tuple[BurstMotion, int]]:
    """image index -> (its burst's motion, its index within the burst); bursts group by image size."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(image.size, []).append(i)
    found: dict[int, tuple[BurstMotion, int]] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        motion = BurstMotion([images[i] for i in members])
        for position, i in enumerate(members):
            found[i] = (motion, position)
    return found


def suggest_boxes(*, images: list[Image.Image]) -> list[dict | None]:
    """Per image (EXIF already applied) a suggested animal box, or None.

    Each box is {"x", "y", "w", "h"} in pixels of the given image, "score" in 0..1 and "source"
    ("detector" or "motion"). Images of one size are treated as frames of one burst; pass them in
    capture order, since each frame is compared with its neighbours in the list. A suggestion for
    the user to confirm, not truth; never raises because nothing was found.
    """
    if not images:
        return []
    images = [im if im.mode in ("RGB", "L") else im.convert("RGB") for im in images]
    detections = _detections(images)
    bursts = _bursts(images)
    results: list[dict | None] = []
    for i, image in enumerate(images):
        candidates = [d for d in detections[i] if d.score >= DETECTOR_THRESHOLD]
        motion_box = None
        if i in bursts:
            burst, position = bursts[i]
            motion_box = burst.box(position)
            frame_changes = (burst.changed_share(position, (0, 0, image.width, image.height)) or 0.0) > 0.001
            if frame_changes:
                # A box where nothing changes while something moves elsewhere is background (rocks).
                # When the whole burst is still, a still animal and a rock look alike: keep both.
                candidates = [
                    d for d in candidates
                    if (burst.changed_share(position, d.xyxy) or 0.0) >= STATIC_CHANGED_SHARE
                    or (motion_box is not None and _covers_motion(d.xyxy, motion_box))
                ]
        if motion_box is not None:
            agreeing = [d for d in candidates if _covers_motion(d.xyxy, motion_box)]
            if agreeing:
                best = max(agreeing, key=lambda d: d.score)
                # Two independent sources agree: more certain than the detector alone, but never
                # "certain" (at most halfway from the detector's score to 1).
                score = best.score + (1.0 - best.score) * 0.5 * motion_box.score
                results.append(_as_dict(best.x, best.y, best.w, best.h, score, "detector", image))
            else:
                m = motion_box
                score = MOTION_SCORE_CAP * m.score
                results.append(_as_dict(m.x, m.y, m.w, m.h, score, "motion", image))
        elif candidates:
            best = max(candidates, key=lambda d: d.score)
            results.append(_as_dict(best.x, best.y, best.w, best.h, best.score, "detector", image))
        else:
            results.append(None)
    return results
