"""Synthetic test images for the matching tests: rosette-like textures and their warped copies."""

import cv2
import numpy as np


def rosette_texture(size: int = 384, seed: int = 0) -> np.ndarray:
    """(size, size, 3) uint8 RGB: dark open rings and spots on grey fur-like noise, unique per seed."""
    rng = np.random.default_rng(seed)
    base = rng.normal(150, 12, (size, size)).astype(np.float32)
    base = cv2.GaussianBlur(base, (0, 0), 1.2)
    for _ in range(size * size // 900):
        cx, cy = rng.integers(0, size, 2)
        axes = (int(rng.integers(4, 14)), int(rng.integers(4, 14)))
        angle = float(rng.uniform(0, 180))
        if rng.random() < 0.6:  # an open ring (rosette)
            start = float(rng.uniform(0, 120))
            cv2.ellipse(base, (int(cx), int(cy)), axes, angle, start, start + 280, float(rng.uniform(30, 70)), 3)
        else:  # a solid spot
            cv2.ellipse(base, (int(cx), int(cy)), axes, angle, 0, 360, float(rng.uniform(30, 70)), -1)
    gray = np.clip(base, 0, 255).astype(np.uint8)
    rgb = np.stack([gray, (gray * 0.93).astype(np.uint8), (gray * 0.85).astype(np.uint8)], axis=-1)
    return rgb


def warp_copy(image: np.ndarray, *, angle: float = 20.0, scale: float = 0.8, occlude: bool = True) -> tuple:
    """Rotate+rescale around the centre and blank a quarter; return (copy, 2x3 affine original->copy)."""
    h, w = image.shape[:2]
    affine = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    out = cv2.warpAffine(image, affine, (w, h), flags=cv2.INTER_LINEAR, borderValue=(128, 128, 128))
    if occlude:
        out[: h // 2, : w // 2] = (128, 128, 128)
    return out, affine
