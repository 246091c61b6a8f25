"""Geometric verification and static-background suppression. Pure numpy/OpenCV, no Django.

An animal's flank bends and turns between photos, so no single rigid model fits it exactly.
The default is a homography fitted with USAC MAGSAC++ under a generous threshold (8 px at the
1024-px working scale), which keeps the locally near-planar rosette patch two photos of one cat
share. ``model="fundamental"`` (epipolar lines only) and ``"affine"`` are available. On 10 same-
vs 10 different-cat pairs of snow-leopard frames with the same labelled flank (ALIKED+LightGlue,
full frames), the same/different AUC of the inlier count was 0.71 (homography, 8 px), 0.73
(fundamental, 8 px) and 0.74 (affine, 12 px): too few pairs to tell them apart, so the simpler,
stricter homography stays the default. Either way 4-5 inliers is what chance gives (a homography
fits any 4 points): treat counts near MIN_MATCHES as no evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_THRESHOLD_PX = 8.0
MIN_MATCHES = {"homography": 5, "fundamental": 9, "affine": 4}
# Same-camera frames: a correspondence that moved less than this share of the frame's long side
# is the shared background (rock, grass), not the animal. On dev pairs of two different cats at
# one camera, 90 % of matches moved < 17 px of 1920 (light, wind, a slightly nudged camera), so
# 2 % (38 px) leaves the background out while a cat that walked on still counts.
STATIC_DISPLACEMENT_SHARE = 0.02
STATIC_DISPLACEMENT_PX = 38.0
# Near-identity background motion (see background_motion): shares of the frame's long side.
BACKGROUND_THRESHOLD_SHARE = 0.01
BACKGROUND_MAX_SHIFT_SHARE = 0.08
BACKGROUND_MIN_INLIERS = 12


@dataclass
class Verified:
    inlier_mask: np.ndarray  # (M,) bool over the given correspondences
    num_inliers: int
    model: np.ndarray | None  # 3x3 homography / fundamental matrix, 2x3 affine, or None

    @classmethod
    def none(cls, m: int) -> "Verified":
        return cls(np.zeros(m, bool), 0, None)


_METHODS = {"usac_magsac": cv2.USAC_MAGSAC, "ransac": cv2.RANSAC, "usac_default": cv2.USAC_DEFAULT}


def verify(
    kpts0: np.ndarray,
    kpts1: np.ndarray,
    *,
    method: str = "usac_magsac",
    threshold_px: float = DEFAULT_THRESHOLD_PX,
    model: str = "homography",
    confidence: float = 0.999,
    max_iters: int = 2000,
) -> Verified:
    """Fit ``model`` to (M, 2) correspondences kpts0[i] <-> kpts1[i] robustly; return the inliers.

    ``threshold_px`` is in the units of the points given (use prepared-image pixels, where the
    default was chosen, or scale it).
    """
    p0 = np.asarray(kpts0, np.float64).reshape(-1, 2)
    p1 = np.asarray(kpts1, np.float64).reshape(-1, 2)
    m = len(p0)
    if m != len(p1):
        raise ValueError(f"kpts0 and kpts1 differ in length: {m} vs {len(p1)}")
    if m < MIN_MATCHES[model]:
        return Verified.none(m)
    flag = _METHODS[method]
    # OpenCV's USAC can throw on degenerate input (all points on a line, duplicates).
    try:
        if model == "homography":
            fitted, mask = cv2.findHomography(p0, p1, flag, threshold_px, maxIters=max_iters, confidence=confidence)
        elif model == "fundamental":
            fitted, mask = cv2.findFundamentalMat(p0, p1, flag, threshold_px, confidence, max_iters)
        elif model == "affine":
            fitted, mask = cv2.estimateAffine2D(
                p0, p1, method=flag, ransacReprojThreshold=threshold_px, maxIters=max_iters, confidence=confidence
            )
        else:
            raise ValueError(f"unknown model {model!r}")
    except cv2.error:
        return Verified.none(m)
    if fitted is None or mask is None:
        return Verified.none(m)
    inliers = mask.reshape(-1).astype(bool)
    if model == "fundamental" and fitted.shape[0] > 3:  # several solutions stacked: OpenCV picked the first
        fitted = fitted[:3]
    return Verified(inliers, int(inliers.sum()), fitted)


def background_motion(
    kpts0: np.ndarray,
    kpts1: np.ndarray,
    image_size: tuple[int, int],
    *,
    threshold_share: float = BACKGROUND_THRESHOLD_SHARE,
    max_shift_share: float = BACKGROUND_MAX_SHIFT_SHARE,
    min_inliers: int = BACKGROUND_MIN_INLIERS,
) -> np.ndarray:
    """(M,) mask of correspondences (original pixels) that follow one near-identity homography.

    Between two visits to a camera the whole scene moves together, if at all (the camera was
    nudged or re-mounted): a homography that moves no frame corner by more than
    ``max_shift_share`` of the long side and explains many matches is the background.
    """
    p0 = np.asarray(kpts0, np.float64).reshape(-1, 2)
    p1 = np.asarray(kpts1, np.float64).reshape(-1, 2)
    none = np.zeros(len(p0), bool)
    long_side = float(max(image_size))
    if len(p0) < min_inliers:
        return none
    result = verify(p0, p1, threshold_px=threshold_share * long_side, model="homography")
    if result.model is None or result.num_inliers < min_inliers:
        return none
    w, h = image_size
    corners = np.array([[[0, 0], [w, 0], [w, h], [0, h]]], np.float64)
    moved = cv2.perspectiveTransform(corners, result.model)
    if not np.isfinite(moved).all() or np.abs(moved - corners).max() > max_shift_share * long_side:
        return none
    return result.inlier_mask


def suppress_static(
    kpts0: np.ndarray,
    kpts1: np.ndarray,
    same_camera: bool,
    min_displacement_px: float = STATIC_DISPLACEMENT_PX,
    *,
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Keep-mask (M,) over correspondences in ORIGINAL pixels: drops near-motionless ones between
    two frames of the same camera, which are the shared background rather than the animal.

    With ``image_size`` (w, h) it also drops the matches of a near-identity scene motion
    (background_motion), which catches a background that shifted with a nudged camera.
    """
    p0 = np.asarray(kpts0, np.float32).reshape(-1, 2)
    p1 = np.asarray(kpts1, np.float32).reshape(-1, 2)
    if not same_camera or len(p0) == 0:
        return np.ones(len(p0), bool)
    keep = np.linalg.norm(p0 - p1, axis=1) >= min_displacement_px
    if image_size is not None:
        keep &= ~background_motion(p0, p1, image_size)
    return keep


def verify_pair(
    f0,
    f1,
    matches,
    *,
    same_camera: bool = False,
    threshold_px: float = DEFAULT_THRESHOLD_PX,
    model: str = "homography",
    min_displacement_px: float | None = None,
) -> Verified:
    """Suppress static background, then verify ``matches`` between Features f0 and f1.

    ``min_displacement_px`` defaults to STATIC_DISPLACEMENT_SHARE of the frames' long side.

    Returns a Verified whose mask covers all of ``matches`` (suppressed ones are outliers).
    Verification runs in prepared-image pixels, where ``threshold_px`` means the same for a
    full frame and for a box crop.
    """
    n = len(matches)
    if n == 0:
        return Verified.none(0)
    if min_displacement_px is None:
        min_displacement_px = STATIC_DISPLACEMENT_SHARE * max(*f0.image_size, *f1.image_size)
    keep = suppress_static(
        f0.keypoints[matches.idx0],
        f1.keypoints[matches.idx1],
        same_camera,
        min_displacement_px,
        image_size=f0.image_size if f0.image_size == f1.image_size else None,
    )
    keep_idx = np.flatnonzero(keep)
    result = verify(
        f0.prepared_keypoints[matches.idx0[keep_idx]],
        f1.prepared_keypoints[matches.idx1[keep_idx]],
        threshold_px=threshold_px,
        model=model,
    )
    mask = np.zeros(n, bool)
    mask[keep_idx[result.inlier_mask]] = True
    return Verified(mask, int(mask.sum()), result.model)
