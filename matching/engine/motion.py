"""What moves between the frames of one camera-trap trigger (burst), as a box.

A camera trap fires 3-10 frames of a fixed scene; the animal is what changes. For each frame we
compare it with its two nearest frames of the burst after light alignment (global translation by
phase correlation, global brightness gain), keep pixels that differ from *both* (so the box lands
where the animal is in this frame, not where it was a moment before), clean the mask with
morphology and box the region holding most of the change. Two neighbours, not all frames: in a
longer burst the cat often stands still for a few frames, and requiring a difference from every
frame then erases it (dev set: 26/29 labelled frames hit with two neighbours, 21/29 with four). The black info bars of Reconyx frames
(date, temperature, "M n/10" counters that change from frame to frame) are found and ignored.

Like the detector, this gives a suggestion for a person to confirm, never ground truth: wind in
vegetation, moving shadows, snow and exposure changes also move, and an animal that sits still
through the burst does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

WORK_WIDTH = 480  # px; the animal covers tens of pixels at this size, noise mostly averages out
MAX_BAR_FRACTION = 0.06  # info bars are 32 px of 1080 (3 %); never mask more than this per edge
MIN_SIDE = 16  # px at the working width
MAX_MOVING_FRACTION = 0.5  # more than half the frame "moving" means a different scene, not an animal


@dataclass(frozen=True)
class MotionBox:
    """Box in pixel coords of the input frames; score in 0..1 (share and strength of the motion)."""

    x: int
    y: int
    w: int
    h: int
    score: float

    @property
    def xyxy(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.x + self.w, self.y + self.h)


def _gray(frame: Image.Image | np.ndarray, width: int) -> np.ndarray:
    array = np.asarray(frame.convert("RGB") if isinstance(frame, Image.Image) else frame)
    if array.ndim == 3:
        array = cv2.cvtColor(np.ascontiguousarray(array[..., :3]), cv2.COLOR_RGB2GRAY)
    height = max(1, round(array.shape[0] * width / array.shape[1]))
    return cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)


def info_bar_rows(grays: list[np.ndarray]) -> tuple[int, int]:
    """(top, bottom) row counts of black text bars, i.e. edge rows whose median is ~black in every frame."""
    height = grays[0].shape[0]
    limit = max(1, int(height * MAX_BAR_FRACTION))
    # A bar row is black apart from its text, so its median stays near zero in all frames.
    dark = np.all([np.median(g, axis=1) < 12 for g in grays], axis=0)

    def run(rows: np.ndarray) -> int:
        n = 0
        while n < limit and rows[n]:
            n += 1
        return n

    top, bottom = run(dark), run(dark[::-1])
    # One margin row more: resampling smears the bar edge into its neighbour.
    return (top + 1 if top else 0), (bottom + 1 if bottom else 0)


def _align(moving: np.ndarray, reference: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Translate ``moving`` onto ``reference`` (camera shake, small pole sway) and match its gain."""
    window = cv2.createHanningWindow(reference.shape[::-1], cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(reference * valid, moving * valid, window)
    if response > 0.05 and 0.5 < np.hypot(dx, dy) < reference.shape[1] * 0.05:
        shift = np.float32([[1, 0, -dx], [0, 1, -dy]])
        moving = cv2.warpAffine(moving, shift, moving.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
    # Flash and auto-exposure change brightness between frames; a global gain absorbs most of it.
    ref_level = float(np.median(reference[valid > 0])) + 1.0
    mov_level = float(np.median(moving[valid > 0])) + 1.0
    return moving * (ref_level / mov_level)


def _neighbours(i: int, n: int, k: int) -> list[int]:
    """Up to k other frame indices nearest to i in burst order (frames come in trigger order)."""
    others = sorted((j for j in range(n) if j != i), key=lambda j: (abs(j - i), j))
    return others[:k]


def _threshold(diff: np.ndarray, valid: np.ndarray) -> float:
    values = diff[valid > 0]
    # Noise level from the median absolute difference: most of a trigger's frame is static.
    noise = float(np.median(values)) * 1.4826 + 1.0 if values.size else 1.0
    return max(12.0, 4.0 * noise)


def _box_from_map(diff: np.ndarray, valid: np.ndarray) -> tuple[tuple[int, int, int, int], float] | None:
    if not valid.any():
        return None
    threshold = _threshold(diff, valid)
    mask = (diff > threshold).astype(np.uint8)
    if mask.sum() < 0.0005 * valid.sum():
        return None
    if mask.sum() > MAX_MOVING_FRACTION * valid.sum():
        return None
    width = diff.shape[1]
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # Close with a kernel ~4 % of the width: a camouflaged cat differs only in patches (rosettes,
    # outline), which belong to one region.
    k = max(3, int(width * 0.04) | 1)
    merged = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(merged, connectivity=8)
    if count <= 1:
        return None
    energy = np.where(mask > 0, diff - threshold, 0.0)
    sums = np.bincount(labels.ravel(), weights=energy.ravel(), minlength=count)
    sums[0] = 0.0
    best = int(np.argmax(sums))
    total = float(sums.sum())
    if sums[best] <= 0 or stats[best, cv2.CC_STAT_AREA] < 0.001 * valid.sum():
        return None
    columns = (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT)
    x, y, w, h = (int(stats[best, c]) for c in columns)
    contrast = float(np.mean(diff[labels == best][mask[labels == best] > 0])) / threshold
    # Score: how much of the motion this region holds, damped when it barely exceeds the noise.
    score = (sums[best] / total) * min(1.0, (contrast - 1.0) / 2.0 + 0.25)
    return (x, y, w, h), float(np.clip(score, 0.0, 1.0))


class BurstMotion:
    """Change maps of one burst (>= 2 frames of one size), computed once, at a small working width."""

    def __init__(self, frames: list[Image.Image | np.ndarray], *, work_width: int = WORK_WIDTH, neighbours: int = 2):
        sizes = {(f.size if isinstance(f, Image.Image) else (f.shape[1], f.shape[0])) for f in frames}
        if len(sizes) > 1:
            raise ValueError("Motion needs frames of one size (one camera trigger).")
        self.n = len(frames)
        self.full_w, self.full_h = sizes.pop() if sizes else (0, 0)
        self.min_maps: list[np.ndarray] = []
        self.max_maps: list[np.ndarray] = []
        if self.n < 2:
            return
        grays = [_gray(f, min(work_width, self.full_w)) for f in frames]
        if min(grays[0].shape) < MIN_SIDE:
            self.n = 1  # a sliver or thumbnail carries no usable motion: every query answers None
            return
        top, bottom = info_bar_rows(grays)
        self.valid = np.ones_like(grays[0], dtype=np.float32)
        self.valid[:top] = 0
        if bottom:
            self.valid[-bottom:] = 0
        self.scale_x = self.full_w / grays[0].shape[1]
        self.scale_y = self.full_h / grays[0].shape[0]
        blurred = [cv2.GaussianBlur(g, (5, 5), 0) for g in grays]
        for i, frame in enumerate(blurred):
            diffs = [np.abs(frame - _align(blurred[j], frame, self.valid)) for j in _neighbours(i, self.n, neighbours)]
            # Pixels that differ from every compared frame are where the animal is in THIS frame;
            # with two frames this is simply their difference (both positions of the animal).
            self.min_maps.append(np.minimum.reduce(diffs) * self.valid)
            # Pixels that differ from any other frame: used to tell a still rock from an animal.
            self.max_maps.append(np.maximum.reduce(diffs) * self.valid)

    def box(self, index: int) -> MotionBox | None:
        """Box around what moves in frame ``index``, in input pixels, or None."""
        if self.n < 2:
            return None
        found = _box_from_map(self.min_maps[index], self.valid)
        if found is None:
            return None
        (x, y, w, h), score = found
        x0, y0 = int(np.floor(x * self.scale_x)), int(np.floor(y * self.scale_y))
        x1 = min(self.full_w, int(np.ceil((x + w) * self.scale_x)))
        y1 = min(self.full_h, int(np.ceil((y + h) * self.scale_y)))
        return MotionBox(x=x0, y=y0, w=x1 - x0, h=y1 - y0, score=score)

    def changed_share(self, index: int, xyxy: tuple[float, float, float, float]) -> float | None:
        """Share (0..1) of the box's unmasked pixels that change between frame ``index`` and the others."""
        if self.n < 2:
            return None
        x0, y0, x1, y1 = xyxy
        c0, c1 = int(x0 / self.scale_x), int(np.ceil(x1 / self.scale_x))
        r0, r1 = int(y0 / self.scale_y), int(np.ceil(y1 / self.scale_y))
        diff = self.max_maps[index]
        inside = self.valid[r0:r1, c0:c1] > 0
        if not inside.any():
            return None
        changed = diff[r0:r1, c0:c1][inside] > _threshold(diff, self.valid)
        return float(changed.mean())


def moving_regions(frames: list[Image.Image | np.ndarray], *, work_width: int = WORK_WIDTH) -> list[MotionBox | None]:
    """Per frame of one burst (same size, >= 2 frames): box around what moves, in input pixels, or None."""
    burst = BurstMotion(frames, work_width=work_width)
    return [burst.box(i) for i in range(len(frames))]


def moving_region(frames: list[Image.Image | np.ndarray], *, index: int = 0) -> MotionBox | None:
    """Box around what moves in frame ``index`` of a burst (see moving_regions)."""
    return moving_regions(frames)[index]
