"""Feature matching: (Features, Features) -> Matches. Pure torch/kornia, no Django.

LightGlue (kornia's network, our local weight files) for the learned extractors and LighterGlue
for XFeat; for SIFT, LightGlue when the user fetched sift_lightglue.pth, else mutual nearest
neighbours with Lowe's ratio test on RootSIFT.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import numpy as np
import torch

from . import weights
from .extractors import Features, resolve_device
from .weights import WeightsUnavailable

# Extractor -> (kornia LightGlue configuration, weight file).
LIGHTGLUE: dict[str, tuple[str, str]] = {
    "disk": ("disk", "disk_lightglue"),
    "aliked": ("aliked", "aliked_lightglue"),
    "xfeat": ("xfeat", "xfeat_lighterglue"),
    "superpoint": ("superpoint", "superpoint_lightglue"),
    "sift": ("sift", "sift_lightglue"),
}
# Lowe's ratio for RootSIFT mutual nearest neighbours: 0.8 is Lowe's value; RootSIFT's
# Hellinger distances make it a little stricter than on raw SIFT.
SIFT_RATIO = 0.8


@dataclass
class Matches:
    """Index pairs into f0/f1 keypoints, with a confidence in [0, 1] per pair."""

    idx0: np.ndarray  # (K,) int64
    idx1: np.ndarray  # (K,) int64
    confidence: np.ndarray  # (K,) float32
    method: str = ""  # "lightglue", "lighterglue" or "mnn_ratio"

    def __len__(self) -> int:
        return int(self.idx0.shape[0])

    @classmethod
    def empty(cls, method: str = "") -> "Matches":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), method)


def matcher_method(extractor: str) -> str:
    """The matcher used for an extractor's features on this machine."""
    if extractor == "xfeat":
        return "lighterglue"
    if extractor == "sift":
        try:
            weights.resolve("sift_lightglue")
            return "lightglue"
        except WeightsUnavailable:
            return "mnn_ratio"
    return "lightglue"


@functools.cache
def load_lightglue(extractor: str, device: str = "cpu"):
    """kornia LightGlue for ``extractor`` with its verified local weights; never downloads."""
    from kornia.feature import LightGlue

    config_name, weight_name = LIGHTGLUE[extractor]
    conf = {k: v for k, v in LightGlue.features[config_name].items() if k != "weights"}
    # flash=False: kornia's flash path runs attention in float16 on CUDA; float32 keeps scores stable.
    model = LightGlue(features=None, flash=False, **conf)
    state = torch.load(weights.resolve(weight_name), map_location="cpu", weights_only=True)
    if any(k.startswith("matcher.") for k in state):
        # xfeat-lighterglue.pt holds the extractor too, under "extractor."; keep the matcher only.
        state = {k[len("matcher."):]: v for k, v in state.items() if k.startswith("matcher.")}
    for i in range(model.conf.n_layers):  # the official files use LightGlue's old key names
        state = {
            k.replace(f"self_attn.{i}.", f"transformers.{i}.self_attn.").replace(
                f"cross_attn.{i}.", f"transformers.{i}.cross_attn."
            ): v
            for k, v in state.items()
        }
    result = model.load_state_dict(state, strict=False)
    parameters = dict(model.named_parameters())
    # Extra keys are harmless (the arXiv files carry an unused log_assignment.*.r buffer);
    # a learned parameter left at its random init is not.
    missing = [k for k in result.missing_keys if k in parameters]
    if missing:
        raise WeightsUnavailable(f"{weight_name} does not fit kornia's LightGlue({config_name}): missing {missing[:5]}")
    return model.eval().to(device)


def _side(f: Features, device: str) -> dict:
    data = {
        "keypoints": torch.from_numpy(f.prepared_keypoints)[None].to(device),
        "descriptors": torch.from_numpy(f.descriptors)[None].to(device),
        "image_size": torch.tensor([f.prepared_size], dtype=torch.float32, device=device),
    }
    if f.scales is not None and f.oris is not None:
        data["scales"] = torch.from_numpy(f.scales)[None].to(device)
        data["oris"] = torch.from_numpy(f.oris)[None].to(device)
    return data


def _check_pair(f0: Features, f1: Features) -> None:
    if f0.extractor != f1.extractor:
        raise ValueError(f"cannot match {f0.extractor} features with {f1.extractor} features")


def match_mnn_ratio(d0: np.ndarray, d1: np.ndarray, ratio: float = SIFT_RATIO) -> Matches:
    """Mutual nearest neighbours passing Lowe's ratio test in both directions; confidence = 1 - ratio."""
    if len(d0) < 2 or len(d1) < 2:
        return Matches.empty("mnn_ratio")
    t0, t1 = torch.from_numpy(d0), torch.from_numpy(d1)
    dist = torch.cdist(t0, t1)
    best01, nn01 = dist.topk(2, dim=1, largest=False)
    best10, nn10 = dist.topk(2, dim=0, largest=False)
    idx0 = torch.arange(len(d0))
    mutual = nn10[0, nn01[:, 0]] == idx0
    r01 = best01[:, 0] / best01[:, 1].clamp_min(1e-9)
    r10 = (best10[0] / best10[1].clamp_min(1e-9))[nn01[:, 0]]
    keep = mutual & (r01 < ratio) & (r10 < ratio)
    conf = 1.0 - torch.maximum(r01, r10)
    return Matches(
        idx0[keep].numpy().astype(np.int64),
        nn01[keep, 0].numpy().astype(np.int64),
        conf[keep].numpy().astype(np.float32),
        "mnn_ratio",
    )


def truncate(f: Features, max_keypoints: int | None) -> Features:
    """The ``max_keypoints`` strongest keypoints of f (extractors store them strongest first), same indices."""
    if max_keypoints is None or len(f) <= max_keypoints:
        return f
    short = copy.copy(f)
    for name in ("keypoints", "descriptors", "scores", "prepared_keypoints", "scales", "oris"):
        value = getattr(f, name)
        if value is not None:
            setattr(short, name, value[:max_keypoints])
    return short


def match(f0: Features, f1: Features, *, device: str = "cpu", max_keypoints: int | None = None) -> Matches:
    """Match two images' features (same extractor); indices refer to f0/f1 keypoints.

    ``max_keypoints`` matches only each side's strongest keypoints: LightGlue's CPU time grows
    with the square of the count, so a shortlist re-ranking can trade a little recall for speed.
    """
    _check_pair(f0, f1)
    f0, f1 = truncate(f0, max_keypoints), truncate(f1, max_keypoints)
    method = matcher_method(f0.extractor)
    if len(f0) == 0 or len(f1) == 0:
        return Matches.empty(method)
    if method == "mnn_ratio":
        return match_mnn_ratio(f0.descriptors, f1.descriptors)
    device = resolve_device(device)
    model = load_lightglue(f0.extractor, device)
    with torch.inference_mode():
        out = model({"image0": _side(f0, device), "image1": _side(f1, device)})
    pairs = out["matches"][0].cpu().numpy().astype(np.int64).reshape(-1, 2)
    conf = out["scores"][0].float().cpu().numpy().astype(np.float32)
    return Matches(pairs[:, 0], pairs[:, 1], conf, method)


def match_many(
    query: Features,
    gallery: list[Features],
    *,
    device: str = "cpu",
    batch_size: int = 16,
    max_keypoints: int | None = None,
) -> list[Matches]:
    """Match ``query`` against each gallery image; batched through LightGlue on CUDA, a loop on CPU."""
    if not gallery:
        return []
    query = truncate(query, max_keypoints)
    gallery = [truncate(g, max_keypoints) for g in gallery]
    device = resolve_device(device)
    method = matcher_method(query.extractor)
    for g in gallery:
        _check_pair(query, g)
    if method == "mnn_ratio" or not device.startswith("cuda") or len(query) == 0:
        # On CPU, one pair at a time lets LightGlue stop early and prune points, which a padded batch cannot.
        return [match(query, g, device=device) for g in gallery]
    results: list[Matches | None] = [None] * len(gallery)
    todo = [i for i, g in enumerate(gallery) if len(g) > 0]
    for i, g in enumerate(gallery):
        if len(g) == 0:
            results[i] = Matches.empty(method)
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        for i, m in zip(chunk, match_batched(query, [gallery[i] for i in chunk], device=device)):
            results[i] = m
    return results  # type: ignore[return-value]


def match_batched(query: Features, gallery: list[Features], *, device: str = "cpu") -> list[Matches]:
    """One padded LightGlue pass for ``query`` against every (non-empty) gallery image.

    Runs every layer (no early stop or pruning, which would differ per pair) with attention
    masks over the padding; each pair gets the matches it gets alone at full depth.
    """
    from kornia.feature.lightglue import filter_matches, normalize_keypoints, sigmoid_log_double_softmax

    model = load_lightglue(query.extractor, device)
    method = matcher_method(query.extractor)
    b = len(gallery)
    n_max = max(len(g) for g in gallery)
    dim = query.descriptors.shape[1]
    m = len(query)
    kpts1 = torch.zeros((b, n_max, 2), device=device)
    desc1 = torch.zeros((b, n_max, dim), device=device)
    valid1 = torch.zeros((b, n_max), dtype=torch.bool, device=device)
    size1 = torch.zeros((b, 2), device=device)
    extra1 = torch.zeros((b, n_max, 2), device=device)
    for k, g in enumerate(gallery):
        n = len(g)
        kpts1[k, :n] = torch.from_numpy(g.prepared_keypoints).to(device)
        desc1[k, :n] = torch.from_numpy(g.descriptors).to(device)
        valid1[k, :n] = True
        size1[k] = torch.tensor(g.prepared_size, dtype=torch.float32)
        if model.conf.add_scale_ori:
            extra1[k, :n, 0] = torch.from_numpy(g.scales).to(device)
            extra1[k, :n, 1] = torch.from_numpy(g.oris).to(device)
        # Padding sits at the image centre, which is in range for the normaliser.
        kpts1[k, n:] = size1[k] / 2
    q = _side(query, device)
    kpts0 = q["keypoints"].expand(b, -1, -1)
    desc0 = q["descriptors"].expand(b, -1, -1)
    size0 = q["image_size"].expand(b, -1)
    with torch.inference_mode():
        k0 = normalize_keypoints(kpts0, size0)
        k1 = normalize_keypoints(kpts1, size1)
        if model.conf.add_scale_ori:
            k0 = torch.cat([k0, q["scales"].expand(b, -1)[..., None], q["oris"].expand(b, -1)[..., None]], -1)
            k1 = torch.cat([k1, extra1], -1)
        d0 = model.input_proj(desc0.contiguous())
        d1 = model.input_proj(desc1)
        enc0, enc1 = model.posenc(k0), model.posenc(k1)
        mask0 = torch.ones((b, 1, m, 1), dtype=torch.bool, device=device)
        mask1 = valid1[:, None, :, None]
        for layer in model.transformers:
            d0, d1 = layer.masked_forward(d0, d1, enc0, enc1, mask0, mask1)
        assign = model.log_assignment[-1]
        md0, md1 = assign.final_proj(d0), assign.final_proj(d1)
        scale = md0.shape[-1] ** 0.25
        sim = torch.einsum("bmd,bnd->bmn", md0 / scale, md1 / scale)
        # A large negative, not -inf: a padded column must get ~0 probability without NaNs.
        sim = sim.masked_fill(~valid1[:, None, :], -1e4)
        z0, z1 = assign.matchability(d0), assign.matchability(d1)
        scores = sigmoid_log_double_softmax(sim, z0, z1)
        scores[:, :-1, :-1] = scores[:, :-1, :-1].masked_fill(~valid1[:, None, :], -float("inf"))
        m0, _, mscores0, _ = filter_matches(scores, model.conf.filter_threshold)
    out = []
    for k, g in enumerate(gallery):
        ok = (m0[k] > -1) & (m0[k] < len(g))
        idx0 = torch.nonzero(ok, as_tuple=True)[0]
        out.append(
            Matches(
                idx0.cpu().numpy().astype(np.int64),
                m0[k][ok].cpu().numpy().astype(np.int64),
                mscores0[k][ok].float().cpu().numpy().astype(np.float32),
                method,
            )
        )
    return out
