import io
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image

from catalog.imaging import encode_normalised, image_validate, local_to_aware


def _encoded(image: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _gradient(width: int = 80, height: int = 40) -> Image.Image:
    arr = np.zeros((height, width, 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    arr[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    return Image.fromarray(arr, "RGB")


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.error_list[0].code


def test_plain_jpeg_is_accepted_as_rgb():
    image, info = image_validate(SimpleUploadedFile("a.jpg", _encoded(_gradient())))
    assert image.mode == "RGB" and image.size == (80, 40)
    assert info.format == "JPEG" and len(info.sha256) == 64


def test_zero_byte_file_is_refused():
    with pytest.raises(ValidationError) as exc:
        image_validate(SimpleUploadedFile("a.jpg", b""))
    assert _code(exc) == "empty"


def test_text_file_named_jpg_is_refused_as_not_an_image():
    with pytest.raises(ValidationError) as exc:
        image_validate(SimpleUploadedFile("a.jpg", b"this is not an image at all" * 10))
    assert _code(exc) == "not_image"


def test_truncated_jpeg_is_refused():
    data = _encoded(_gradient(400, 300), quality=90)
    with pytest.raises(ValidationError) as exc:
        image_validate(SimpleUploadedFile("a.jpg", data[: len(data) // 2]))
    assert _code(exc) == "corrupt"
    assert "damaged" in str(exc.value)


def test_unsupported_format_is_refused():
    with pytest.raises(ValidationError) as exc:
        image_validate(_encoded(_gradient(), "GIF"))
    assert _code(exc) == "unsupported_format"


def test_decompression_bomb_is_refused_before_decoding(settings):
    settings.UPLOAD_MAX_PIXELS = 10_000
    # A tiny PNG that claims 200 x 200 = 40,000 pixels.
    data = _encoded(Image.new("L", (200, 200), 0), "PNG", optimize=True)
    assert len(data) < 2000
    with pytest.raises(ValidationError) as exc:
        image_validate(data)
    assert _code(exc) == "too_many_pixels"


def test_pillow_decompression_bomb_guard_is_reported_cleanly(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ValidationError) as exc:
        image_validate(_encoded(Image.new("RGB", (40, 40)), "PNG"))  # 1,600 px: Pillow's warning band
    assert _code(exc) == "too_many_pixels"


def test_huge_side_is_refused(settings):
    settings.UPLOAD_MAX_SIDE = 500
    with pytest.raises(ValidationError) as exc:
        image_validate(_encoded(Image.new("RGB", (600, 20)), "PNG"))
    assert _code(exc) == "too_many_pixels"


def test_file_over_byte_limit_is_refused(settings):
    settings.UPLOAD_MAX_BYTES = 100
    with pytest.raises(ValidationError) as exc:
        image_validate(_encoded(_gradient()))
    assert _code(exc) == "too_large"


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (40, 30), (0, 255, 255, 0))  # pure red in CMYK
    image, info = image_validate(_encoded(cmyk))
    assert info.original_mode == "CMYK" and image.mode == "RGB"
    r, g, b = image.getpixel((20, 15))
    assert r > 200 and g < 60 and b < 60


def test_16_bit_grayscale_png_is_scaled_to_8_bit():
    arr = np.full((30, 40), 40000, np.uint16)
    image, info = image_validate(_encoded(Image.fromarray(arr), "PNG"))
    assert info.original_mode.startswith("I")
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (156, 156, 156)  # round(40000 / 65535 * 255)


def test_16_bit_rgb_png_is_read_as_8_bit_rgb(tmp_path):
    arr = np.zeros((30, 40, 3), np.uint16)
    arr[..., 2] = 65535  # OpenCV is BGR: full red
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), arr)
    image, _ = image_validate(path.read_bytes())
    assert image.mode == "RGB" and image.getpixel((1, 1)) == (255, 0, 0)


def test_exif_orientation_is_applied_and_exif_dropped_from_stored_file():
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # rotate 90° clockwise to display
    image, info = image_validate(_encoded(_gradient(80, 40), exif=exif.tobytes()))
    assert info.orientation == 6 and image.size == (40, 80)
    data, ext = encode_normalised(image, info)
    stored = Image.open(io.BytesIO(data))
    assert ext == ".jpg" and stored.size == (40, 80)
    assert not stored.getexif()


def test_exif_datetime_and_gps_are_read():
    exif = Image.Exif()
    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    exif_ifd[ExifTags.Base.DateTimeOriginal] = "2024:03:05 06:07:08"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (41.0, 25.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (75.0, 30.0, 0.0)
    _, info = image_validate(_encoded(_gradient(), exif=exif.tobytes()))
    assert info.exif_datetime == datetime(2024, 3, 5, 6, 7, 8)
    assert info.exif_latitude == pytest.approx(41.425)
    assert info.exif_longitude == pytest.approx(75.5)


def test_exif_offset_time_makes_an_aware_datetime():
    exif = Image.Exif()
    exif_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    exif_ifd[ExifTags.Base.DateTimeOriginal] = "2024:03:05 06:07:08"
    exif_ifd[ExifTags.Base.OffsetTimeOriginal] = "+06:00"
    _, info = image_validate(_encoded(_gradient(), exif=exif.tobytes()))
    assert info.exif_datetime.utcoffset() == timedelta(hours=6)


def test_local_camera_time_is_read_in_the_location_zone():
    aware = local_to_aware(datetime(2024, 3, 5, 6, 0), "Asia/Bishkek")
    assert aware.astimezone(timezone.utc) == datetime(2024, 3, 5, 0, 0, tzinfo=timezone.utc)
    assert local_to_aware(datetime(2024, 3, 5, 6, 0), None).tzinfo == timezone.utc


def test_same_pixels_in_another_container_have_the_same_hash():
    base = _gradient()
    _, from_png = image_validate(_encoded(base, "PNG"))
    _, from_tiff = image_validate(_encoded(base, "TIFF"))
    _, other = image_validate(_encoded(_gradient(81, 40), "PNG"))
    assert from_png.sha256 == from_tiff.sha256 != other.sha256


def test_lossless_upload_is_stored_as_png():
    image, info = image_validate(_encoded(_gradient(), "PNG"))
    data, ext = encode_normalised(image, info)
    assert ext == ".png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(_gradient()))
