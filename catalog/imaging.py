"""Upload validation and normalisation of camera-trap photos.

Everything a stored image must satisfy is decided here, before anything touches storage:
it is a real, complete image of a supported format within the size limits; it is turned
upright (EXIF orientation) and into 8-bit RGB; its EXIF date-time and GPS are read out
because the stored file carries no EXIF.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

# HEIC is what many phones write by default; pillow-heif reads HEIC and HEIF as Pillow's "HEIF".
register_heif_opener()

# Pillow format names we accept; MPO is what many cameras write for a plain JPEG with a preview.
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "TIFF", "WEBP", "HEIF"}
# Lossy sources are stored as JPEG, lossless ones as PNG, so that normalising adds no new loss
# to lossless originals and does not blow up the size of JPEGs.
LOSSY_FORMATS = {"JPEG", "MPO", "HEIF"}
JPEG_QUALITY = 95


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow format name of the upload, e.g. "JPEG"
    original_mode: str  # Pillow mode before normalisation, e.g. "CMYK", "I;16"
    width: int  # after EXIF orientation, pixels
    height: int
    orientation: int  # EXIF orientation tag (1 = upright)
    byte_size: int  # size of the uploaded file
    # Camera clocks are local: a naive datetime, unless the camera wrote an EXIF offset.
    exif_datetime: datetime | None
    exif_latitude: float | None
    exif_longitude: float | None
    # sha256 of the normalised pixels (see pixels_sha256), the key for exact duplicates.
    sha256: str


def _too_large(size: int) -> ValidationError:
    return ValidationError(
        _("The file is too large (%(size)s); the limit is %(limit)s.")
        % {"size": filesizeformat(size), "limit": filesizeformat(settings.UPLOAD_MAX_BYTES)},
        code="too_large",
    )


def _declared_size(file) -> int | None:
    size = getattr(file, "size", None)
    if isinstance(size, int):
        return size
    if hasattr(file, "seek") and hasattr(file, "tell"):
        try:
            file.seek(0, io.SEEK_END)
            return file.tell()
        except (OSError, ValueError):
            return None
    return None


def _read_all(file) -> bytes:
    """Bytes of a Django File/UploadedFile, a path-less file object or bytes, from the start.

    Never more than UPLOAD_MAX_BYTES + 1 of them: the size is checked before reading where the
    file knows it, and the read stops past the limit where it does not.
    """
    if isinstance(file, (bytes, bytearray)):
        return bytes(file)
    limit = settings.UPLOAD_MAX_BYTES
    size = _declared_size(file)
    if size is not None and size > limit:
        raise _too_large(size)
    if hasattr(file, "seek"):
        try:
            file.seek(0)
        except (OSError, ValueError):
            pass
    chunks, total = [], 0
    stream = file.chunks() if hasattr(file, "chunks") else iter(lambda: file.read(1024 * 1024), b"")
    for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise _too_large(total)
        chunks.append(chunk)
    if hasattr(file, "seek"):
        try:
            file.seek(0)
        except (OSError, ValueError):
            pass
    return b"".join(chunks)


def pixels_sha256(image: Image.Image) -> str:
    """sha256 of an 8-bit RGB image's size and pixels.

    Hashing decoded pixels instead of file bytes makes the same photo a duplicate even when
    a messenger or an export tool rewrote its metadata or container, and it does not depend
    on the JPEG encoder of the Pillow version that stored the file.
    """
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def _to_rgb8(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; 16-bit and float data are scaled, not clipped."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode in {"I", "F"}:
        arr = np.asarray(image).astype(np.float64)
        if mode.startswith("I;16"):
            top = 65535.0
        elif mode == "F":
            top = max(float(arr.max()), 1.0) if arr.size else 1.0
            top = 1.0 if top <= 1.0 else top
        else:  # 32-bit integer mode, which is how some decoders hand over 16-bit data
            top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        arr = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode == "CMYK":
        icc = image.info.get("icc_profile")
        if icc:
            try:
                from PIL import ImageCms

                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                return ImageCms.profileToProfile(image, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            except Exception:  # a broken profile still leaves Pillow's plain conversion
                pass
        return image.convert("RGB")
    if mode in {"RGBA", "LA", "PA"} or (mode == "P" and "transparency" in image.info):
        # Camera traps write no alpha; flatten on mid grey so transparent areas carry no features.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _rational(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        num, den = value
        return float(num) / float(den)


def _gps_degrees(dms, ref) -> float | None:
    try:
        d, m, s = (_rational(v) for v in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60.0 + s / 3600.0
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "ignore")
    if str(ref).strip().upper() in {"S", "W"}:
        value = -value
    return value


def _parse_exif_datetime(text, offset) -> datetime | None:
    if isinstance(text, bytes):
        text = text.decode("ascii", "ignore")
    if not text or not isinstance(text, str):
        return None
    text = text.strip().rstrip("\x00")
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M"):
        try:
            value = datetime.strptime(text[:19], fmt)
            break
        except ValueError:
            continue
    else:
        return None
    if isinstance(offset, bytes):
        offset = offset.decode("ascii", "ignore")
    if isinstance(offset, str) and len(offset.strip()) == 6 and offset.strip()[0] in "+-":
        try:
            sign = 1 if offset.strip()[0] == "+" else -1
            hours, minutes = int(offset.strip()[1:3]), int(offset.strip()[4:6])
            value = value.replace(tzinfo=dt_timezone(sign * timedelta(hours=hours, minutes=minutes)))
        except ValueError:
            pass
    return value


def exif_fields(exif: Image.Exif) -> tuple[datetime | None, float | None, float | None]:
    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif) if exif else {}
    taken = _parse_exif_datetime(
        exif_ifd.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime),
        exif_ifd.get(ExifTags.Base.OffsetTimeOriginal),
    )
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo) if exif else {}
    lat = lon = None
    if gps:
        lat = _gps_degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef, "N"))
        lon = _gps_degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef, "E"))
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
            lat = lon = None
    return taken, lat, lon


def image_validate(file) -> tuple[Image.Image, ImageInfo]:
    """Validate an upload and return it upright as 8-bit RGB, with what was read from it.

    Raises ValidationError (translated message, code) for empty, oversized, non-image,
    truncated or bomb-sized files. `file` is a Django File/UploadedFile, a file object or bytes.
    """
    data = _read_all(file)
    if not data:
        raise ValidationError(_("The file is empty."), code="empty")
    if len(data) > settings.UPLOAD_MAX_BYTES:
        raise _too_large(len(data))
    max_pixels = settings.UPLOAD_MAX_PIXELS
    max_side = settings.UPLOAD_MAX_SIDE
    bomb_message = _(
        "The image is too large to process (%(w)s × %(h)s pixels); the limit is %(limit)s megapixels "
        "and %(side)s pixels per side."
    )
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; here that is an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            fmt = image.format or ""
            if fmt not in ACCEPTED_FORMATS:
                raise ValidationError(
                    _("Unsupported image format %(format)s: upload JPEG, PNG, TIFF, WebP or HEIC.") % {"format": fmt or "?"},
                    code="unsupported_format",
                )
            width, height = image.size
            # Checked on the header, before decoding a single pixel.
            if width * height > max_pixels or max(width, height) > max_side:
                raise ValidationError(
                    bomb_message % {"w": width, "h": height, "limit": max_pixels // 1_000_000, "side": max_side},
                    code="too_many_pixels",
                )
            if width < 16 or height < 16:
                raise ValidationError(
                    _("The image is too small (%(w)s × %(h)s pixels) to identify anything.") % {"w": width, "h": height},
                    code="too_small",
                )
            exif = image.getexif()
            orientation = int(exif.get(ExifTags.Base.Orientation, 1) or 1)
            image.load()
        except ValidationError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValidationError(
                _("The image is too large to process (decompression bomb protection)."), code="too_many_pixels"
            ) from None
        except UnidentifiedImageError:
            raise ValidationError(_("The file is not an image that can be read (JPEG, PNG, TIFF, WebP or HEIC expected)."),
                                  code="not_image") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            # Truncated downloads and corrupt data land here ("image file is truncated").
            raise ValidationError(
                _("The image is damaged or incomplete and cannot be read (%(reason)s).") % {"reason": str(exc)[:120]},
                code="corrupt",
            ) from None
    taken, lat, lon = exif_fields(exif)
    try:
        upright = ImageOps.exif_transpose(image) if orientation != 1 else image
    except (OSError, ValueError):
        upright = image
    rgb = _to_rgb8(upright)
    rgb.info.pop("exif", None)
    rgb.info.pop("icc_profile", None)
    info = ImageInfo(
        format="JPEG" if fmt == "MPO" else fmt,
        original_mode=image.mode,
        width=rgb.width,
        height=rgb.height,
        orientation=orientation,
        byte_size=len(data),
        exif_datetime=taken,
        exif_latitude=lat,
        exif_longitude=lon,
        sha256=pixels_sha256(rgb),
    )
    return rgb, info


def encode_normalised(image: Image.Image, info: ImageInfo) -> tuple[bytes, str]:
    """(bytes, extension) of the file to store: no EXIF, 8-bit RGB; JPEG for lossy sources, else PNG."""
    buf = io.BytesIO()
    if info.format in LOSSY_FORMATS:
        image.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
        return buf.getvalue(), ".jpg"
    image.save(buf, "PNG", optimize=False, compress_level=6)
    return buf.getvalue(), ".png"


def local_to_aware(value: datetime | None, time_zone: str | None) -> datetime | None:
    """A camera's local (naive) time read in the study area's zone; UTC when the zone is unknown."""
    if value is None or value.tzinfo is not None:
        return value
    try:
        zone = ZoneInfo(time_zone) if time_zone else dt_timezone.utc
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt_timezone.utc
    return value.replace(tzinfo=zone)


# Thumbnail sizes (longest side, px) the site serves; anything else is refused so that a
# crafted URL can't fill the disk with one cached file per integer.
THUMB_SIZES = (160, 320, 640, 1024)
DEFAULT_THUMB_SIZE = 320


# Margin around the box in a thumbnail, as a share of the box's side: the animal's outline
# and a little of its surroundings help a reviewer recognise the photo.
THUMB_BOX_MARGIN = 0.15


def thumbnail_name(image, size: int) -> str:
    """Storage name of a SightingImage's cached thumbnail; it changes with the pixels and with the box."""
    box = f"-box{'_'.join(str(v) for v in image.box)}" if image.box else ""
    return f"thumbs/{size}/{image.uuid}-{image.sha256[:12]}{box}.jpg"


def thumbnail_crop(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixels: the box with THUMB_BOX_MARGIN on each side, inside the image."""
    x, y, w, h = box
    mx, my = round(w * THUMB_BOX_MARGIN), round(h * THUMB_BOX_MARGIN)
    left, top = max(0, x - mx), max(0, y - my)
    right, bottom = min(width, x + w + mx), min(height, y + h + my)
    if right <= left or bottom <= top:  # a box from before the image was replaced: the whole frame
        return (0, 0, width, height)
    return (left, top, right, bottom)


def thumbnail_bytes(source, size: int, box: tuple[int, int, int, int] | None = None) -> bytes:
    """JPEG thumbnail (longest side `size` px) of a stored, already normalised image file.

    With a box (pixels of the stored image), the thumbnail shows the box region with a margin:
    a snow leopard is often a few percent of a camera-trap frame.
    """
    with Image.open(source) as image:
        if box is None:
            image.draft("RGB", (size, size))
        image = image.convert("RGB")
        if box is not None:
            image = image.crop(thumbnail_crop(box, image.width, image.height))
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=85, optimize=True)
        return buf.getvalue()
