"""Reading packages (a folder or a zip) and collecting the per-file report."""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.utils.translation import gettext as _

IMPORTED, DUPLICATE, SKIPPED, REFUSED = "imported", "duplicate", "skipped", "refused"
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}
MAX_MEMBERS = 200_000
MAX_TABLE_BYTES = 1024 * 1024 * 1024  # a Camtrap DP table (CSV) may be far bigger than a photo

Progress = Callable[[int, int], None]


class ImportRefused(Exception):
    """The whole package can't be imported (missing descriptor, unreadable zip...)."""


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

    def read(self, name: str, limit: int | None = None) -> bytes:
        """The file's bytes; ValueError past `limit` (default UPLOAD_MAX_BYTES), checked before reading."""
        limit = limit or settings.UPLOAD_MAX_BYTES
        resolved = self._resolve(name)
        if resolved is None:
            raise FileNotFoundError(name)
        if self._zip is not None:
            info = self._infos[resolved]
            # Checked before inflating: a zip bomb must not fill the memory.
            if info.file_size > limit:
                raise ValueError(_("The file is too large (%(size)d bytes).") % {"size": info.file_size})
            return self._zip.read(info)
        full = self.path / resolved
        if full.stat().st_size > limit:
            raise ValueError(_("The file is too large (%(size)d bytes).") % {"size": full.stat().st_size})
        return full.read_bytes()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
