import functools

import numpy as np
import pytest

from matching.engine.extractors import get_extractor
from matching.engine.matcher import load_lightglue, match, match_batched, match_many, match_mnn_ratio, truncate
from matching.engine.verify import verify_pair

from .textures import rosette_texture, warp_copy

ALL = ["sift", "disk", "aliked", "xfeat"]


@functools.cache
def triple(name):
    """Features of a texture, its rotated/rescaled/occluded copy and an unrelated texture."""
    extractor = get_extractor(name, max_keypoints=512, long_side=384)
    source = rosette_texture(384, seed=5)
    copy, _ = warp_copy(source, angle=20, scale=0.8, occlude=True)
    return extractor.extract(source), extractor.extract(copy), extractor.extract(rosette_texture(384, seed=6))


def test_mutual_nearest_neighbours_with_ratio_test_keeps_only_distinctive_pairs():
    rng = np.random.default_rng(0)
    d0 = rng.random((50, 16)).astype(np.float32)
    d1 = d0[::-1] + rng.normal(0, 0.01, d0.shape).astype(np.float32)
    d1[0] = d1[1] + 0.001  # two near-identical candidates: ambiguous, must be dropped
    found = match_mnn_ratio(d0, d1)
    assert len(found) >= 45
    assert np.array_equal(found.idx1, 49 - found.idx0)
    assert 48 not in found.idx0 and 49 not in found.idx0
    assert ((found.confidence > 0) & (found.confidence <= 1)).all()


def test_features_of_different_extractors_are_not_matched():
    a = get_extractor("sift", max_keypoints=64).extract(rosette_texture(128))
    b = type(a)(**{**a.__dict__, "extractor": "disk"})
    with pytest.raises(ValueError, match="cannot match"):
        match(a, b)


def test_an_image_without_keypoints_gives_no_matches():
    extractor = get_extractor("sift", max_keypoints=64)
    blank = extractor.extract(np.full((64, 64, 3), 100, np.uint8))
    assert len(match(extractor.extract(rosette_texture(128)), blank)) == 0
    assert [len(m) for m in match_many(blank, [blank, blank])] == [0, 0]


@pytest.mark.parametrize("name", ["sift"] + [pytest.param(n, marks=pytest.mark.slow) for n in ALL[1:]])
def test_a_rotated_rescaled_occluded_copy_matches_with_many_inliers_and_another_texture_with_few(name):
    source, copy, other = triple(name)
    same, different = match(source, copy), match(source, other)
    same_inliers = verify_pair(source, copy, same).num_inliers
    other_inliers = verify_pair(source, other, different).num_inliers
    assert same_inliers >= 60, (name, same_inliers)
    assert other_inliers <= 20, (name, other_inliers)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["aliked", "xfeat"])
def test_padded_batch_gives_each_pair_its_own_full_depth_matches(name, monkeypatch):
    # 256 keypoints a side keep the four full-depth pairs quick on a shared CPU.
    source, copy, other = (truncate(f, 256) for f in triple(name))
    # A repeated entry must give the same answer twice; a short one exercises the padding.
    gallery = [copy, other, type(copy)(**copy.__dict__)]
    small = type(other)(**{**other.__dict__})
    for field in ("keypoints", "descriptors", "scores", "prepared_keypoints"):
        setattr(small, field, getattr(other, field)[:80])
    gallery.append(small)
    model = load_lightglue(name, "cpu")
    # Single pairs at full depth: no early stop and no pruning, as in the batch.
    monkeypatch.setattr(model.conf, "depth_confidence", -1)
    monkeypatch.setattr(model.conf, "width_confidence", -1)
    alone = [match(source, g) for g in gallery]
    batched = match_batched(source, gallery, device="cpu")
    for a, b in zip(alone, batched):
        pairs_a = set(zip(a.idx0.tolist(), a.idx1.tolist()))
        pairs_b = set(zip(b.idx0.tolist(), b.idx1.tolist()))
        assert len(pairs_a ^ pairs_b) <= max(2, 0.02 * len(pairs_a)), (len(pairs_a), len(pairs_b))
    assert len(batched[0]) > 30 and len(batched[1]) < len(batched[0])


@pytest.mark.slow
def test_sift_uses_lightglue_with_scales_and_orientations_once_its_weights_are_present(tmp_path, monkeypatch):
    import hashlib

    import torch
    from kornia.feature import LightGlue

    from matching.engine import weights
    from matching.engine.matcher import LIGHTGLUE, matcher_method

    # Random weights in the official file layout (old key names), standing in for a fetched
    # sift_lightglue.pth: this checks the plumbing (scales, orientations, key mapping), not accuracy.
    torch.manual_seed(0)
    conf = {k: v for k, v in LightGlue.features[LIGHTGLUE["sift"][0]].items() if k != "weights"}
    state = {}
    for k, v in LightGlue(features=None, **conf).state_dict().items():
        for i in range(conf.get("n_layers", 9)):
            k = k.replace(f"transformers.{i}.self_attn.", f"self_attn.{i}.").replace(
                f"transformers.{i}.cross_attn.", f"cross_attn.{i}.")
        state[k] = v
    path = tmp_path / "sift_lightglue.pth"
    torch.save(state, path)
    (tmp_path / "sift_lightglue.pth.sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest())
    monkeypatch.setattr(weights, "_configured_dir", tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    load_lightglue.cache_clear()
    try:
        assert matcher_method("sift") == "lightglue"
        source, copy, _ = triple("sift")
        found = match(source, copy)
        assert found.method == "lightglue"
        assert found.idx0.max(initial=0) < len(source) and found.idx1.max(initial=0) < len(copy)
    finally:
        load_lightglue.cache_clear()
