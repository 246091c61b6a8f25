"""Synthetic demo catalog: procedurally drawn snow-leopard coats rendered as camera-trap photos.

Real snow-leopard photos can't be shipped, so the demo draws its own. Every individual has a
fixed random coat per body part (rosettes: rings of dark blotches around a tawnier centre, and
solid spots, on grey-beige fur); a photo is a window of that coat warped into a camera view
with pose, light, blur, noise and occlusion. The same individual therefore shares local
patterns across photos and different individuals do not, which is what the matcher needs.

Pure numpy/OpenCV/Pillow: no Django imports. Everything is deterministic in its arguments.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import cv2
import numpy as np
from PIL import Image

BODY_PARTS = ("left_flank", "right_flank", "head", "tail")
_PART_INDEX = {"left_flank": 1, "right_flank": 2, "head": 3, "tail": 4}
# Coat texture size per body part (w, h) in texture pixels, and rosette parameters:
# (number of rosettes, min distance, radius range, number of solid spots, spot radius range).
_COAT = {
    "left_flank": ((1200, 560), (70, 58, (19, 31), 70, (3, 8))),
    "right_flank": ((1200, 560), (70, 58, (19, 31), 70, (3, 8))),
    "head": ((640, 520), (6, 70, (10, 16), 160, (3, 7))),
    "tail": ((1400, 240), (22, 58, (16, 26), 30, (3, 7))),
}
_SEED = 61_17  # a constant salt so demo coats don't coincide with other seeded generators


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([_SEED, *keys])


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """(H, W) float32 noise in about [-1, 1] with features of about `cell` pixels."""
    small = rng.standard_normal((max(2, height // cell + 2), max(2, width // cell + 2))).astype(np.float32)
    big = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return big / (float(np.abs(big).max()) + 1e-6)


def _blob(rng: np.random.Generator, cx: float, cy: float, ax: float, ay: float, angle: float, jitter: float = 0.28) -> np.ndarray:
    """Irregular filled ellipse as an int32 polygon in 1/16 px (for cv2 shift=4)."""
    n = 16
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    radius = 1 + jitter * rng.uniform(-1, 1, n)
    radius = (radius + np.roll(radius, 1) + np.roll(radius, -1)) / 3  # round off spikes
    x, y = ax * radius * np.cos(t), ay * radius * np.sin(t)
    ca, sa = math.cos(angle), math.sin(angle)
    px = cx + x * ca - y * sa
    py = cy + x * sa + y * ca
    return np.round(np.stack([px, py], axis=1) * 16).astype(np.int32)


def _poisson_points(rng: np.random.Generator, width: int, height: int, count: int, min_dist: float) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for _ in range(count * 60):
        if len(points) >= count:
            break
        x, y = rng.uniform(-20, width + 20), rng.uniform(-20, height + 20)
        if all((x - px) ** 2 + (y - py) ** 2 >= min_dist**2 for px, py in points):
            points.append((x, y))
    return points


@functools.lru_cache(maxsize=64)
def coat(individual: int, body_part: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB coat texture of one individual's body part; fixed for its arguments."""
    (width, height), (n_rosettes, min_dist, r_range, n_spots, s_range) = _COAT[body_part]
    rng = _rng(individual, _PART_INDEX[body_part], 1)
    tint = rng.uniform(-10, 10, 3)
    dorsal = np.array([168, 160, 146]) + tint
    belly = np.array([232, 228, 220]) + tint * 0.5
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    ramp = y * y * (3 - 2 * y)
    fur = dorsal + (belly - dorsal) * ramp
    fur = np.ascontiguousarray(np.broadcast_to(fur, (height, width, 3)), dtype=np.float32)
    fur = fur + 12 * _smooth_noise(rng, height, width, 60)[..., None] + 5 * _smooth_noise(rng, height, width, 8)[..., None]
    strokes = cv2.blur(rng.standard_normal((height, width)).astype(np.float32), (9, 2))
    fur = fur + 14 * strokes[..., None]
    canvas = np.ascontiguousarray(np.clip(fur, 0, 255).astype(np.uint8))

    dark_base = rng.uniform(38, 58)
    for cx, cy in _poisson_points(rng, width, height, n_rosettes, min_dist):
        r = rng.uniform(*r_range) * (1.15 - 0.35 * cy / height)  # smaller towards the belly
        centre = canvas[int(np.clip(cy, 0, height - 1)), int(np.clip(cx, 0, width - 1))].astype(np.float32)
        tawny = np.clip(centre * np.array([0.97, 0.9, 0.8]), 0, 255)
        cv2.fillPoly(canvas, [_blob(rng, cx, cy, r * 0.85, r * rng.uniform(0.65, 0.9), rng.uniform(0, math.pi))],
                     tuple(int(c) for c in tawny), lineType=cv2.LINE_AA, shift=4)
        k = int(rng.integers(5, 9))
        start = rng.uniform(0, 2 * math.pi)
        gaps = rng.dirichlet(np.ones(k) * 3) * 2 * math.pi
        angles = start + np.cumsum(gaps)
        for a, gap in zip(angles, gaps):
            if rng.random() < 0.12:  # open rosettes: a blotch missing
                continue
            length = r * min(1.1, gap * rng.uniform(0.35, 0.55))
            thick = r * rng.uniform(0.24, 0.4)
            bx, by = cx + r * math.cos(a), cy + r * math.sin(a)
            shade = dark_base + rng.uniform(-10, 12)
            cv2.fillPoly(canvas, [_blob(rng, bx, by, thick, length, a)],
                         (int(shade), int(shade * 0.92), int(shade * 0.86)), lineType=cv2.LINE_AA, shift=4)
    for _ in range(n_spots):
        sx = rng.uniform(0, width)
        sy = height * (1 - rng.power(1.6)) if body_part != "head" else rng.uniform(0, height)
        sr = rng.uniform(*s_range)
        shade = dark_base + rng.uniform(-8, 16)
        cv2.fillPoly(canvas, [_blob(rng, sx, sy, sr, sr * rng.uniform(0.6, 1.0), rng.uniform(0, math.pi), 0.2)],
                     (int(shade), int(shade * 0.92), int(shade * 0.86)), lineType=cv2.LINE_AA, shift=4)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 0.9)
    canvas.setflags(write=False)
    return canvas


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Rock, scree and snow: (H, W, 3) float32."""
    rock = np.array([128, 121, 110], np.float32) + np.float32(rng.uniform(-18, 18)) + rng.uniform(-4, 4, 3).astype(np.float32)
    n = (0.55 * _smooth_noise(rng, height, width, 140) + 0.3 * _smooth_noise(rng, height, width, 35)
         + 0.15 * _smooth_noise(rng, height, width, 6))
    image = rock + np.float32(55) * n[..., None]
    snow = np.clip((_smooth_noise(rng, height, width, 90) - np.float32(rng.uniform(0.25, 0.7))) * 4, 0, 1)[..., None]
    return image + (np.array([232, 236, 240], np.float32) - image) * snow


def _silhouette(body_part: str, width: int, height: int) -> np.ndarray:
    """Body outline in texture-window pixels (float32 0..1)."""
    mask = np.zeros((height, width), np.uint8)
    if body_part == "tail":
        cv2.ellipse(mask, (width // 2, height // 2), (int(width * 0.49), int(height * 0.38)), 0, 0, 360, 255, -1)
    elif body_part == "head":
        cv2.ellipse(mask, (width // 2, int(height * 0.55)), (int(width * 0.42), int(height * 0.42)), 0, 0, 360, 255, -1)
        for side in (-1, 1):  # ears
            cv2.ellipse(mask, (width // 2 + side * int(width * 0.3), int(height * 0.16)),
                        (int(width * 0.09), int(height * 0.12)), 0, 0, 360, 255, -1)
    else:
        cv2.ellipse(mask, (width // 2, int(height * 0.45)), (int(width * 0.49), int(height * 0.4)), 0, 0, 360, 255, -1)
        for fx in (0.14, 0.27, 0.68, 0.8):  # legs, narrowing to the paws
            top, bottom = int(height * 0.5), height - 1
            leg = np.array([[width * fx, top], [width * (fx + 0.1), top], [width * (fx + 0.085), bottom],
                            [width * (fx + 0.015), bottom]], np.int32)
            cv2.fillPoly(mask, [leg], 255, lineType=cv2.LINE_AA)
    return mask.astype(np.float32) / 255.0


def _info_bars(image: Image.Image, label: str, when: datetime | None, temperature: int) -> Image.Image:
    arr = np.asarray(image).copy()
    height, width = arr.shape[:2]
    bar = max(16, round(height * 32 / 1080))
    arr[:bar] = 0
    arr[-bar:] = 0
    scale = bar / 34
    stamp = when.strftime("%Y-%m-%d %H:%M:%S") if when else ""
    cv2.putText(arr, "DEMO CAM " + label, (8, bar - int(bar * 0.28)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(arr, f"{temperature:+d}C  {stamp}", (width // 2, height - int(bar * 0.28)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)
    return Image.fromarray(arr)


def render_photo(
    individual: int,
    variant: int,
    body_part: str = "left_flank",
    size: tuple[int, int] = (1280, 720),
    *,
    info_bar: bool = True,
    label: str = "",
    when: datetime | None = None,
) -> Image.Image:
    """One synthetic camera-trap photo (RGB, `size` = (W, H) px) of `individual`'s `body_part`.

    The same (individual, variant, body_part, size) always gives the same pixels; a new variant
    is a new photo of the same coat (other pose, light, blur, occlusion).
    """
    if body_part not in _PART_INDEX:
        raise ValueError(f"body_part must be one of {BODY_PARTS}")
    width, height = size
    rng = _rng(individual, variant, _PART_INDEX[body_part], 2)
    texture = coat(individual, body_part)
    th, tw = texture.shape[:2]

    # The visible part of the coat and where it lands in the frame.
    win_w = tw * rng.uniform(0.55, 0.8)
    win_h = th * rng.uniform(0.8, 0.97)
    x0, y0 = rng.uniform(0, tw - win_w), rng.uniform(0, th - win_h)
    src = np.float32([[x0, y0], [x0 + win_w, y0], [x0 + win_w, y0 + win_h], [x0, y0 + win_h]])
    body_w = width * rng.uniform(0.42, 0.72)
    body_h = min(height * 0.78, body_w * win_h / win_w * rng.uniform(0.9, 1.1))
    cx = rng.uniform(body_w / 2 + 8, width - body_w / 2 - 8)
    cy = rng.uniform(body_h / 2 + height * 0.06, height - body_h / 2 - height * 0.06)
    corners = np.float32([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * np.float32([body_w / 2, body_h / 2])
    # Foreshortening: the far end of the body looks shorter.
    squeeze = rng.uniform(0.72, 1.0)
    far = 1 if rng.random() < 0.5 else 0
    corners[[far, 3 - far], 1] *= squeeze
    angle = math.radians(rng.uniform(-12, 12))
    rot = np.float32([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    dst = corners @ rot.T + np.float32([cx, cy]) + rng.normal(0, body_w * 0.03, (4, 2)).astype(np.float32)
    homography = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    if body_part == "right_flank" and rng.random() < 0.5:
        mirror = np.float64([[-1, 0, width], [0, 1, 0], [0, 0, 1]])  # the cat walks the other way
        homography = mirror @ homography

    animal = cv2.warpPerspective(texture, homography, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    shape = np.zeros((th, tw), np.float32)
    ix0, iy0 = int(x0), int(y0)
    sil = _silhouette(body_part, int(win_w), int(win_h))
    shape[iy0:iy0 + sil.shape[0], ix0:ix0 + sil.shape[1]] = sil
    mask = cv2.warpPerspective(shape, homography, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.5)[..., None]
    frame = _background(rng, width, height)
    frame += (animal.astype(np.float32) - frame) * mask

    # Occlusion: a rock or a tuft in front of the body.
    if rng.random() < 0.6:
        ox = cx + rng.uniform(-0.45, 0.45) * body_w
        oy = cy + rng.uniform(0.1, 0.5) * body_h
        occluder = np.zeros((height, width), np.uint8)
        ax, ay = body_w * rng.uniform(0.1, 0.22), body_h * rng.uniform(0.15, 0.35)
        cv2.fillPoly(occluder, [_blob(rng, ox, oy, ax, ay, rng.uniform(0, math.pi), 0.4)], 255,
                     lineType=cv2.LINE_AA, shift=4)
        reach = max(ax, ay) * 1.5 + 2
        x_lo, x_hi = max(0, int(ox - reach)), min(width, int(ox + reach))
        y_lo, y_hi = max(0, int(oy - reach)), min(height, int(oy + reach))
        if x_hi > x_lo and y_hi > y_lo:
            rock = np.array([95, 90, 82], np.float32) + 30 * _smooth_noise(rng, y_hi - y_lo, x_hi - x_lo, 12)[..., None]
            occ = (occluder[y_lo:y_hi, x_lo:x_hi].astype(np.float32) / 255.0)[..., None]
            patch = frame[y_lo:y_hi, x_lo:x_hi]
            patch += (rock - patch) * occ

    # Light: a directional gradient, overall exposure, and infrared night shots without colour.
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
    ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None]
    theta = rng.uniform(0, 2 * math.pi)
    ramp = xs * np.float32(math.cos(theta)) + ys * np.float32(math.sin(theta))
    frame *= (np.float32(rng.uniform(0.72, 1.12)) * (1 + np.float32(rng.uniform(0.1, 0.45)) * ramp))[..., None]
    night = rng.random() < 0.35
    if night:
        grey = frame.mean(axis=2, keepdims=True)
        vignette = (1 - 1.1 * (xs**2 + ys**2))[..., None]
        frame = np.repeat(grey * vignette * np.float32(1.1), 3, axis=2)
    sigma = rng.uniform(0.0, 1.8)
    if sigma > 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    frame += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(rng.uniform(2, 7) * (1.6 if night else 1))
    image = Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8), "RGB")
    if info_bar:
        image = _info_bars(image, label or f"{individual:02d}", when, int(rng.integers(-22, 6)))
    return image


# The demo catalog: real snow-leopard areas of Kyrgyzstan with plausible, made-up stations.
@dataclass(frozen=True)
class DemoLocation:
    name: str
    country: str
    time_zone: str
    latitude: float
    longitude: float
    org_slug: str
    station_prefix: str


@dataclass(frozen=True)
class DemoOrganization:
    slug: str
    name: str
    country: str


DEMO_ORGANIZATIONS = (
    DemoOrganization("demo-naryn", "Naryn camera-trap team (demo)", "Kyrgyzstan"),
    DemoOrganization("demo-sarychat", "Sarychat-Ertash rangers (demo)", "Kyrgyzstan"),
)
DEMO_LOCATIONS = (
    DemoLocation("Naryn State Reserve (demo)", "Kyrgyzstan", "Asia/Bishkek", 41.30, 76.40, "demo-naryn", "NAR"),
    DemoLocation("Sarychat-Ertash Reserve (demo)", "Kyrgyzstan", "Asia/Bishkek", 41.92, 78.62, "demo-sarychat", "SAR"),
)
STATIONS_PER_LOCATION = 6
DEMO_NAMES = ("Aibar", "Bars", "Chynara", "Dastan", "Elnura", "Ilbirs", "Jyldyz", "Kumush", "Manas", "Nurai",
              "Saltanat", "Tilek", "Umai", "Zhibek")
SURVEY_START = date(2023, 9, 15)
SURVEY_END = date(2024, 6, 15)


def station_points(location_index: int) -> list[tuple[str, float, float]]:
    """[(code, lat, lon)] of a demo location's stations: ridgelines within ~12 km of the centroid."""
    loc = DEMO_LOCATIONS[location_index]
    rng = _rng(900, location_index)
    points = []
    for k in range(STATIONS_PER_LOCATION):
        lat = loc.latitude + rng.uniform(-0.1, 0.1)
        lon = loc.longitude + rng.uniform(-0.14, 0.14)
        points.append((f"{loc.station_prefix}-{k + 1:02d}", round(lat, 5), round(lon, 5)))
    return points


@dataclass(frozen=True)
class DemoPhoto:
    variant: int
    body_part: str


@dataclass(frozen=True)
class DemoSighting:
    key: str  # stable external id, so that a re-run finds what it made
    individual: int  # coat number; may be absent from the catalog (a new cat)
    location_index: int
    station_index: int
    observed_at: datetime  # local camera time (naive)
    photos: tuple[DemoPhoto, ...]
    identified: bool


def demo_sightings(num_individuals: int = 12) -> list[DemoSighting]:
    """The demo plan: three identified sightings per individual, then a few unidentified ones."""
    plan = []
    span = (SURVEY_END - SURVEY_START).days
    for ind in range(1, num_individuals + 1):
        rng = _rng(700, ind)
        loc = (ind - 1) % len(DEMO_LOCATIONS)
        home = rng.choice(STATIONS_PER_LOCATION, size=3, replace=False)
        days = np.sort(rng.choice(span, size=3, replace=False))
        layouts = [
            (DemoPhoto(0, "left_flank"), DemoPhoto(1, "right_flank")),
            (DemoPhoto(2, "left_flank"), DemoPhoto(3, "head")),
            (DemoPhoto(4, "right_flank"),) + ((DemoPhoto(5, "tail"),) if ind % 3 == 0 else ()),
        ]
        for k in range(3):
            hour = int(rng.choice([0, 1, 2, 3, 4, 5, 6, 18, 19, 20, 21, 22, 23]))
            when = datetime.combine(SURVEY_START + timedelta(days=int(days[k])), datetime.min.time()).replace(
                hour=hour, minute=int(rng.integers(0, 60)), second=int(rng.integers(0, 60)))
            plan.append(DemoSighting(f"demo:{ind:02d}:{k}", ind, loc, int(home[k]), when, layouts[k], True))
    queries = [(min(3, num_individuals), 20, "left_flank"), (min(8, num_individuals), 21, "right_flank"),
               (num_individuals + 1, 22, "left_flank")]
    for n, (ind, variant, part) in enumerate(queries):
        loc = (ind - 1) % len(DEMO_LOCATIONS) if n < 2 else 0
        when = datetime(2024, 6, 2 + n * 3, 4, 10 + n, 7)
        plan.append(DemoSighting(f"demo:query:{n}", ind, loc, n % STATIONS_PER_LOCATION, when,
                                 (DemoPhoto(variant, part),), False))
    return plan
