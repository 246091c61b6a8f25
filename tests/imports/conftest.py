import io
import zipfile

import pytest
from django.contrib.auth.models import User
from PIL import Image

from catalog.models import Membership, Role


@pytest.fixture
def olga(org_a):
    """Org admin of organisation A: the only role of A that may create study areas."""
    user = User.objects.create_user(username="olga", password="pw-olga")
    Membership.objects.create(user=user, organization=org_a, role=Role.ORG_ADMIN)
    return user


def exif_jpeg(color, when: str | None = None, gps: tuple[float, float] | None = None, size=(96, 64)) -> bytes:
    """A small JPEG with EXIF DateTimeOriginal ("YYYY:MM:DD HH:MM:SS") and optional GPS."""
    img = Image.new("RGB", size, color)
    # Pixels differ per colour and a gradient, so every photo has its own sha256.
    for x in range(0, size[0], 7):
        img.putpixel((x, x % size[1]), (255 - color[0], 255 - color[1], 255 - color[2]))
    exif = Image.Exif()
    if when:
        exif.get_ifd(0x8769)[0x9003] = when
    if gps:
        def dms(v):
            v = abs(v)
            d = int(v)
            m = int((v - d) * 60)
            s = round(((v - d) * 60 - m) * 60, 2)
            return (float(d), float(m), float(s))

        exif.get_ifd(0x8825).update({1: "N" if gps[0] >= 0 else "S", 2: dms(gps[0]), 3: "E" if gps[1] >= 0 else "W", 4: dms(gps[1])})
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=95)
    return buf.getvalue()


@pytest.fixture
def make_zip(tmp_path):
    def make(files: dict[str, bytes], name="upload.zip"):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as zf:
            for member, data in files.items():
                zf.writestr(member, data)
        return path

    return make
