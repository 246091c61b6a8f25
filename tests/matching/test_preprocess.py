import cv2
import numpy as np
import pytest

from matching.engine.preprocess import MAX_UPSCALE, detect_bar_logos, detect_info_bars, prepare

from .textures import rosette_texture


def frame_with_bars(width=960, height=540, bar=16, seed=0):
    """A camera-trap-like frame: texture with black info bars carrying white text."""
    scene = cv2.resize(rosette_texture(512, seed), (width, height))
    scene[:bar] = 0
    scene[height - bar :] = 0
    cv2.putText(scene, "2012-08-23 09:24 -3C M 3/10", (10, bar - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    cv2.putText(scene, "PANTHERA-22  RECONYX", (10, height - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    return scene


def add_logo(frame, bar=16):
    """A RECONYX-like green-on-black oval rising out of the bottom bar, at x 800..920."""
    h = frame.shape[0]
    cv2.ellipse(frame, (860, h - bar), (60, 28), 0, 0, 360, (0, 0, 0), -1)
    cv2.ellipse(frame, (860, h - bar), (60, 28), 0, 0, 360, (0, 170, 0), 2)
    cv2.putText(frame, "LOGO", (822, h - bar - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 170, 0), 2)
    return frame


def test_a_logo_rising_out_of_the_bar_is_found_and_dark_scenery_is_not():
    frame = add_logo(frame_with_bars(bar=16))
    rects = detect_bar_logos(frame, (16, 16))
    assert len(rects) == 1
    x0, y0, x1, y1 = rects[0]
    assert x0 <= 805 and x1 >= 915 and (y0, y1) == (540 - 32, 540 - 16)
    dark = frame_with_bars(bar=16)
    dark[16:40, 100:400] = 5  # a black shadow under the top bar, without coloured lettering
    assert detect_bar_logos(dark, (16, 16)) == []


def test_info_bars_are_detected_at_top_and_bottom():
    assert detect_info_bars(frame_with_bars(bar=16)) == (16, 16)
    assert detect_info_bars(frame_with_bars(bar=32, width=1920, height=1080)) == (32, 32)


def test_frame_without_bars_and_dark_night_scenery_are_not_taken_for_bars():
    assert detect_info_bars(rosette_texture(512)) == (0, 0)
    night = rosette_texture(512, seed=3) // 8 + 18  # dark, but not the pure black of a bar
    assert detect_info_bars(night) == (0, 0)


def test_dark_scenery_next_to_a_bar_stays_in_the_image():
    frame = frame_with_bars(bar=16)
    frame[16:80] = np.clip(frame[16:80] // 8 + 20, 0, 255)  # a dark sky under the top bar
    assert detect_info_bars(frame) == (16, 16)


def test_prepare_removes_bar_rows_and_maps_back_to_original_pixels():
    frame = frame_with_bars(bar=16)
    prepared = prepare(frame, None, long_side=480)
    assert prepared.bars == (16, 16)
    assert prepared.size == (480, 254)  # 960 x 508 rows without bars, halved
    # The prepared top-left pixel centre is the original pixel (0.5, 16.5) region's centre.
    corner = prepared.transform.to_original(np.array([[0.0, 0.0]]))[0]
    assert corner == pytest.approx([0.5, 16.5], abs=1e-3)


def test_mask_bars_false_keeps_the_whole_frame():
    prepared = prepare(frame_with_bars(bar=16), None, mask_bars=False, long_side=960)
    assert prepared.bars == (0, 0)
    assert prepared.size == (960, 540)


def test_a_bright_dot_maps_back_to_its_original_position_after_crop_and_resize():
    image = np.full((1000, 2000, 3), 60, np.uint8)
    cv2.circle(image, (1500, 700), 3, (255, 255, 255), -1)
    prepared = prepare(image, (1200, 500, 600, 400), long_side=256)
    gray = cv2.cvtColor(prepared.image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    ys, xs = np.nonzero(gray > gray.max() * 0.5)
    weights = gray[ys, xs]
    centre = np.array([[np.average(xs, weights=weights), np.average(ys, weights=weights)]])
    back = prepared.transform.to_original(centre)[0]
    assert back == pytest.approx([1500, 700], abs=2.0)
    assert np.allclose(prepared.transform.to_prepared(prepared.transform.to_original(centre)), centre, atol=1e-3)


def test_box_gets_a_small_margin_and_is_clipped_to_the_image_and_bars():
    frame = frame_with_bars(bar=16)
    prepared = prepare(frame, (900, 0, 200, 100), long_side=1024)
    x0, y0, x1, y1 = prepared.crop
    assert x0 == 890 and x1 == 960  # 5 % margin, clipped at the right edge
    assert y0 == 16  # the box overlapped the top bar


def test_small_crops_are_enlarged_at_most_twofold_and_large_images_shrunk():
    small = prepare(rosette_texture(100), None, long_side=1024)
    assert small.size == (int(100 * MAX_UPSCALE), int(100 * MAX_UPSCALE))
    large = prepare(rosette_texture(512), None, long_side=256)
    assert large.size == (256, 256)


def test_a_box_outside_the_image_gives_an_empty_preparation():
    prepared = prepare(rosette_texture(128), (500, 500, 50, 50))
    assert prepared.is_empty
