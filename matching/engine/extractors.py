"""Local-feature extractors: image (+ box) -> Features in original-image pixels.

Pure torch/kornia/OpenCV, no Django. Models load lazily, once per process and device
(``load_model``), from verified local files only (weights.resolve); kornia's own
``from_pretrained`` would download, so it is never called.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import cv2
import numpy as np
import torch

from . import preprocess, weights
from .weights import NONCOMMERCIAL_SUPERPOINT, WeightsUnavailable

DEFAULT_MAX_KEYPOINTS = 2048
# Below this grey-level standard deviation an image (or crop) has no texture to describe;
# detectors would only fire on padding artefacts at its border.
MIN_TEXTURE_STD = 2.0
# Keypoints this close (prepared pixels) to an overlay logo are dropped: their descriptors see it.
MASK_MARGIN_PX = 8.0
# Saturated blobs (eyeshine in IR frames, flash glare, sun on snow) are no coat pattern: keypoints
# within this many original pixels of a pixel at or above SATURATED_LEVEL are dropped. A night IR
# sighting of cat02 put cat01 first on 24 matches, every one on the glowing eyes.
SATURATED_LEVEL = 245
SATURATED_MARGIN_PX = 4
CLAHE_CLIP = 2.0
CLAHE_TILES = 8


def grey_equalized(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> the same shape in grey with local contrast equalisation (CLAHE).

    Day colour and night IR frames of one coat then look alike to the detector: IR frames carry
    no colour, and CLAHE evens out flash fall-off and shade before descriptors compare them.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
    grey = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=(CLAHE_TILES, CLAHE_TILES)).apply(grey)
    return np.repeat(grey[:, :, None], 3, axis=2)


def off_saturated(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Keep-mask (N,) of (N, 2) original-pixel points that lie away from saturated blobs of ``image``."""
    if len(points) == 0:
        return np.ones(0, bool)
    grey = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
    size = 2 * SATURATED_MARGIN_PX + 1
    near = cv2.dilate((grey >= SATURATED_LEVEL).astype(np.uint8), np.ones((size, size), np.uint8))
    h, w = grey.shape
    xy = np.clip(np.round(points).astype(np.int64), 0, [w - 1, h - 1])
    return near[xy[:, 1], xy[:, 0]] == 0

EXTRACTORS: dict[str, dict[str, Any]] = {
    "sift": {
        "description": "RootSIFT (OpenCV SIFT, Hellinger-normalised); mutual nearest neighbours + ratio test, "
        "or LightGlue when sift_lightglue.pth has been fetched",
        "licence": "SIFT patent expired in 2020; OpenCV Apache-2.0",
        "weights": [],
        "matcher_weights": ["sift_lightglue (optional)"],
        "version": "2",
    },
    "disk": {
        "description": "DISK (kornia, depth checkpoint) + LightGlue",
        "licence": "DISK Apache-2.0; LightGlue Apache-2.0",
        "weights": ["disk"],
        "matcher_weights": ["disk_lightglue"],
        "version": "2",
    },
    "aliked": {
        "description": "ALIKED-N16 (kornia) + LightGlue, on grey frames with local contrast equalisation "
        "(day and IR alike), eyeshine and glare masked; the accurate mode's extractor",
        "licence": "ALIKED BSD-3-Clause; LightGlue Apache-2.0",
        "weights": ["aliked"],
        "matcher_weights": ["aliked_lightglue"],
        "version": "3",
    },
    "xfeat": {
        "description": "XFeat (kornia) + LighterGlue",
        "licence": "XFeat and LighterGlue Apache-2.0",
        "weights": ["xfeat"],
        "matcher_weights": ["xfeat_lighterglue"],
        "version": "2",
    },
    "superpoint": {
        "description": "SuperPoint (our network definition, Magic Leap weights supplied by the user) + LightGlue; "
        "an explicit choice, never a default",
        "licence": NONCOMMERCIAL_SUPERPOINT,
        "weights": ["superpoint_v1"],
        "matcher_weights": ["superpoint_lightglue"],
        "version": "2",
    },
}


def resolve_device(device: str | torch.device | None = "cpu") -> str:
    """'auto' -> 'cuda' when available else 'cpu'; other names pass through (raises if CUDA is absent)."""
    name = str(device or "cpu")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available on this machine")
    return name


@dataclass
class Features:
    """Local features of one image. ``keypoints`` are ORIGINAL-image pixels (x, y)."""

    keypoints: np.ndarray  # (N, 2) float32, original-image pixels
    descriptors: np.ndarray  # (N, D) float32
    scores: np.ndarray  # (N,) float32, detector response (extractor-specific scale)
    image_size: tuple[int, int]  # (w, h) of the original image
    extractor: str
    version: str
    # What LightGlue needs: keypoints in the prepared (cropped, resized) image and its size.
    prepared_keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    prepared_size: tuple[int, int] = (0, 0)  # (w, h)
    # SIFT only (LightGlue-SIFT uses them): scale in prepared pixels and orientation in radians.
    scales: np.ndarray | None = None
    oris: np.ndarray | None = None
    # Prepared -> original mapping (scale_x, scale_y, offset_x, offset_y) and removed info-bar rows.
    transform: tuple[float, float, float, float] = (1.0, 1.0, 0.0, 0.0)
    bars: tuple[int, int] = (0, 0)

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def scale(self) -> float:
        """Prepared pixels per original pixel (mean of both axes)."""
        return (self.transform[0] + self.transform[1]) / 2

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        """Arrays for np.savez; from_npz reads them back."""
        meta = {
            "image_size": list(self.image_size),
            "extractor": self.extractor,
            "version": self.version,
            "prepared_size": list(self.prepared_size),
            "transform": list(self.transform),
            "bars": list(self.bars),
            "format": 1,
        }
        out = {
            "keypoints": self.keypoints.astype(np.float32),
            "descriptors": self.descriptors.astype(np.float32),
            "scores": self.scores.astype(np.float32),
            "prepared_keypoints": self.prepared_keypoints.astype(np.float32),
            "meta": np.array(json.dumps(meta)),
        }
        if self.scales is not None:
            out["scales"] = self.scales.astype(np.float32)
        if self.oris is not None:
            out["oris"] = self.oris.astype(np.float32)
        return out

    @classmethod
    def from_npz(cls, data: Mapping[str, np.ndarray]) -> "Features":
        meta = json.loads(str(data["meta"][()]))
        keys = set(getattr(data, "files", None) or data.keys())
        return cls(
            keypoints=np.asarray(data["keypoints"], np.float32).reshape(-1, 2),
            descriptors=np.asarray(data["descriptors"], np.float32),
            scores=np.asarray(data["scores"], np.float32),
            image_size=tuple(meta["image_size"]),
            extractor=meta["extractor"],
            version=meta["version"],
            prepared_keypoints=np.asarray(data["prepared_keypoints"], np.float32).reshape(-1, 2),
            prepared_size=tuple(meta["prepared_size"]),
            scales=np.asarray(data["scales"], np.float32) if "scales" in keys else None,
            oris=np.asarray(data["oris"], np.float32) if "oris" in keys else None,
            transform=tuple(meta["transform"]),
            bars=tuple(meta["bars"]),
        )


def _load_state(name: str, device: str) -> dict:
    return torch.load(weights.resolve(name), map_location=device, weights_only=True)


@functools.cache
def load_model(name: str, device: str = "cpu") -> Any:
    """Build extractor network ``name`` on ``device`` from verified local weights, once per process."""
    if name == "disk":
        from kornia.feature import DISK

        model = DISK()
        model.load_state_dict(_load_state("disk", "cpu")["extractor"])
    elif name == "aliked":
        from kornia.feature import ALIKED

        model = ALIKED("aliked-n16", max_num_keypoints=DEFAULT_MAX_KEYPOINTS, detection_threshold=0.2)
        result = model.load_state_dict(_load_state("aliked", "cpu"), strict=False)
        # dkd.hw_grid is a derived buffer the checkpoint does not carry; anything else missing is a bad file.
        missing = [k for k in result.missing_keys if k != "dkd.hw_grid"]
        if missing or result.unexpected_keys:
            raise WeightsUnavailable(f"aliked-n16.pth does not fit kornia's ALIKED: {missing or result.unexpected_keys}")
    elif name == "xfeat":
        from kornia.feature import XFeat

        model = XFeat(top_k=DEFAULT_MAX_KEYPOINTS)
        model.net.load_state_dict(_load_state("xfeat", "cpu"))
    elif name == "superpoint":
        from .superpoint import SuperPointNet

        # resolve() raises with the licence text when the user has not supplied the file.
        model = SuperPointNet()
        model.load_state_dict(_load_state("superpoint_v1", "cpu"))
    else:
        raise ValueError(f"no network for extractor {name!r}")
    return model.eval().to(device)


def _outside(points: np.ndarray, rects, margin: float) -> np.ndarray:
    keep = np.ones(len(points), bool)
    for x0, y0, x1, y1 in rects:
        keep &= ~(
            (points[:, 0] >= x0 - margin) & (points[:, 0] < x1 + margin)
            & (points[:, 1] >= y0 - margin) & (points[:, 1] < y1 + margin)
        )
    return keep


class Extractor:
    """Base: prepare the image, detect, keep the strongest keypoints, map them to original pixels."""

    name = ""

    def __init__(self, device: str = "cpu", *, max_keypoints: int = DEFAULT_MAX_KEYPOINTS,
                 long_side: int = preprocess.DEFAULT_LONG_SIDE, plain: bool = False) -> None:
        self.device = resolve_device(device)
        if plain:
            # The photo as it is (colour, glare kept): the seed baseline's input, whatever the mode's.
            self.equalize_grey = self.drop_saturated = False
        self.max_keypoints = max_keypoints
        self.long_side = long_side
        base = EXTRACTORS[self.name]["version"]
        # Non-default options change the features, so they are part of the cache key.
        suffix = ""
        if max_keypoints != DEFAULT_MAX_KEYPOINTS:
            suffix += f"-k{max_keypoints}"
        if long_side != preprocess.DEFAULT_LONG_SIDE:
            suffix += f"-s{long_side}"
        if plain and (type(self).equalize_grey or type(self).drop_saturated):
            suffix += "-plain"
        self.version = base + suffix

    def check_available(self) -> None:
        """Raise WeightsUnavailable when this extractor cannot run here."""
        for name in EXTRACTORS[self.name]["weights"]:
            weights.resolve(name)

    def _detect(self, image: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _empty(self, prepared: preprocess.Prepared, dim: int) -> dict[str, np.ndarray]:
        return {"keypoints": np.zeros((0, 2), np.float32), "scores": np.zeros((0,), np.float32),
                "descriptors": np.zeros((0, dim), np.float32)}

    descriptor_dim = 0
    # Accurate-mode preprocessing (see grey_equalized, off_saturated); per extractor, in its version.
    equalize_grey = False
    drop_saturated = False

    def extract(self, image: np.ndarray, box: tuple[int, int, int, int] | None = None, *,
                mask_bars: bool = True) -> Features:
        """(H, W, 3) uint8 RGB image, optional (x, y, w, h) box -> Features, keypoints in original pixels."""
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        prepared = preprocess.prepare(image, box, mask_bars=mask_bars, long_side=self.long_side)
        if self.equalize_grey and not prepared.is_empty:
            # After the crop: bars are found on the original, and CLAHE adapts to the animal's region.
            prepared = dataclasses.replace(prepared, image=grey_equalized(prepared.image))
        if prepared.is_empty or float(cv2.cvtColor(prepared.image, cv2.COLOR_RGB2GRAY).std()) < MIN_TEXTURE_STD:
            raw = self._empty(prepared, self.descriptor_dim)
        else:
            with torch.inference_mode():
                raw = self._detect(prepared.image)
        t = prepared.transform
        keep = _outside(t.to_original(raw["keypoints"]), prepared.masked, MASK_MARGIN_PX / t.scale)
        if self.drop_saturated:
            keep &= off_saturated(image, t.to_original(raw["keypoints"]))
        order = np.flatnonzero(keep)[np.argsort(-raw["scores"][keep], kind="stable")][: self.max_keypoints]
        raw = {k: v[order] for k, v in raw.items()}
        return Features(
            keypoints=t.to_original(raw["keypoints"]),
            descriptors=raw["descriptors"].astype(np.float32),
            scores=raw["scores"].astype(np.float32),
            image_size=prepared.original_size,
            extractor=self.name,
            version=self.version,
            prepared_keypoints=raw["keypoints"].astype(np.float32),
            prepared_size=prepared.size,
            scales=raw.get("scales"),
            oris=raw.get("oris"),
            transform=(t.scale_x, t.scale_y, t.offset_x, t.offset_y),
            bars=prepared.bars,
        )

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        """(h, w, 3) uint8 -> (1, 3, h, w) float in [0, 1] on the device."""
        return torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255.0).to(self.device)


class SiftExtractor(Extractor):
    name = "sift"
    descriptor_dim = 128

    def _empty(self, prepared, dim):
        out = super()._empty(prepared, dim)
        out["scales"] = np.zeros((0,), np.float32)
        out["oris"] = np.zeros((0,), np.float32)
        return out

    def _detect(self, image: np.ndarray) -> dict[str, np.ndarray]:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        sift = cv2.SIFT_create(nfeatures=self.max_keypoints)
        kps, desc = sift.detectAndCompute(gray, None)
        if not kps or desc is None:
            return self._empty(None, 128)
        # RootSIFT (Arandjelovic & Zisserman 2012): L1-normalise then sqrt, so Euclidean distance
        # compares descriptors with the Hellinger kernel, which matches better than raw SIFT.
        desc = desc.astype(np.float32)
        desc /= np.maximum(desc.sum(axis=1, keepdims=True), 1e-6)
        desc = np.sqrt(desc)
        return {
            "keypoints": np.array([k.pt for k in kps], np.float32),
            "scores": np.array([k.response for k in kps], np.float32),
            "descriptors": desc,
            "scales": np.array([k.size for k in kps], np.float32),
            "oris": np.deg2rad(np.array([k.angle for k in kps], np.float32)),
        }


class DiskExtractor(Extractor):
    name = "disk"
    descriptor_dim = 128

    def _detect(self, image):
        model = load_model("disk", self.device)
        out = model(self._tensor(image), n=self.max_keypoints, window_size=5, score_threshold=0.0,
                    pad_if_not_divisible=True)[0]
        return {
            "keypoints": out.keypoints.float().cpu().numpy(),
            "scores": out.detection_scores.float().cpu().numpy(),
            "descriptors": out.descriptors.float().cpu().numpy(),
        }


class AlikedExtractor(Extractor):
    name = "aliked"
    descriptor_dim = 128
    # The accurate mode's extractor (see engine/accurate.py).
    equalize_grey = True
    drop_saturated = True

    def _detect(self, image):
        model = load_model("aliked", self.device)
        model.max_num_keypoints = self.max_keypoints
        model.dkd.n_limit = self.max_keypoints
        out = model(self._tensor(image))[0]
        return {
            "keypoints": out.keypoints.float().cpu().numpy(),
            "scores": out.keypoint_scores.float().cpu().numpy(),
            "descriptors": out.descriptors.float().cpu().numpy(),
        }


class XFeatExtractor(Extractor):
    name = "xfeat"
    descriptor_dim = 64

    def _detect(self, image):
        model = load_model("xfeat", self.device)
        out = model.detectAndCompute(self._tensor(image), top_k=self.max_keypoints)[0]
        return {
            "keypoints": out["keypoints"].float().cpu().numpy(),
            "scores": out["scores"].float().cpu().numpy(),
            "descriptors": out["descriptors"].float().cpu().numpy(),
        }


class SuperPointExtractor(Extractor):
    name = "superpoint"
    descriptor_dim = 256

    def _detect(self, image):
        from .superpoint import detect_and_describe

        model = load_model("superpoint", self.device)
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        tensor = torch.from_numpy(gray)[None, None].float().div(255.0).to(self.device)
        kpts, scores, desc = detect_and_describe(model, tensor, max_keypoints=self.max_keypoints)
        return {"keypoints": kpts.cpu().numpy(), "scores": scores.cpu().numpy(), "descriptors": desc.cpu().numpy()}


_CLASSES: dict[str, type[Extractor]] = {
    cls.name: cls for cls in (SiftExtractor, DiskExtractor, AlikedExtractor, XFeatExtractor, SuperPointExtractor)
}


def extractor_status(name: str) -> dict[str, Any]:
    """{"name", "usable", "reason", "licence", "description", "version", "weights": [status...]} for one extractor.

    Covers the extractor's own weights and its LightGlue weights (SIFT needs none: it falls back
    to mutual nearest neighbours).
    """
    info = EXTRACTORS[name]
    needed = list(info["weights"])
    if name != "sift":
        needed += [w.split(" ")[0] for w in info["matcher_weights"]]
    files = [weights.status(w) for w in needed]
    problems = [f["reason"] for f in files if not f["usable"]]
    return {
        "name": name,
        "usable": not problems,
        "reason": " ".join(problems),
        "licence": info["licence"],
        "description": info["description"],
        "version": info["version"],
        "weights": files,
    }


def get_extractor(name: str, device: str = "cpu", **options: Any) -> Extractor:
    """Return extractor ``name`` ready to run; raises WeightsUnavailable (naming the licence for SuperPoint)."""
    try:
        cls = _CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown extractor {name!r}; choose one of {', '.join(EXTRACTORS)}") from None
    extractor = cls(device, **options)
    extractor.check_available()
    return extractor
