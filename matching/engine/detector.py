"""MegadetectorLite: a one-class ("animal") YOLOX-tiny detector, in plain torch.

The weights are the MegadetectorLite checkpoint shipped in the zamba wheel
(``zamba/object_detection/yolox/assets/yolox_tiny_640_20220528.pth`` with its
``_model_kwargs.json``), trained by DrivenData on camera-trap data and released under the
MIT licence (zamba, Copyright (c) DrivenData Inc.). The network definition below is our own
rewrite of YOLOX-tiny (Megvii, Apache-2.0): CSPDarknet (depth 0.33, width 0.375), PAFPN and
the decoupled YOLOX head with SiLU, with module names that match the checkpoint so it loads
with ``strict=True``. We only read the weight FILE: zamba, yolox and torchvision are never
imported (zamba's ``__init__`` pulls in torchvision, which does not import here).

Pre- and post-processing follow zamba's ``MegadetectorLiteYoloX.detect_image``: the RGB image
is scaled (bicubic, aspect kept) into a 640x640 canvas anchored at the top-left and padded
with black, fed as float 0..255 without normalisation; outputs are decoded on the 8/16/32
grids, scored ``objectness * class`` and reduced by NMS (0.45) above a 0.25 confidence.

Boxes from this module are suggestions for a person to confirm, never ground truth: the
detector misses animals (especially small, blurred or partial ones) and is known to put
confident boxes on rocks.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

NAME = "megadetector-lite"
VERSION = "yolox-tiny-640-20220528"
LICENCE = "MIT (zamba / DrivenData MegadetectorLite weights); YOLOX architecture Apache-2.0"
WEIGHTS_FILE = "yolox_tiny_640_20220528.pth"
KWARGS_FILE = "yolox_tiny_640_20220528_model_kwargs.json"
# From zamba 2.7.2's wheel RECORD; a different file would silently change every suggestion.
WEIGHTS_SHA256 = "31f8690fc62f9d0756f1e8c09b0b02e5ade106173ed0a30743d47c004f88f4e0"

CONFIDENCE = 0.25  # zamba's MegadetectorLiteYoloXConfig.confidence
NMS_IOU = 0.45  # zamba's MegadetectorLiteYoloXConfig.nms_threshold


class DetectorUnavailable(RuntimeError):
    """The MegadetectorLite weight file could not be found."""


@dataclass(frozen=True)
class Detection:
    """One box in pixel coordinates of the image given to detect(); score in 0..1."""

    x: float
    y: float
    w: float
    h: float
    score: float

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.x + self.w, self.y + self.h)


def weights_dir() -> Path:
    """Folder holding the zamba MegadetectorLite assets, found without importing zamba."""
    # find_spec on a top-level name locates the package without running its __init__.
    spec = importlib.util.find_spec("zamba")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorUnavailable(
            "MegadetectorLite weights not found: the zamba wheel (MIT) is not installed."
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "object_detection" / "yolox" / "assets"
    if not (folder / WEIGHTS_FILE).is_file():
        raise DetectorUnavailable(f"MegadetectorLite weights not found at {folder / WEIGHTS_FILE}.")
    return folder


# --- network (module names mirror YOLOX so the checkpoint's keys match) -------------------


class BaseConv(nn.Module):
    """Conv2d (no bias) -> BatchNorm -> SiLU."""

    def __init__(self, c_in: int, c_out: int, ksize: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, ksize, stride, padding=(ksize - 1) // 2, bias=False)
        # YOLOX trains with eps=1e-3; PyTorch's default 1e-5 shifts every activation slightly.
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c_in: int, c_out: int, shortcut: bool = True, expansion: float = 0.5):
        super().__init__()
        hidden = int(c_out * expansion)
        self.conv1 = BaseConv(c_in, hidden, 1)
        self.conv2 = BaseConv(hidden, c_out, 3)
        self.use_add = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return y + x if self.use_add else y


class CSPLayer(nn.Module):
    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True):
        super().__init__()
        hidden = int(c_out * 0.5)
        self.conv1 = BaseConv(c_in, hidden, 1)
        self.conv2 = BaseConv(c_in, hidden, 1)
        self.conv3 = BaseConv(2 * hidden, c_out, 1)
        self.m = nn.Sequential(*[Bottleneck(hidden, hidden, shortcut, 1.0) for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.cat((self.m(self.conv1(x)), self.conv2(x)), dim=1))


class SPPBottleneck(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel_sizes: tuple[int, ...] = (5, 9, 13)):
        super().__init__()
        hidden = c_in // 2
        self.conv1 = BaseConv(c_in, hidden, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernel_sizes)
        self.conv2 = BaseConv(hidden * (len(kernel_sizes) + 1), c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.m], dim=1))


class Focus(nn.Module):
    """Space-to-depth: (B,3,H,W) -> (B,12,H/2,W/2), then a conv."""

    def __init__(self, c_in: int, c_out: int, ksize: int = 1):
        super().__init__()
        self.conv = BaseConv(c_in * 4, c_out, ksize)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Order matters: the checkpoint's first conv expects TL, BL, TR, BR.
        x = torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), dim=1)
        return self.conv(x)


class CSPDarknet(nn.Module):
    def __init__(self, depth: float, width: float):
        super().__init__()
        base = int(width * 64)
        n = max(round(depth * 3), 1)
        self.stem = Focus(3, base, ksize=3)
        self.dark2 = nn.Sequential(BaseConv(base, base * 2, 3, 2), CSPLayer(base * 2, base * 2, n=n))
        self.dark3 = nn.Sequential(BaseConv(base * 2, base * 4, 3, 2), CSPLayer(base * 4, base * 4, n=n * 3))
        self.dark4 = nn.Sequential(BaseConv(base * 4, base * 8, 3, 2), CSPLayer(base * 8, base * 8, n=n * 3))
        self.dark5 = nn.Sequential(
            BaseConv(base * 8, base * 16, 3, 2),
            SPPBottleneck(base * 16, base * 16),
            CSPLayer(base * 16, base * 16, n=n, shortcut=False),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.dark2(self.stem(x))
        c3 = self.dark3(x)
        c4 = self.dark4(c3)
        c5 = self.dark5(c4)
        return c3, c4, c5


class YOLOPAFPN(nn.Module):
    def __init__(self, depth: float, width: float, in_channels: tuple[int, int, int] = (256, 512, 1024)):
        super().__init__()
        c3, c4, c5 = (int(c * width) for c in in_channels)
        n = round(3 * depth)
        self.backbone = CSPDarknet(depth, width)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = BaseConv(c5, c4, 1)
        self.C3_p4 = CSPLayer(2 * c4, c4, n, shortcut=False)
        self.reduce_conv1 = BaseConv(c4, c3, 1)
        self.C3_p3 = CSPLayer(2 * c3, c3, n, shortcut=False)
        self.bu_conv2 = BaseConv(c3, c3, 3, 2)
        self.C3_n3 = CSPLayer(2 * c3, c4, n, shortcut=False)
        self.bu_conv1 = BaseConv(c4, c4, 3, 2)
        self.C3_n4 = CSPLayer(2 * c4, c5, n, shortcut=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x2, x1, x0 = self.backbone(x)
        fpn_out0 = self.lateral_conv0(x0)
        f_out0 = self.C3_p4(torch.cat([self.upsample(fpn_out0), x1], 1))
        fpn_out1 = self.reduce_conv1(f_out0)
        pan_out2 = self.C3_p3(torch.cat([self.upsample(fpn_out1), x2], 1))
        pan_out1 = self.C3_n3(torch.cat([self.bu_conv2(pan_out2), fpn_out1], 1))
        pan_out0 = self.C3_n4(torch.cat([self.bu_conv1(pan_out1), fpn_out0], 1))
        return pan_out2, pan_out1, pan_out0


class YOLOXHead(nn.Module):
    """Decoupled head; forward returns (B, N, 5 + classes): cx, cy, w, h (input pixels), obj, cls."""

    def __init__(self, num_classes: int, width: float, in_channels: tuple[int, int, int] = (256, 512, 1024)):
        super().__init__()
        self.strides = (8, 16, 32)
        hidden = int(256 * width)
        self.stems = nn.ModuleList()
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        self.cls_preds = nn.ModuleList()
        self.reg_preds = nn.ModuleList()
        self.obj_preds = nn.ModuleList()
        for c in in_channels:
            self.stems.append(BaseConv(int(c * width), hidden, 1))
            self.cls_convs.append(nn.Sequential(BaseConv(hidden, hidden, 3), BaseConv(hidden, hidden, 3)))
            self.reg_convs.append(nn.Sequential(BaseConv(hidden, hidden, 3), BaseConv(hidden, hidden, 3)))
            self.cls_preds.append(nn.Conv2d(hidden, num_classes, 1))
            self.reg_preds.append(nn.Conv2d(hidden, 4, 1))
            self.obj_preds.append(nn.Conv2d(hidden, 1, 1))

    def forward(self, features: tuple[torch.Tensor, ...]) -> torch.Tensor:
        outputs = []
        for k, (x, stride) in enumerate(zip(features, self.strides)):
            x = self.stems[k](x)
            cls_out = self.cls_preds[k](self.cls_convs[k](x))
            reg_feat = self.reg_convs[k](x)
            reg_out = self.reg_preds[k](reg_feat)
            obj_out = self.obj_preds[k](reg_feat)
            b, _, h, w = reg_out.shape
            out = torch.cat([reg_out, obj_out.sigmoid(), cls_out.sigmoid()], 1).flatten(2).permute(0, 2, 1)
            yv, xv = torch.meshgrid(
                torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij"
            )
            grid = torch.stack((xv, yv), 2).reshape(1, -1, 2).to(out.dtype)
            xy = (out[..., :2] + grid) * stride
            wh = torch.exp(out[..., 2:4]) * stride
            outputs.append(torch.cat([xy, wh, out[..., 4:]], dim=-1))
        return torch.cat(outputs, dim=1)


class YOLOX(nn.Module):
    def __init__(self, num_classes: int = 1, depth: float = 0.33, width: float = 0.375):
        super().__init__()
        self.backbone = YOLOPAFPN(depth, width)
        self.head = YOLOXHead(num_classes, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) float RGB 0..255, H and W multiples of 32 -> (B, N, 5 + classes)."""
        return self.head(self.backbone(x))


# --- weights, pre/post-processing ---------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_path() -> Path:
    """The verified checkpoint file; DetectorUnavailable when missing or not the pinned file."""
    path = weights_dir() / WEIGHTS_FILE
    if _sha256(path) != WEIGHTS_SHA256:
        raise DetectorUnavailable(f"{path} is not the MegadetectorLite file we pinned (sha256 differs).")
    return path


def status() -> dict:
    """name, version, usable, reason, path, licence; checks the file without building the network."""
    state = {"name": NAME, "version": VERSION, "licence": LICENCE, "usable": False, "reason": "", "path": ""}
    try:
        state["path"] = str(weights_path())
        state["usable"] = True
    except DetectorUnavailable as exc:
        state["reason"] = str(exc)
    return state


def load_state_dict() -> dict[str, torch.Tensor]:
    """The checkpoint's model weights (the file also holds optimizer state, which we drop)."""
    checkpoint = torch.load(weights_path(), map_location="cpu", weights_only=True)
    return checkpoint["model"]


def model_kwargs() -> dict:
    return json.loads((weights_dir() / KWARGS_FILE).read_text())


def build_model() -> YOLOX:
    """YOLOX-tiny as configured by the checkpoint's _model_kwargs.json, weights loaded strictly."""
    kwargs = model_kwargs()
    if kwargs.get("backbone") != "yolox-tiny":
        raise DetectorUnavailable(f"Unexpected MegadetectorLite backbone {kwargs.get('backbone')!r}.")
    model = YOLOX(num_classes=int(kwargs["num_classes"]))
    model.load_state_dict(load_state_dict(), strict=True)
    return model.eval()


@functools.cache
def load_model(device: str = "cpu") -> YOLOX:
    """Build and load once per process and device."""
    return build_model().to(device)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression; boxes (N,4) x1y1x2y2 -> kept indices, best score first."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True)
    boxes = boxes[order]
    iou = box_iou(boxes, boxes)
    keep = torch.ones(len(order), dtype=torch.bool, device=boxes.device)
    # N is small after the confidence filter (tens), so a Python loop over rows is cheap.
    for i in range(len(order)):
        if keep[i]:
            suppressed = iou[i] > iou_threshold
            suppressed[: i + 1] = False
            keep &= ~suppressed
    return order[keep]


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of (N,4) and (M,4) x1y1x2y2 boxes -> (N,M)."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def letterbox(image: Image.Image, size: int = 640) -> tuple[torch.Tensor, float]:
    """RGB image -> ((3,size,size) float 0..255, scale); content at top-left, black padding."""
    image = image.convert("RGB")
    scale = min(size / image.width, size / image.height)
    # Same arithmetic as zamba's ImageOps.pad(..., centering=(0, 0)), which fails on slivers that
    # round to 0 px; max(1, ...) keeps those working.
    if image.width >= image.height:
        resized_size = (size, max(1, round(image.height / image.width * size)))
    else:
        resized_size = (max(1, round(image.width / image.height * size)), size)
    padded = Image.new("RGB", (size, size))
    padded.paste(image.resize(resized_size, Image.BICUBIC), (0, 0))
    array = np.asarray(padded, dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous(), scale


def postprocess(
    output: torch.Tensor, *, confidence: float = CONFIDENCE, nms_iou: float = NMS_IOU
) -> tuple[torch.Tensor, torch.Tensor]:
    """One image's (N, 5 + classes) raw output -> (K,4) x1y1x2y2 input-pixel boxes, (K,) scores."""
    cls_conf = output[:, 5:].max(dim=1).values
    scores = output[:, 4] * cls_conf
    mask = scores >= confidence
    cxcywh, scores = output[mask, :4], scores[mask]
    boxes = torch.cat([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], dim=1)
    keep = nms(boxes, scores, nms_iou)
    return boxes[keep], scores[keep]


class MegadetectorLite:
    """Animal boxes for camera-trap images; see the module docstring for provenance and limits."""

    name = NAME
    version = VERSION

    def __init__(self, device: str = "cpu", input_size: int | None = None):
        self.device = device
        self.input_size = int(input_size or model_kwargs().get("image_size", 640))
        self.model = load_model(device)

    def detect(
        self, image: Image.Image, *, confidence: float = CONFIDENCE, nms_iou: float = NMS_IOU
    ) -> list[Detection]:
        """Boxes in pixel coords of ``image`` (after any EXIF transpose the caller did), best first."""
        return self.detect_many([image], confidence=confidence, nms_iou=nms_iou)[0]

    def detect_many(
        self, images: list[Image.Image], *, confidence: float = CONFIDENCE, nms_iou: float = NMS_IOU
    ) -> list[list[Detection]]:
        """detect() for several images, batched 8 per forward pass."""
        if not images:
            return []
        results = []
        # Chunks of 8 keep activation memory bounded when a whole folder is submitted at once.
        for start in range(0, len(images), 8):
            results.extend(self._detect_chunk(images[start : start + 8], confidence, nms_iou))
        return results

    def _detect_chunk(self, images: list[Image.Image], confidence: float, nms_iou: float) -> list[list[Detection]]:
        tensors, scales = zip(*(letterbox(im, self.input_size) for im in images))
        batch = torch.stack(tensors).to(self.device)
        with torch.inference_mode():
            outputs = self.model(batch).float().cpu()
        results = []
        for image, scale, output in zip(images, scales, outputs):
            boxes, scores = postprocess(output, confidence=confidence, nms_iou=nms_iou)
            boxes = boxes / scale
            boxes[:, 0::2] = boxes[:, 0::2].clamp(0, image.width)
            boxes[:, 1::2] = boxes[:, 1::2].clamp(0, image.height)
            results.append(
                [
                    Detection(x=float(x1), y=float(y1), w=float(x2 - x1), h=float(y2 - y1), score=float(s))
                    for (x1, y1, x2, y2), s in zip(boxes.tolist(), scores.tolist())
                    if x2 - x1 >= 1 and y2 - y1 >= 1
                ]
            )
        return results


@functools.cache
def get_detector(device: str = "cpu") -> MegadetectorLite:
    """The process-wide detector for ``device`` (weights load on first use, not at import)."""
    return MegadetectorLite(device=device)
