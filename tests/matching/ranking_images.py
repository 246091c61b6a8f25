"""Small synthetic textured images for ranking tests: rosette-like rings on a noisy coat."""

import cv2
import numpy as np


def rosette_image(seed: int, size: tuple[int, int] = (400, 300)) -> np.ndarray:
    """(h, w, 3) uint8 RGB: a different random rosette pattern per seed."""
    w, h = size
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(175, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    for _ in range(90):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(5, 16)), int(rng.integers(4, 12)))
        shade = int(rng.integers(20, 90))
        cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0, int(rng.integers(200, 360)),
                    (shade, shade, shade), int(rng.integers(2, 5)))
        if rng.random() < 0.4:
            cv2.circle(img, centre, int(rng.integers(2, 5)), (shade, shade, shade), -1)
    return cv2.GaussianBlur(img, (3, 3), 0)


def distorted_copy(img: np.ndarray, *, angle: float = 20.0, scale: float = 0.8, occlude: float = 0.25) -> np.ndarray:
    """Rotated, rescaled and partly occluded (a grey block over `occlude` of the width) copy."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    out = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=(175, 175, 175))
    out[:, : int(w * occlude)] = 120
    return out


def jpeg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()
