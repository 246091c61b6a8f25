import numpy as np
import pytest
import torch

from matching.engine import weights
from matching.engine.extractors import EXTRACTORS, Features, get_extractor
from matching.engine.matcher import match_mnn_ratio
from matching.engine.superpoint import SuperPointNet, detect_and_describe
from matching.engine.weights import WeightsUnavailable

from .test_preprocess import add_logo, frame_with_bars
from .textures import rosette_texture

LEARNED = ["disk", "aliked", "xfeat"]
DIMS = {"sift": 128, "disk": 128, "aliked": 128, "xfeat": 64, "superpoint": 256}


@pytest.fixture
def no_user_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(weights, "_configured_dir", tmp_path / "weights")


def small(name):
    return get_extractor(name, "cpu", max_keypoints=256, long_side=384)


def check_features(f: Features, name: str, box=None):
    n = len(f)
    assert f.keypoints.shape == (n, 2) and f.keypoints.dtype == np.float32
    assert f.descriptors.shape == (n, DIMS[name]) and f.descriptors.dtype == np.float32
    assert f.scores.shape == (n,) and f.prepared_keypoints.shape == (n, 2)
    assert f.extractor == name and f.version
    w, h = f.image_size
    x0, y0, x1, y1 = (0, 0, w, h) if box is None else (box[0], box[1], box[0] + box[2], box[1] + box[3])
    margin = 0.06 * max(x1 - x0, y1 - y0) + 1
    assert (f.keypoints[:, 0] >= x0 - margin).all() and (f.keypoints[:, 0] <= x1 + margin).all()
    assert (f.keypoints[:, 1] >= y0 - margin).all() and (f.keypoints[:, 1] <= y1 + margin).all()


def test_sift_keypoints_are_in_original_pixels_after_crop_and_resize():
    image = rosette_texture(512, seed=1)
    extractor = get_extractor("sift", max_keypoints=1024, long_side=512)
    box = (128, 96, 256, 200)
    full, cropped = extractor.extract(image), extractor.extract(image, box)  # the crop is enlarged 2x
    check_features(full, "sift")
    check_features(cropped, "sift", box)
    assert 1.5 < cropped.scale <= 2.0  # box plus margin enlarged to the 512-px long side
    found = match_mnn_ratio(full.descriptors, cropped.descriptors)
    assert len(found) > 30
    # The same texture point must land on the same original pixel from both extractions.
    offsets = np.linalg.norm(full.keypoints[found.idx0] - cropped.keypoints[found.idx1], axis=1)
    assert np.median(offsets) < 1.0


def test_features_survive_an_npz_round_trip(tmp_path):
    f = get_extractor("sift", max_keypoints=128).extract(rosette_texture(256), (10, 20, 200, 180))
    np.savez(tmp_path / "f.npz", **f.to_npz_dict())
    with np.load(tmp_path / "f.npz") as data:
        g = Features.from_npz(data)
    assert np.array_equal(f.keypoints, g.keypoints) and np.array_equal(f.descriptors, g.descriptors)
    assert np.array_equal(f.scales, g.scales) and g.transform == f.transform
    assert (g.extractor, g.version, g.image_size, g.prepared_size) == (f.extractor, f.version, f.image_size, f.prepared_size)


def test_non_default_options_change_the_version_so_caches_do_not_mix():
    assert get_extractor("sift").version != get_extractor("sift", max_keypoints=256).version


def test_the_plain_aliked_of_the_seed_baseline_sees_the_colour_photo_and_caches_apart():
    accurate, plain = get_extractor("aliked"), get_extractor("aliked", plain=True)
    assert accurate.equalize_grey and not plain.equalize_grey and not plain.drop_saturated
    assert plain.version == accurate.version + "-plain"
    # An extractor without that preprocessing is the same with or without plain.
    assert get_extractor("sift", plain=True).version == get_extractor("sift").version
    # The class keeps its setting: plain is per instance.
    assert get_extractor("aliked").equalize_grey


def test_info_bar_text_gives_no_keypoints_when_bars_are_masked():
    frame = frame_with_bars(bar=16)
    extractor = get_extractor("sift", max_keypoints=4096, long_side=960)
    def in_bars(f):
        return int(((f.keypoints[:, 1] < 16) | (f.keypoints[:, 1] >= 540 - 16)).sum())
    assert in_bars(extractor.extract(frame, mask_bars=False)) > 0
    assert in_bars(extractor.extract(frame)) == 0


def test_a_logo_rising_out_of_the_bar_gets_no_keypoints():
    frame = add_logo(frame_with_bars(bar=16))
    extractor = get_extractor("sift", max_keypoints=4096, long_side=960)
    def near_logo(f):
        k = f.keypoints
        return int(((k[:, 0] > 815) & (k[:, 0] < 905) & (k[:, 1] > 540 - 30)).sum())
    assert near_logo(extractor.extract(frame, mask_bars=False)) > 0
    assert near_logo(extractor.extract(frame)) == 0


@pytest.mark.parametrize("image", [np.full((300, 400, 3), 90, np.uint8), np.full((6, 5, 3), 200, np.uint8)],
                         ids=["blank", "tiny"])
def test_blank_and_tiny_images_give_zero_sift_keypoints(image):
    f = get_extractor("sift").extract(image)
    assert len(f) == 0 and f.descriptors.shape == (0, 128)


def test_unknown_extractor_is_refused():
    with pytest.raises(ValueError, match="unknown extractor"):
        get_extractor("orb")


def test_superpoint_without_supplied_weights_raises_the_licence_error(no_user_weights):
    with pytest.raises(WeightsUnavailable, match="non-commercial"):
        get_extractor("superpoint")
    assert "non-commercial" in EXTRACTORS["superpoint"]["licence"]


def test_superpoint_network_gives_keypoints_and_256d_descriptors_on_any_size():
    torch.manual_seed(0)
    net = SuperPointNet().eval()
    with torch.inference_mode():
        kpts, scores, desc = detect_and_describe(net, torch.rand(1, 1, 61, 83), max_keypoints=50, threshold=0.0)
    assert kpts.shape[1] == 2 and 0 < len(kpts) <= 50
    assert desc.shape == (len(kpts), 256) and scores.shape == (len(kpts),)
    assert (kpts[:, 0] < 83).all() and (kpts[:, 1] < 61).all()
    assert torch.allclose(desc.norm(dim=1), torch.ones(len(kpts)), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", LEARNED)
def test_learned_extractors_give_original_pixel_keypoints_inside_the_box(name):
    image = rosette_texture(384, seed=2)
    box = (40, 60, 200, 150)
    f = small(name).extract(image, box)
    check_features(f, name, box)
    assert len(f) > 50


@pytest.mark.slow
@pytest.mark.parametrize("name", LEARNED)
@pytest.mark.parametrize("image", [np.full((256, 320, 3), 90, np.uint8), np.full((6, 5, 3), 200, np.uint8)],
                         ids=["blank", "tiny"])
def test_blank_and_tiny_images_give_zero_learned_keypoints_without_crashing(name, image):
    f = small(name).extract(image)
    assert len(f) == 0 and f.descriptors.shape == (0, DIMS[name])
