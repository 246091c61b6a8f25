"""Memory is bounded by design: each case runs in its own Python process and measures that process's
peak resident memory growth (ru_maxrss) while it handles one hostile input made here, on disk.

Without the bounds these cases take 1-5 GB (a zip member whose header says 1,000 bytes and inflates
to 1.1 GB, a 150 MB observations.csv, a 400 MB "photo" upload).
"""

import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

MAX_GROWTH_MB = 300
MB = 1024 * 1024

PRELUDE = """
import os, resource, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slreid_site.settings")
os.environ["SLREID_TESTING"] = "1"
import django
django.setup()
import catalog.imaging, catalog.submission, catalog.imports.camtrap_dp  # noqa: imports count as baseline
from django.core.handlers.wsgi import WSGIRequest
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
BASE = peak_mb()
def done(result):
    print("RESULT", repr(result))
    print("GROWTH_MB", peak_mb() - BASE)
"""


def run_case(body: str, **env) -> tuple[str, float]:
    code = PRELUDE + textwrap.dedent(body)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=300,
        env={**os.environ, **{k: str(v) for k, v in env.items()}},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith(("RESULT", "GROWTH_MB")))
    return lines["RESULT"], float(lines["GROWTH_MB"])


def lying_zip(path: Path, member: str, inflated_bytes: int, declared: int = 1000) -> Path:
    """A zip whose member inflates to `inflated_bytes` while both its headers declare `declared`."""
    chunk = b"\0" * (8 * MB)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(member, "w") as out:
            for _ in range(inflated_bytes // len(chunk)):
                out.write(chunk)
    data = bytearray(path.read_bytes())
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, declared)  # uncompressed size, local header
    struct.pack_into("<I", data, central + 24, declared)  # uncompressed size, central directory
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = lying_zip(tmp_path_factory.mktemp("bomb") / "bomb.zip", "S1/photo.jpg", 1100 * MB)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("S1/photo.jpg").file_size == 1000  # the header lies
    return path


def test_a_zip_member_whose_header_lies_is_refused_by_the_bulk_import_reader_without_inflating_it(bomb):
    result, growth = run_case(f"""
        from catalog.imports.common import Source
        source = Source({str(bomb)!r})
        try:
            source.read("S1/photo.jpg")
            done("read")
        except ValueError as exc:
            done(str(exc))
    """)
    assert "damaged" in result or "larger than the limit" in result
    assert growth < MAX_GROWTH_MB, f"{growth:.0f} MB"


def test_a_zip_member_whose_header_lies_is_refused_on_submit_without_inflating_it(bomb):
    result, growth = run_case(f"""
        from django.core.files import File
        from catalog.submission import _expand_zip
        outcomes = []
        with open({str(bomb)!r}, "rb") as fh:
            items = _expand_zip(File(fh, name="cards.zip"), outcomes)
        done([(o.name, o.ok, o.reason) for o in outcomes] + [i.name for i in items])
    """)
    assert "cards.zip/S1/photo.jpg" in result and "damaged" in result
    assert growth < MAX_GROWTH_MB, f"{growth:.0f} MB"


def test_a_honest_header_over_the_limit_is_refused_before_inflating(tmp_path):
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("S1/photo.jpg", "w") as out:
            out.write(b"\0" * (settings.UPLOAD_MAX_BYTES + 1))
    from catalog.imports.common import Source

    with pytest.raises(ValueError, match="larger than the limit"):
        Source(path).read("S1/photo.jpg")


def _camtrap_package(path: Path, observations_rows, comment: str = "") -> Path:
    descriptor = {"name": "big", "resources": [
        {"name": "deployments", "path": "deployments.csv"},
        {"name": "media", "path": "media.csv"},
        {"name": "observations", "path": "observations.csv"},
    ]}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("datapackage.json", json.dumps(descriptor))
        zf.writestr("deployments.csv", "deploymentID,latitude,longitude\nD1,42.1,77.5\n")
        zf.writestr("media.csv", "mediaID,deploymentID,filePath,timestamp\n")
        with zf.open("observations.csv", "w") as out:
            out.write(b"observationID,deploymentID,eventID,observationType,observationComments\n")
            buffer = []
            for i in range(observations_rows):
                buffer.append(f"obs-{i:09d},D1,event-{i:09d},animal,{comment}\n")
                if len(buffer) == 10000:
                    out.write("".join(buffer).encode())
                    buffer = []
            out.write("".join(buffer).encode())
    return path


@pytest.mark.parametrize("rows, comment, expected", [
    (3_500_000, "", "more than 200000 rows"),  # ~150 MB of short rows
    (20_000, "x" * 7000, "too much text"),  # ~140 MB in fewer rows than the row limit
])
def test_a_huge_observations_table_is_refused_while_streaming(tmp_path, rows, comment, expected):
    path = _camtrap_package(tmp_path / "big.zip", rows, comment)
    assert (zipfile.ZipFile(path).getinfo("observations.csv").file_size) > 130 * MB
    result, growth = run_case(f"""
        from catalog.imports.camtrap_dp import CamtrapDpImporter
        from catalog.imports.common import ImportRefused, Source
        try:
            CamtrapDpImporter(source=Source({str(path)!r}), organization=None, user=None)
            done("read")
        except ImportRefused as exc:
            done(str(exc))
    """, IMPORT_MAX_TABLE_ROWS=200_000)
    assert expected in result
    assert growth < MAX_GROWTH_MB, f"{growth:.0f} MB"


def test_a_400_mb_photo_upload_is_cut_at_the_limit_while_streaming_and_refused_by_size():
    result, growth = run_case("""
        import io
        from django.conf import settings
        from django.core.exceptions import ValidationError
        from catalog.imaging import image_validate

        class Body(io.RawIOBase):
            # A multipart body of one 400 MB file, produced as it is read: the test holds none of it.
            def __init__(self, head, size, tail):
                self.parts, self.size = [head], size
                self.tail, self.sent = tail, 0
            def readable(self):
                return True
            def readinto(self, b):
                if self.parts:
                    data = self.parts.pop(0)
                elif self.sent < self.size:
                    data = b"\\xff" * min(len(b), self.size - self.sent, 1 << 20)
                    self.sent += len(data)
                elif self.tail:
                    data, self.tail = self.tail, b""
                else:
                    return 0
                b[:len(data)] = data
                return len(data)

        size = 400 * 1024 * 1024
        head = (b"--B\\r\\nContent-Disposition: form-data; name=\\"files\\"; filename=\\"huge.jpg\\"\\r\\n"
                b"Content-Type: image/jpeg\\r\\n\\r\\n")
        tail = b"\\r\\n--B--\\r\\n"
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/submit/", "SERVER_NAME": "testserver", "SERVER_PORT": "80",
                   "wsgi.url_scheme": "http", "CONTENT_TYPE": "multipart/form-data; boundary=B",
                   "CONTENT_LENGTH": str(len(head) + size + len(tail)), "wsgi.input": io.BufferedReader(Body(head, size, tail))}
        request = WSGIRequest(environ)
        upload = request.FILES["files"]
        try:
            image_validate(upload)
            done("accepted")
        except ValidationError as exc:
            done((exc.code, exc.messages[0], type(upload).__name__))
    """)
    assert "too_large" in result and "too large (400.0" in result and "OversizedUpload" in result
    assert growth < MAX_GROWTH_MB, f"{growth:.0f} MB"
