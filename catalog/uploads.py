"""The first upload handler: stops taking a file's bytes once it passes its limit.

Django streams big uploads to a temporary file, but without a limit a 1 GB "photo" is still
written out whole and then read back to be refused. Past its limit a file's bytes go nowhere;
the view receives an `OversizedUpload` (no content, `size` = the bytes seen so far), which
image_validate and the import and archive checks refuse by its size with their usual message.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.urls import Resolver404, resolve

# URL names whose uploads are bulk-import packages (bigger than any photo).
IMPORT_URL_NAMES = {"imports", "api-import-list"}


class OversizedUpload(UploadedFile):
    """What is left of an upload past its limit: a name and a size, no bytes."""

    oversized = True

    def __init__(self, name: str, size: int, content_type: str | None, limit: int):
        super().__init__(file=None, name=name, content_type=content_type, size=size)
        self.limit = limit

    def open(self, mode=None):
        raise ValueError("an oversized upload has no content")

    def read(self, *args):
        return b""

    def chunks(self, chunk_size=None):
        return iter(())

    def seek(self, *args):
        return 0

    def tell(self):
        return 0

    def close(self):
        pass


def upload_limit(request, file_name: str) -> int:
    """Bytes one uploaded file may have on this request."""
    try:
        url_name = resolve(request.path_info).url_name if request is not None else None
    except Resolver404:
        url_name = None
    if url_name in IMPORT_URL_NAMES:
        return settings.IMPORT_MAX_BYTES
    if (file_name or "").lower().endswith(".zip"):
        return settings.UPLOAD_ARCHIVE_MAX_BYTES
    return settings.UPLOAD_MAX_BYTES


class LimitedUploadHandler(FileUploadHandler):
    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        self.limit = upload_limit(self.request, file_name)
        self.seen = 0

    def receive_data_chunk(self, raw_data, start):
        self.seen += len(raw_data)
        if self.seen > self.limit:
            return None  # the handlers after this one never get the rest
        return raw_data

    def file_complete(self, file_size):
        if self.seen > self.limit:
            return OversizedUpload(self.file_name, self.seen, self.content_type, self.limit)
        return None  # within the limit: the next handler (memory or temporary file) completes it
