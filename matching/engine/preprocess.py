"""Image preparation before local-feature extraction: info bars, box crop, resize.

Pure numpy/OpenCV, no Django. The prepared image is what the extractors see; its
``transform`` maps prepared pixel coordinates back to the original image, so stored
keypoints and the matches shown to reviewers are always in original pixels.

Resize policy: the prepared image's long side is ``long_side`` (1024 by default).
Larger images are shrunk with area interpolation; smaller crops are enlarged, but by at
most ``MAX_UPSCALE`` (2x). Why: DISK, ALIKED and LightGlue were trained on images of
about 1024 px, the CPU cost grows with the pixel count, and the geometric-verification
threshold is in pixels, so one working scale keeps it meaningful. A box crop of a cat
is enlarged so that rosettes reach the scale the detectors fire at, but not beyond 2x,
where interpolation adds no detail and only smooth blobs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps

DEFAULT_LONG_SIDE = 1024
MAX_UPSCALE = 2.0
# Extra context around a box, as a share of its width/height on each side: hand-drawn
# boxes often cut the flank's edge, and detectors need a few pixels around a keypoint.
BOX_MARGIN = 0.05
MIN_SIDE = 16

# Camera information bars: rows that are almost all black with a little bright text.
# Bar background is near-pure black (< 16); dark night scenery is mostly 16..40, which is
# what tells a bar from a dark sky next to it (dev set: bar rows >= 74 % black, scene <= 66 %).
BAR_BLACK_LEVEL = 16
BAR_MIN_BLACK = 0.7  # share of black pixels in a bar row (text and logos cover up to ~26 %)
BAR_MAX_MIDTONE = 0.12  # share of mid-grey pixels (40..150); text is bright, scenery mid-grey
BAR_MIN_ROWS = 8
BAR_MAX_SHARE = 0.1  # a bar is at most 10 % of the frame height


# Overlay graphics that stick out of a bar into the scene (the RECONYX logo's oval rises ~30 px
# above the bottom bar): columns of the band next to the bar that are mostly black or strongly
# saturated. Scenery is rarely either; a wrong hit only hides a small strip by the bar.
LOGO_MIN_COLUMN_SHARE = 0.5
LOGO_MIN_SATURATION = 90
LOGO_MIN_WIDTH_SHARE = 0.02
LOGO_MIN_COLOURED_SHARE = 0.1


@dataclass(frozen=True)
class Transform:
    """Maps prepared-image pixels to original-image pixels: x_orig = (x + 0.5) / scale_x - 0.5 + offset_x."""

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float

    @property
    def scale(self) -> float:
        return (self.scale_x + self.scale_y) / 2

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Return (N, 2) original-image pixel coords of (N, 2) prepared-image pixel coords."""
        points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        # Pixel centres: prepared pixel i covers original [i / s, (i + 1) / s), centre (i + 0.5) / s - 0.5.
        out = np.empty_like(points)
        out[:, 0] = (points[:, 0] + 0.5) / self.scale_x - 0.5 + self.offset_x
        out[:, 1] = (points[:, 1] + 0.5) / self.scale_y - 0.5 + self.offset_y
        return out

    def to_prepared(self, points: np.ndarray) -> np.ndarray:
        """Inverse of to_original, (N, 2) float32."""
        points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        out = np.empty_like(points)
        out[:, 0] = (points[:, 0] - self.offset_x + 0.5) * self.scale_x - 0.5
        out[:, 1] = (points[:, 1] - self.offset_y + 0.5) * self.scale_y - 0.5
        return out


@dataclass
class Prepared:
    image: np.ndarray  # (h, w, 3) uint8 RGB, what the extractor sees
    transform: Transform
    original_size: tuple[int, int]  # (w, h) of the original image
    bars: tuple[int, int]  # info-bar rows removed at (top, bottom) of the original
    crop: tuple[int, int, int, int]  # (x0, y0, x1, y1) region of the original that was used
    # Overlay graphics left inside the crop, (x0, y0, x1, y1) in original pixels: no keypoints there.
    masked: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def size(self) -> tuple[int, int]:
        """(w, h) of the prepared image."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    @property
    def is_empty(self) -> bool:
        return min(self.image.shape[:2]) < MIN_SIDE


def load_rgb(source) -> np.ndarray:
    """Open a path, file object or PIL image as (H, W, 3) uint8 RGB with its EXIF orientation applied."""
    if isinstance(source, Image.Image):
        return np.asarray(ImageOps.exif_transpose(source).convert("RGB"))
    with Image.open(source) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def _bar_rows(gray: np.ndarray) -> np.ndarray:
    black = (gray < BAR_BLACK_LEVEL).mean(axis=1)
    midtone = ((gray >= 40) & (gray < 150)).mean(axis=1)
    return (black >= BAR_MIN_BLACK) & (midtone <= BAR_MAX_MIDTONE)


def _run_length(flags: np.ndarray) -> int:
    not_bar = np.flatnonzero(~flags)
    return int(not_bar[0]) if len(not_bar) else len(flags)


def detect_info_bars(image: np.ndarray) -> tuple[int, int]:
    """Return the number of info-bar rows (top, bottom) of an RGB or grey frame, 0 where none.

    A bar is a run of rows from the frame edge that are nearly all black with sparse bright
    text (Reconyx: 32 px on 1920x1080 frames). A run longer than 10 % of the height is dark
    scenery (a night sky), not a bar, and is left alone.
    """
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h = gray.shape[0]
    if h < 4 * BAR_MIN_ROWS:
        return 0, 0
    limit = max(BAR_MIN_ROWS, int(h * BAR_MAX_SHARE))
    # Rows near the edges only: the scan stays cheap on large frames.
    top_flags = _bar_rows(gray[: limit + 1])
    bottom_flags = _bar_rows(gray[h - limit - 1 :][::-1])
    bars = []
    for flags in (top_flags, bottom_flags):
        n = _run_length(flags)
        # JPEG ringing can make the last bar row look grey: allow a 2-row ragged edge.
        while n < len(flags) - 3 and not flags[n] and flags[n + 1 : n + 3].all():
            n += 1 + _run_length(flags[n + 1 :])
        bars.append(n if BAR_MIN_ROWS <= n <= limit else 0)
    return bars[0], bars[1]


def _column_runs(flags: np.ndarray, min_length: int) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_length]


def detect_bar_logos(image: np.ndarray, bars: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Rectangles (x0, y0, x1, y1), original pixels, of overlay graphics rising out of the info bars."""
    if image.ndim != 3:
        return []
    h, w = image.shape[:2]
    rects = []
    for side, bar in zip(("top", "bottom"), bars):
        if not bar:
            continue
        band_height = min(bar, h - sum(bars))
        y0, y1 = (bar, bar + band_height) if side == "top" else (h - bar - band_height, h - bar)
        band = image[y0:y1].astype(np.int16)
        saturation = band.max(axis=2) - band.min(axis=2)
        gray = band.mean(axis=2)
        saturated = saturation > LOGO_MIN_SATURATION
        overlay = (gray < BAR_BLACK_LEVEL) | saturated
        columns = overlay.mean(axis=0) >= LOGO_MIN_COLUMN_SHARE
        for a, b in _column_runs(columns, max(8, int(w * LOGO_MIN_WIDTH_SHARE))):
            # Black alone is dark scenery; a logo also has coloured (saturated) lettering.
            if saturated[:, a:b].mean() < LOGO_MIN_COLOURED_SHARE:
                continue
            pad = max(4, (b - a) // 10)  # the oval's rounded ends fall below the column share
            rects.append((max(0, a - pad), y0, min(w, b + pad), y1))
    return rects


def _clip_box(box, w: int, h: int, top: int, bottom: int) -> tuple[int, int, int, int]:
    y_min, y_max = top, h - bottom
    if box is None:
        return 0, y_min, w, y_max
    bx, by, bw, bh = (float(v) for v in box)
    mx, my = bw * BOX_MARGIN, bh * BOX_MARGIN
    x0 = int(np.floor(max(0.0, bx - mx)))
    y0 = int(np.floor(max(float(y_min), by - my)))
    x1 = int(np.ceil(min(float(w), bx + bw + mx)))
    y1 = int(np.ceil(min(float(y_max), by + bh + my)))
    return x0, y0, max(x0, x1), max(y0, y1)


def prepare(
    image: np.ndarray,
    box: tuple[int, int, int, int] | None = None,
    *,
    mask_bars: bool = True,
    long_side: int = DEFAULT_LONG_SIDE,
) -> Prepared:
    """Crop an (H, W, 3) uint8 RGB image (EXIF already applied) to its box without info bars, then resize.

    ``box`` is (x, y, w, h) in original pixels. Bars are removed by cropping their rows away,
    which masks them and, unlike painting them black, adds no artificial edge for detectors.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    image = image[:, :, :3]
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    h, w = image.shape[:2]
    top, bottom = detect_info_bars(image) if mask_bars else (0, 0)
    x0, y0, x1, y1 = _clip_box(box, w, h, top, bottom)
    masked = tuple(
        r for r in detect_bar_logos(image, (top, bottom)) if r[0] < x1 and r[2] > x0 and r[1] < y1 and r[3] > y0
    )
    crop = image[y0:y1, x0:x1]
    ch, cw = crop.shape[:2]
    if min(ch, cw) == 0:
        empty = np.zeros((0, 0, 3), np.uint8)
        return Prepared(empty, Transform(1.0, 1.0, x0, y0), (w, h), (top, bottom), (x0, y0, x1, y1), masked)
    scale = min(long_side / max(ch, cw), MAX_UPSCALE)
    if abs(scale - 1.0) > 1e-3:
        nw, nh = max(1, round(cw * scale)), max(1, round(ch * scale))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        crop = cv2.resize(crop, (nw, nh), interpolation=interpolation)
        # Rounding makes the two axes' scales differ slightly; keep both exact.
        sx, sy = nw / cw, nh / ch
    else:
        sx = sy = 1.0
        crop = np.ascontiguousarray(crop)
    transform = Transform(float(sx), float(sy), float(x0), float(y0))
    return Prepared(crop, transform, (w, h), (top, bottom), (x0, y0, x1, y1), masked)
