"""The animal, not the frame: drop keypoints that stay put across a camera-trap burst.

Pure numpy, no Django. A trigger's frames share the exact background (rock, snow, grass); the
animal is what moves. A keypoint of one frame that has a keypoint with a near-identical
descriptor at the same pixel in other frames of the burst is static background: it is dropped,
so that no rock votes and LightGlue's time goes to the cat. Done on features, not pixels, so it
needs no second look at the images and works for any extractor.

A cat that sits still through the burst would vanish with its background; when fewer than
MIN_KEEP_SHARE of a frame's keypoints (or MIN_KEEP of them) would be left, the frame is kept whole.
"""

from __future__ import annotations

import copy

import numpy as np

# Same pixel: within this share of the frame's long side (a fixed camera; wind and JPEG jitter).
STATIC_RADIUS_SHARE = 0.004
# Same point: cosine similarity of the two descriptors (learned descriptors of one rock patch in
# two frames of a burst are above 0.9; different patches rarely reach 0.8).
STATIC_MIN_SIMILARITY = 0.85
# A keypoint is background when it is found so in at least this share of the burst's other frames
# (not all: the cat may cover a patch of background in one of them).
STATIC_MIN_FRAME_SHARE = 0.5
MIN_KEEP_SHARE = 0.1
MIN_KEEP = 32
# Background is one connected stretch of the frame: a keypoint whose nearest neighbours in its own
# frame are mostly static is background too (its twin in the other frames fell out of their
# keypoint budget). The animal's own keypoints have moving neighbours.
NEIGHBOURS = 12
NEIGHBOURS_STATIC_SHARE = 0.5
FILL_ROUNDS = 4
# What moves is one animal, a dense cluster of keypoints: a moving keypoint with fewer than
# ISOLATED_MIN others within ISOLATED_RADIUS_SHARE of the long side is a stray (a leaf, noise).
ISOLATED_RADIUS_SHARE = 0.05
ISOLATED_MIN = 4


def _unit(desc: np.ndarray) -> np.ndarray:
    d = np.asarray(desc, np.float32)
    return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)


def static_mask(frames: list, index: int) -> np.ndarray:
    """(N,) bool over frames[index]'s keypoints: True where the keypoint is static background.

    frames: Features of one burst (same camera, same image size); keypoints in original pixels.
    """
    f = frames[index]
    n = len(f.keypoints)
    others = [g for j, g in enumerate(frames) if j != index and tuple(g.image_size) == tuple(f.image_size) and len(g.keypoints)]
    if n == 0 or not others:
        return np.zeros(n, bool)
    radius = STATIC_RADIUS_SHARE * max(f.image_size)
    d0 = _unit(f.descriptors)
    p0 = np.asarray(f.keypoints, np.float32)
    hits = np.zeros(n, np.int32)
    for g in others:
        p1 = np.asarray(g.keypoints, np.float32)
        d1 = _unit(g.descriptors)
        # Bucket the other frame's keypoints by grid cell so each keypoint looks only nearby.
        cell = max(radius, 1.0)
        keys = np.floor(p1 / cell).astype(np.int64)
        buckets: dict = {}
        for j, (cx, cy) in enumerate(keys):
            buckets.setdefault((int(cx), int(cy)), []).append(j)
        found = np.zeros(n, bool)
        for i, (x, y) in enumerate(p0):
            cx, cy = int(np.floor(x / cell)), int(np.floor(y / cell))
            near = [j for dx in (-1, 0, 1) for dy in (-1, 0, 1) for j in buckets.get((cx + dx, cy + dy), ())]
            if not near:
                continue
            near = np.asarray(near)
            close = near[np.hypot(*(p1[near] - (x, y)).T) <= radius]
            if len(close) and float((d1[close] @ d0[i]).max()) >= STATIC_MIN_SIMILARITY:
                found[i] = True
        hits += found
    static = hits >= max(1, int(np.ceil(STATIC_MIN_FRAME_SHARE * len(others))))
    for _ in range(FILL_ROUNDS):
        grown = static | _surrounded(p0, static)
        if (grown == static).all():
            break
        static = grown
    return static


def _surrounded(points: np.ndarray, static: np.ndarray) -> np.ndarray:
    """(N,) True where most of a point's NEIGHBOURS nearest points (same frame) are static."""
    n = len(points)
    if n <= NEIGHBOURS or not static.any():
        return np.zeros(n, bool)
    out = np.zeros(n, bool)
    for start in range(0, n, 512):  # bounded memory: 512 x N distances at a time
        block = points[start : start + 512]
        dist = np.linalg.norm(block[:, None, :] - points[None, :, :], axis=2)
        dist[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        nearest = np.argpartition(dist, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
        out[start : start + len(block)] = static[nearest].mean(axis=1) >= NEIGHBOURS_STATIC_SHARE
    return out


def keep(features, mask: np.ndarray):
    """A copy of Features with only the keypoints where ``mask`` (N,) is True, same order."""
    out = copy.copy(features)
    for name in ("keypoints", "descriptors", "scores", "prepared_keypoints", "scales", "oris"):
        value = getattr(features, name, None)
        if value is not None and len(value) == len(mask):
            setattr(out, name, value[mask])
    return out


def _isolated(points: np.ndarray, keep: np.ndarray, radius: float) -> np.ndarray:
    """(N,) True for kept points with fewer than ISOLATED_MIN other kept points within radius."""
    idx = np.flatnonzero(keep)
    out = np.zeros(len(points), bool)
    if len(idx) == 0:
        return out
    p = points[idx]
    for start in range(0, len(idx), 512):
        block = p[start : start + 512]
        close = (np.linalg.norm(block[:, None, :] - p[None, :, :], axis=2) <= radius).sum(axis=1) - 1
        out[idx[start : start + 512]] = close < ISOLATED_MIN
    return out


def foreground(frames: list) -> list:
    """Each frame's Features without the burst's static background (see the module docstring)."""
    out = []
    for i, f in enumerate(frames):
        moving = ~static_mask(frames, i)
        if moving.any() and not moving.all():
            points = np.asarray(f.keypoints, np.float32)
            moving &= ~_isolated(points, moving, ISOLATED_RADIUS_SHARE * max(f.image_size))
        left = int(moving.sum())
        if left == len(moving) or left < max(MIN_KEEP, MIN_KEEP_SHARE * len(moving)):
            out.append(f)
        else:
            out.append(keep(f, moving))
    return out
