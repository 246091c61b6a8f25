"""SuperPoint network (DeTone, Malisiewicz, Rabinovich, CVPRW 2018), our own definition.

The architecture is the published one (VGG-style encoder, 65-channel detector head with a
"no keypoint" dustbin, 256-D descriptor head at 1/8 resolution), with parameter names that
match Magic Leap's ``superpoint_v1.pth``. Those weights are non-commercial and never shipped:
the extractor loads them only from a file the user supplied (see weights.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SuperPointNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        c1, c2, c3, c4, c5, d1 = 64, 64, 128, 128, 256, 256
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv1a = nn.Conv2d(1, c1, 3, 1, 1)
        self.conv1b = nn.Conv2d(c1, c1, 3, 1, 1)
        self.conv2a = nn.Conv2d(c1, c2, 3, 1, 1)
        self.conv2b = nn.Conv2d(c2, c2, 3, 1, 1)
        self.conv3a = nn.Conv2d(c2, c3, 3, 1, 1)
        self.conv3b = nn.Conv2d(c3, c3, 3, 1, 1)
        self.conv4a = nn.Conv2d(c3, c4, 3, 1, 1)
        self.conv4b = nn.Conv2d(c4, c4, 3, 1, 1)
        self.convPa = nn.Conv2d(c4, c5, 3, 1, 1)
        self.convPb = nn.Conv2d(c5, 65, 1, 1, 0)
        self.convDa = nn.Conv2d(c4, c5, 3, 1, 1)
        self.convDb = nn.Conv2d(c5, d1, 1, 1, 0)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, H, W) grey in [0, 1] -> scores (B, H, W) in [0, 1], descriptors (B, 256, H/8, W/8)."""
        x = self.relu(self.conv1a(image))
        x = self.pool(self.relu(self.conv1b(x)))
        x = self.relu(self.conv2a(x))
        x = self.pool(self.relu(self.conv2b(x)))
        x = self.relu(self.conv3a(x))
        x = self.pool(self.relu(self.conv3b(x)))
        x = self.relu(self.conv4a(x))
        x = self.relu(self.conv4b(x))
        semi = self.convPb(self.relu(self.convPa(x)))
        scores = F.softmax(semi, dim=1)[:, :-1]  # drop the dustbin
        b, _, hc, wc = scores.shape
        scores = scores.permute(0, 2, 3, 1).reshape(b, hc, wc, 8, 8)
        scores = scores.permute(0, 1, 3, 2, 4).reshape(b, hc * 8, wc * 8)
        descriptors = F.normalize(self.convDb(self.relu(self.convDa(x))), p=2, dim=1)
        return scores, descriptors


def simple_nms(scores: torch.Tensor, radius: int) -> torch.Tensor:
    """Keep (B, H, W) scores that are the maximum of their (2r+1)^2 window, zero elsewhere."""
    window = radius * 2 + 1
    local_max = F.max_pool2d(scores[:, None], kernel_size=window, stride=1, padding=radius)[:, 0]
    return torch.where(scores == local_max, scores, torch.zeros_like(scores))


def sample_descriptors(keypoints: torch.Tensor, descriptors: torch.Tensor, cell: int = 8) -> torch.Tensor:
    """Bilinearly sample (D, h, w) coarse descriptors at (N, 2) pixel keypoints -> (N, D), L2-normalised."""
    d, h, w = descriptors.shape
    if keypoints.shape[0] == 0:
        return descriptors.new_zeros((0, d))
    # Cell centres sit at cell/2 - 0.5 in pixel coordinates.
    grid = keypoints - cell / 2 + 0.5
    grid = grid / grid.new_tensor([w * cell - cell / 2 - 0.5, h * cell - cell / 2 - 0.5])
    grid = (grid * 2 - 1).view(1, 1, -1, 2)
    sampled = F.grid_sample(descriptors[None], grid, mode="bilinear", align_corners=True)
    return F.normalize(sampled.reshape(d, -1), p=2, dim=0).t()


def detect_and_describe(
    net: SuperPointNet,
    gray: torch.Tensor,
    *,
    max_keypoints: int = 2048,
    threshold: float = 0.0005,
    nms_radius: int = 4,
    border: int = 4,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(1, 1, H, W) grey -> keypoints (N, 2) xy pixels, scores (N,), descriptors (N, 256)."""
    h, w = gray.shape[-2:]
    # The network needs sides divisible by 8: pad at the bottom/right, which moves no keypoint.
    ph, pw = (-h) % 8, (-w) % 8
    padded = F.pad(gray, (0, pw, 0, ph), mode="replicate") if (ph or pw) else gray
    scores, descriptors = net(padded)
    scores = simple_nms(scores[:, :h, :w], nms_radius)[0]
    if border:
        scores[:border] = 0
        scores[-border:] = 0
        scores[:, :border] = 0
        scores[:, -border:] = 0
    ys, xs = torch.nonzero(scores > threshold, as_tuple=True)
    values = scores[ys, xs]
    if max_keypoints and values.numel() > max_keypoints:
        values, order = torch.topk(values, max_keypoints)
        ys, xs = ys[order], xs[order]
    keypoints = torch.stack([xs, ys], dim=-1).float()
    return keypoints, values, sample_descriptors(keypoints, descriptors[0])
