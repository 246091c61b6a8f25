import cv2
import numpy as np

from matching.engine.extractors import get_extractor
from matching.engine.matcher import Matches, match
from matching.engine.verify import suppress_static, verify, verify_pair

from .textures import rosette_texture, warp_copy


def correspondences(n_true=80, n_random=80, seed=0):
    rng = np.random.default_rng(seed)
    p0 = rng.uniform(0, 800, (n_true + n_random, 2))
    H = np.array([[0.9, -0.2, 40], [0.15, 0.95, -20], [1e-4, 0, 1]])
    p1 = cv2.perspectiveTransform(p0[None], H)[0] + rng.normal(0, 1.0, p0.shape)
    p1[n_true:] = rng.uniform(0, 800, (n_random, 2))
    return p0, p1


def test_homography_verification_keeps_the_consistent_pairs_and_rejects_random_ones():
    p0, p1 = correspondences()
    result = verify(p0, p1)
    assert result.num_inliers >= 75
    assert result.inlier_mask[:80].mean() > 0.95 and result.inlier_mask[80:].mean() < 0.1
    assert result.model.shape == (3, 3)


def test_fundamental_and_affine_models_are_available():
    p0, p1 = correspondences(n_random=0)
    assert verify(p0, p1, model="fundamental").num_inliers > 60
    assert verify(p0, p1, model="affine", threshold_px=20).num_inliers > 40


def test_too_few_or_degenerate_correspondences_give_zero_inliers_without_crashing():
    assert verify(np.zeros((3, 2)), np.zeros((3, 2))).num_inliers == 0
    line = np.stack([np.arange(20.0), np.zeros(20)], 1)
    assert verify(line, line + 5).num_inliers <= 20
    empty = verify(np.zeros((0, 2)), np.zeros((0, 2)))
    assert empty.num_inliers == 0 and empty.inlier_mask.shape == (0,)


def test_static_background_is_suppressed_only_between_frames_of_the_same_camera():
    p0 = np.array([[100, 100], [500, 300], [900, 700]], np.float32)
    p1 = p0 + np.array([[0.5, -1], [40, 10], [3, 2]], np.float32)
    assert suppress_static(p0, p1, same_camera=True).tolist() == [False, True, False]
    assert suppress_static(p0, p1, same_camera=False).all()


def test_verify_pair_drops_motionless_background_of_same_camera_frames():
    scene = rosette_texture(384, seed=9)
    moved = scene.copy()
    # The "animal": a patch that moved 40 px between frames over a static background.
    moved[100:220, 140:260] = scene[100:220, 100:220]
    extractor = get_extractor("sift", max_keypoints=1024, long_side=384)
    f0, f1 = extractor.extract(scene), extractor.extract(moved)
    found = match(f0, f1)
    all_pairs = verify_pair(f0, f1, found, same_camera=False)
    animal_only = verify_pair(f0, f1, found, same_camera=True)
    assert all_pairs.num_inliers > 100
    assert 0 < animal_only.num_inliers < all_pairs.num_inliers / 3
    kept = found.idx1[animal_only.inlier_mask]
    assert (f1.keypoints[kept, 0] >= 130).all()  # the moved patch starts at x=140


def test_verify_pair_masks_cover_all_matches_and_handle_no_matches():
    source = rosette_texture(256, seed=4)
    copy, _ = warp_copy(source, angle=10, scale=0.9, occlude=False)
    extractor = get_extractor("sift", max_keypoints=512, long_side=256)
    f0, f1 = extractor.extract(source), extractor.extract(copy)
    found = match(f0, f1)
    result = verify_pair(f0, f1, found)
    assert result.inlier_mask.shape == (len(found),) and result.num_inliers == int(result.inlier_mask.sum())
    assert verify_pair(f0, f1, Matches.empty()).num_inliers == 0


def test_background_of_a_nudged_camera_is_suppressed_but_the_moving_animal_is_kept():
    scene = rosette_texture(384, seed=11)
    nudge = cv2.getRotationMatrix2D((192, 192), 1.0, 1.0)
    nudge[:, 2] += (15, 8)  # the camera was re-mounted: the whole scene shifted ~17 px
    later = cv2.warpAffine(scene, nudge, (384, 384), borderMode=cv2.BORDER_REFLECT)
    later[200:330, 200:330] = scene[40:170, 40:170]  # the "animal" patch walked ~160 px
    extractor = get_extractor("sift", max_keypoints=1024, long_side=384)
    f0, f1 = extractor.extract(scene), extractor.extract(later)
    found = match(f0, f1)
    assert suppress_static(f0.keypoints[found.idx0], f1.keypoints[found.idx1], True, 7.7).sum() > 100
    result = verify_pair(f0, f1, found, same_camera=True)
    kept = f1.keypoints[found.idx1[result.inlier_mask]]
    assert result.num_inliers >= 10
    assert ((kept >= 195) & (kept <= 335)).all()  # only the moved patch survives
