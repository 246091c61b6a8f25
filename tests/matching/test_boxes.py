"""suggest_boxes: detector and burst motion combined into one suggested box per image."""

import pytest
from PIL import Image

from matching.engine import boxes, detector
from matching.engine.detector import Detection, DetectorUnavailable
from tests.matching.test_motion import _background, _frame

ROCK = Detection(x=20, y=250, w=90, h=70, score=0.92)  # confident box on static texture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class FakeDetector:
    def __init__(self, per_image):
        self.per_image = per_image
        self.calls = 0

    def detect_many(self, images, *, confidence, nms_iou=0.45):
        self.calls += 1
        return [[d for d in self.per_image(i) if d.score >= confidence] for i in range(len(images))]


def _burst(centres):
    background = _background(7)
    return [Image.fromarray(_frame(background, c, i, i)) for i, c in enumerate(centres)]


def _use(monkeypatch, fake):
    monkeypatch.setattr(detector, "get_detector", lambda device="cpu": fake)
    return fake


def _contains(box, point):
    return box["x"] <= point[0] <= box["x"] + box["w"] and box["y"] <= point[1] <= box["y"] + box["h"]


def test_suggest_boxes_prefers_the_detector_box_on_the_moving_animal_over_a_rock(monkeypatch):
    centres = [(200, 150), (330, 170), (470, 150)]
    _use(monkeypatch, FakeDetector(lambda i: [ROCK, Detection(centres[i][0] - 50, centres[i][1] - 30, 100, 60, 0.5)]))

    result = boxes.suggest_boxes(images=_burst(centres))

    for box, (cx, cy) in zip(result, centres):
        assert box["source"] == "detector"
        assert (box["x"], box["y"], box["w"], box["h"]) == (cx - 50, cy - 30, 100, 60)
        assert 0.5 < box["score"] <= 0.75  # agreement raises the score, at most halfway to 1


def test_suggest_boxes_drops_a_confident_box_on_still_background_and_uses_motion(monkeypatch):
    centres = [(200, 150), (330, 170), (470, 150)]
    _use(monkeypatch, FakeDetector(lambda i: [ROCK]))

    result = boxes.suggest_boxes(images=_burst(centres))

    for box, centre in zip(result, centres):
        assert box["source"] == "motion"
        assert _contains(box, centre)
        assert 0 < box["score"] <= boxes.MOTION_SCORE_CAP
        assert not _contains(box, (ROCK.x + ROCK.w / 2, ROCK.y + ROCK.h / 2))


def test_suggest_boxes_keeps_the_detector_box_when_the_whole_burst_is_still(monkeypatch):
    _use(monkeypatch, FakeDetector(lambda i: [ROCK]))

    result = boxes.suggest_boxes(images=_burst([None, None, None]))

    assert [b["source"] for b in result] == ["detector"] * 3
    assert result[0] == {"x": 20, "y": 250, "w": 90, "h": 70, "score": 0.92, "source": "detector"}


def test_suggest_boxes_gives_the_best_detector_box_for_a_single_image_clipped_to_it(monkeypatch):
    _use(monkeypatch, FakeDetector(lambda i: [Detection(590.4, 300.2, 80, 80, 0.6), Detection(0, 0, 10, 10, 0.3)]))

    (box,) = boxes.suggest_boxes(images=[Image.new("RGB", (640, 360), (90, 90, 90))])

    assert box == {"x": 590, "y": 300, "w": 50, "h": 60, "score": 0.6, "source": "detector"}


def test_suggest_boxes_ignores_detector_boxes_below_the_threshold(monkeypatch):
    _use(monkeypatch, FakeDetector(lambda i: [Detection(5, 5, 50, 50, boxes.DETECTOR_THRESHOLD - 0.01)]))

    assert boxes.suggest_boxes(images=[Image.new("RGB", (64, 64))]) == [None]


def test_suggest_boxes_falls_back_to_motion_when_the_weights_are_missing(monkeypatch):
    def unavailable(device="cpu"):
        raise DetectorUnavailable("MegadetectorLite weights not found")

    monkeypatch.setattr(detector, "get_detector", unavailable)
    centres = [(200, 150), (330, 170), (470, 150)]

    result = boxes.suggest_boxes(images=_burst(centres))

    assert all(b["source"] == "motion" and _contains(b, c) for b, c in zip(result, centres))
    assert boxes.suggest_boxes(images=[Image.new("RGB", (64, 64))]) == [None]


def test_suggest_boxes_does_not_run_the_detector_when_it_is_disabled(settings, monkeypatch):
    settings.DETECTOR_ENABLED = False
    fake = _use(monkeypatch, FakeDetector(lambda i: [ROCK]))

    result = boxes.suggest_boxes(images=[Image.new("RGB", (64, 64)), Image.new("RGB", (64, 64))])

    assert result == [None, None] and fake.calls == 0


def test_suggest_boxes_of_no_images_is_an_empty_list():
    assert boxes.suggest_boxes(images=[]) == []


def test_suggest_boxes_treats_images_of_different_sizes_as_separate_shots(monkeypatch):
    _use(monkeypatch, FakeDetector(lambda i: []))
    frames = _burst([(200, 150), (330, 170)])

    result = boxes.suggest_boxes(images=[frames[0], frames[1].resize((320, 180)), Image.new("RGBA", (50, 50))])

    assert result == [None, None, None]


@pytest.mark.slow
def test_suggest_boxes_returns_none_for_a_blank_image_with_the_real_detector():
    assert boxes.suggest_boxes(images=[Image.new("RGB", (320, 240), (0, 0, 0))]) == [None]
    assert boxes.suggest_boxes(images=[Image.new("L", (320, 240), 255)] * 2) == [None, None]
