"""Reading packages (a folder or a zip) and collecting the per-file report."""

from __future__ import annotations

import csv
import io
import posixpath
import sys
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterator

from django.conf import settings
from django.utils.translation import gettext as _

IMPORTED, DUPLICATE, SKIPPED, REFUSED = "imported", "duplicate", "skipped", "refused"
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif"}
MAX_MEMBERS = 200_000
MAX_TABLE_BYTES = 1024 * 1024 * 1024  # a Camtrap DP table (CSV) may be far bigger than a photo
# One CSV line (outside quotes) may not be longer than this: csv would otherwise hold a whole
# newline-free file as one line.
MAX_LINE_CHARS = 1024 * 1024
READ_CHUNK = 1024 * 1024
# Spooled copies of zip members stay in memory up to this size, then move to a temporary file.
SPOOL_BYTES = 1024 * 1024

Progress = Callable[[int, int], None]


class ImportRefused(Exception):
    """The whole package can't be imported (missing descriptor, unreadable zip...)."""


class TooLarge(ValueError):
    """More bytes than the limit; raised while reading, whatever a header claimed."""


def _too_large(limit: int) -> TooLarge:
    return TooLarge(_("The file is larger than the limit of %(limit)d bytes.") % {"limit": limit})


class _Bounded(io.RawIOBase):
    """A read-only stream that raises TooLarge once more than `limit` bytes came through.

    Zip members are read through it: zipfile trusts the member's header for its size, and one
    `read()` of a member whose header lies inflates all of it into memory before truncating.
    """

    def __init__(self, raw: IO[bytes], limit: int):
        self._raw, self._limit, self.count = raw, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._raw.read(min(len(buffer), READ_CHUNK))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise ValueError(_("The file is damaged in the zip (%(error)s).") % {"error": str(exc)[:120]}) from None
        self.count += len(data)
        if self.count > self._limit:
            raise _too_large(self._limit)
        buffer[: len(data)] = data
        return len(data)


def read_limited(stream: IO[bytes], limit: int) -> bytes:
    """All of `stream`, read in chunks; TooLarge as soon as it passes `limit` bytes."""
    bounded = _Bounded(stream, limit)
    chunks = []
    while True:
        chunk = bounded.read(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def spool_limited(stream: IO[bytes], limit: int) -> IO[bytes]:
    """A seekable copy of `stream` (memory up to SPOOL_BYTES, then a temporary file); TooLarge past `limit`."""
    bounded = _Bounded(stream, limit)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        while chunk := bounded.read(READ_CHUNK):
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def zip_member_read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes, bounded by `limit` as they inflate; ValueError when too large or damaged."""
    if info.file_size > limit:  # an honest header lets us refuse without inflating anything
        raise _too_large(limit)
    with archive.open(info) as member:
        return read_limited(member, limit)


def zip_member_spool(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> IO[bytes]:
    if info.file_size > limit:
        raise _too_large(limit)
    with archive.open(info) as member:
        return spool_limited(member, limit)


class TableError(ImportRefused):
    """A CSV table that can't be read as a table (encoding, garbage, too many rows or columns)."""


class Record:
    """One CSV row, keeping only the columns asked for; `get` as on a dict (absent columns -> default).

    Rows of a big table are kept until the import ends: a tuple with a shared column index takes a
    fraction of a dict's memory.
    """

    __slots__ = ("_index", "_values", "number")

    def __init__(self, index: dict[str, int], values: tuple, number: int):
        self._index, self._values, self.number = index, values, number

    def get(self, key: str, default=None):
        i = self._index.get(key)
        if i is None:
            return default
        value = self._values[i]
        return default if value is None else value

    def __getitem__(self, key: str):
        return self._values[self._index[key]]

    def __contains__(self, key: str) -> bool:
        return key in self._index


def _lines(text: IO[str], name: str) -> Iterator[str]:
    while True:
        line = text.readline(MAX_LINE_CHARS)
        if not line:
            return
        if len(line) >= MAX_LINE_CHARS and not line.endswith("\n"):
            raise TableError(_("%(name)s has a line longer than %(n)d characters: is it a CSV table?")
                             % {"name": name, "n": MAX_LINE_CHARS})
        yield line


def csv_records(stream: IO[bytes], *, name: str, columns: tuple[str, ...] | None = None, required: tuple[str, ...] = (),
                max_rows: int | None = None, max_chars: int | None = None, lower_keys: bool = False) -> Iterator[Record]:
    """Rows of a CSV table read as it streams; TableError (with the line) for what is not a readable table.

    `columns`: the only columns kept (None keeps all); `required`: columns the header must have.
    `max_rows` and `max_chars` (kept characters, all rows together) bound the memory that the
    caller's list of rows may take, whatever the file's size.
    """
    max_rows = max_rows or settings.IMPORT_MAX_TABLE_ROWS
    max_chars = max_chars or settings.IMPORT_MAX_TABLE_CHARS
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    # strict: a stray quote is an error, not a field that swallows the rest of the file.
    reader = csv.reader(_lines(text, name), strict=True)
    kept_chars = 0
    try:
        header = next(reader, None)
        if not header:
            raise TableError(_("%(name)s is empty.") % {"name": name})
        header = [h.strip().lower() if lower_keys else h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise TableError(_("%(name)s lacks the column(s) %(cols)s (its header: %(header)s).")
                             % {"name": name, "cols": ", ".join(missing), "header": ", ".join(header)[:200]})
        wanted = [c for c in (columns if columns is not None else header) if c in header]
        index = {c: i for i, c in enumerate(wanted)}
        positions = [header.index(c) for c in wanted]
        for count, values in enumerate(reader, start=1):
            if count > max_rows:
                raise TableError(_("%(name)s has more than %(n)d rows; split the package.") % {"name": name, "n": max_rows})
            if not any(v.strip() for v in values):
                continue
            kept = tuple(
                sys.intern(values[p].strip()) if p < len(values) and len(values[p]) <= 64
                else (values[p].strip() if p < len(values) else None)
                for p in positions
            )
            kept_chars += sum(len(v) for v in kept if v)
            if kept_chars > max_chars:
                raise TableError(_("%(name)s holds too much text to import at once; split the package.") % {"name": name})
            yield Record(index, kept, reader.line_num)
    except UnicodeDecodeError:
        raise TableError(_("%(name)s is not UTF-8 text.") % {"name": name}) from None
    except csv.Error as exc:
        raise TableError(_("%(name)s, line %(line)d, is not valid CSV: %(error)s")
                         % {"name": name, "line": reader.line_num, "error": exc}) from None
    except TooLarge as exc:
        raise TableError(_("%(name)s: %(error)s") % {"name": name, "error": exc}) from None
    except ValueError as exc:  # a damaged zip member
        raise TableError(_("%(name)s can't be read: %(error)s") % {"name": name, "error": exc}) from None


@dataclass
class Report:
    rows: list[dict] = field(default_factory=list)

    def add(self, file: str, outcome: str, reason: str = "", sighting: str | None = None) -> dict:
        row = {"file": file, "outcome": outcome, "reason": str(reason), "sighting": sighting}
        self.rows.append(row)
        return row

    def counts(self) -> dict[str, int]:
        out = {IMPORTED: 0, DUPLICATE: 0, SKIPPED: 0, REFUSED: 0}
        for row in self.rows:
            out[row["outcome"]] += 1
        return out


class Source:
    """Files of a package, by relative POSIX path, from a folder or a zip; never writes to disk."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self.unsafe: list[str] = []  # zip members with absolute or climbing paths: never read
        if self.path.is_dir():
            self._names = sorted(
                p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()
            )
        elif zipfile.is_zipfile(self.path):
            self._zip = zipfile.ZipFile(self.path)
            infos = [i for i in self._zip.infolist() if not i.is_dir()]
            if len(infos) > MAX_MEMBERS:
                raise ImportRefused(_("The zip holds too many files (%(n)d).") % {"n": len(infos)})
            self._infos = {i.filename: i for i in infos if self._safe(i.filename)}
            self.unsafe = sorted(i.filename for i in infos if not self._safe(i.filename))
            self._names = sorted(self._infos)
        else:
            raise ImportRefused(_("This is neither a folder nor a zip file."))

    @staticmethod
    def _safe(name: str) -> bool:
        norm = posixpath.normpath(name)
        return not (name.startswith("/") or norm.startswith("..") or "\\" in name)

    @property
    def _name_set(self) -> set[str]:
        if not hasattr(self, "_names_cached"):
            self._names_cached = set(self._names)
        return self._names_cached

    def names(self) -> list[str]:
        return self._names

    def exists(self, name: str) -> bool:
        return self._resolve(name) is not None

    def _resolve(self, name: str) -> str | None:
        name = posixpath.normpath(name.replace("\\", "/"))
        if not self._safe(name):
            return None
        return name if name in self._name_set else None

    @contextmanager
    def open(self, name: str, limit: int | None = None) -> Iterator[IO[bytes]]:
        """A binary stream of the file that raises TooLarge past `limit` (default UPLOAD_MAX_BYTES)
        as it is read, whatever a zip header says; ValueError when a member is damaged."""
        limit = limit or settings.UPLOAD_MAX_BYTES
        resolved = self._resolve(name)
        if resolved is None:
            raise FileNotFoundError(name)
        if self._zip is not None:
            info = self._infos[resolved]
            if info.file_size > limit:  # an honest header: refused before inflating a byte
                raise _too_large(limit)
            try:
                raw = self._zip.open(info)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                raise ValueError(_("The file is damaged in the zip (%(error)s).") % {"error": str(exc)[:120]}) from None
        else:
            raw = (self.path / resolved).open("rb")
        try:
            yield io.BufferedReader(_Bounded(raw, limit), READ_CHUNK)
        finally:
            raw.close()

    def read(self, name: str, limit: int | None = None) -> bytes:
        """The file's bytes; TooLarge (a ValueError) past `limit` (default UPLOAD_MAX_BYTES)."""
        with self.open(name, limit) as stream:
            return stream.read()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
