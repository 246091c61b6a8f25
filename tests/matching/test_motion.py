"""Burst motion boxes on synthetic frames: a textured static scene, a moving blob, changing bar text."""

import cv2
import numpy as np
import pytest

from matching.engine.motion import info_bar_rows, moving_region, moving_regions

W, H, BAR = 640, 360, 16


def _background(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Rock-like texture: smoothed noise at two scales, strong enough that a naive threshold fires.
    coarse = cv2.resize(rng.uniform(40, 200, (H // 16, W // 16)).astype(np.float32), (W, H))
    fine = cv2.GaussianBlur(rng.normal(0, 25, (H, W)).astype(np.float32), (0, 0), 1.5)
    gray = np.clip(coarse + fine, 0, 255)
    return np.repeat(gray[..., None], 3, axis=2).astype(np.uint8)


def _frame(background: np.ndarray, blob_center: tuple[int, int] | None, counter: int, seed: int) -> np.ndarray:
    frame = background.copy()
    if blob_center is not None:
        rng = np.random.default_rng(100 + seed)
        cx, cy = blob_center
        blob = np.zeros((H, W), np.uint8)
        cv2.ellipse(blob, (cx, cy), (40, 22), 0, 0, 360, 255, -1)
        spots = rng.uniform(150, 240, (H, W)).astype(np.uint8)
        frame[blob > 0] = np.stack([spots[blob > 0]] * 3, axis=1)
    # Info bars: black with white text that changes every frame (time, "M n/10").
    frame[:BAR] = 0
    frame[-BAR:] = 0
    cv2.putText(frame, f"03:22:{10 + 7 * counter:02d} M {counter}/10 {-5 - 3 * counter}C", (5, BAR - 3),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2)
    cv2.putText(frame, f"PANTHERA-{7 * counter:02d} {counter}{counter}", (W - 230, H - 3),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2)
    # Sensor noise, independent per frame.
    noise = np.random.default_rng(seed).normal(0, 3, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def _contains(box, point) -> bool:
    x0, y0, x1, y1 = box.xyxy
    return x0 <= point[0] <= x1 and y0 <= point[1] <= y1


def test_motion_boxes_the_moving_blob_in_each_frame_of_a_burst():
    background = _background()
    centers = [(150, 200), (320, 180), (490, 220)]
    frames = [_frame(background, c, i, i) for i, c in enumerate(centers)]

    boxes = moving_regions(frames)

    for box, center in zip(boxes, centers):
        assert box is not None
        assert _contains(box, center)
        # Only this frame's blob, not the others' positions 170 px away.
        assert box.w < 150 and box.h < 100
        assert 0 < box.score <= 1


def test_motion_finds_the_animal_in_a_long_burst_where_it_returns_to_an_earlier_spot():
    # Frames 0 and 5 show the cat at the same place: comparing frame 0 with every frame would
    # erase it; comparing with its nearest frames keeps it.
    background = _background(4)
    centres = [(120, 180), (240, 180), (360, 180), (480, 180), (360, 260), (120, 180)]
    frames = [_frame(background, c, i, i) for i, c in enumerate(centres)]

    boxes = moving_regions(frames)

    assert boxes[0] is not None and _contains(boxes[0], centres[0])
    assert boxes[5] is not None and _contains(boxes[5], centres[5])


def test_motion_ignores_text_changing_in_the_info_bars():
    background = _background(1)
    frames = [_frame(background, None, i, i) for i in range(3)]

    assert moving_regions(frames) == [None, None, None]


def test_motion_survives_a_small_camera_shift_and_a_brightness_change():
    background = _background(2)
    frames = [_frame(background, (200, 180), 0, 0), _frame(background, (420, 200), 1, 1),
              _frame(background, (560, 160), 2, 2)]
    # Shake the second frame by 3 px and brighten it, as wind and auto-exposure do.
    shifted = np.roll(frames[1], 3, axis=1).astype(np.float32) * 1.15
    frames[1] = np.clip(shifted, 0, 255).astype(np.uint8)

    box = moving_region(frames, index=0)

    assert box is not None and _contains(box, (200, 180))


def test_info_bar_rows_finds_black_bars_and_nothing_on_a_plain_scene():
    background = _background(3)
    gray = [cv2.cvtColor(_frame(background, None, i, i), cv2.COLOR_RGB2GRAY).astype(np.float32) for i in range(2)]
    top, bottom = info_bar_rows(gray)
    assert BAR <= top <= BAR + 2 and BAR <= bottom <= BAR + 2

    plain = [cv2.cvtColor(background, cv2.COLOR_RGB2GRAY).astype(np.float32)] * 2
    assert info_bar_rows(plain) == (0, 0)


def test_motion_needs_two_frames_of_one_size():
    frame = _background()
    assert moving_regions([frame]) == [None]
    assert moving_regions([frame[:1, :1], frame[1:2, 1:2]]) == [None, None]
    sliver = np.zeros((16, 8000, 3), np.uint8)
    assert moving_regions([sliver, sliver + 255]) == [None, None]
    with pytest.raises(ValueError):
        moving_regions([frame, frame[:100]])
