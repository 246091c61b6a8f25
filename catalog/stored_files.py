"""HTTP responses for files kept in the media storage (local directory or S3 bucket).

The views that call these have already checked that the user may see the file; nothing here
makes a file reachable without such a view.
"""

from django.conf import settings
from django.core.files.storage import Storage
from django.http import FileResponse, HttpResponse, HttpResponseRedirect, StreamingHttpResponse

CHUNK_BYTES = 64 * 1024


def _is_s3(storage: Storage) -> bool:
    # isinstance, not type(): default_storage is a lazy proxy that reports its target's class.
    from storages.backends.s3 import S3Storage

    return isinstance(storage, S3Storage)


def stored_file_response(*, storage: Storage, name: str, content_type: str) -> HttpResponse:
    """The stored file `name`, streamed in 64 KiB chunks or (S3_SIGNED_URL_SECONDS > 0) a signed redirect.

    Raises FileNotFoundError when the file is not in storage.
    """
    if not _is_s3(storage):
        return FileResponse(storage.open(name, "rb"), content_type=content_type)
    from botocore.exceptions import ClientError

    seconds = settings.S3_SIGNED_URL_SECONDS
    if seconds > 0:
        if not storage.exists(name):
            raise FileNotFoundError(name)
        # A redirect to a URL that stops working after `seconds`: the browser must not keep it longer.
        response = HttpResponseRedirect(storage.url(name, expire=seconds))
        response["Cache-Control"] = f"private, max-age={max(seconds - 5, 0)}"
        return response
    # S3File.read() downloads the whole object first; the object's own body streams instead, so
    # a web worker holds one chunk per download whatever the photo's size.
    from storages.utils import clean_name

    key = storage._normalize_name(clean_name(name))
    try:
        obj = storage.connection.meta.client.get_object(Bucket=storage.bucket_name, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
            raise FileNotFoundError(name) from None
        raise
    body = obj["Body"]

    def chunks():
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()

    response = StreamingHttpResponse(chunks(), content_type=content_type)
    response["Content-Length"] = str(obj["ContentLength"])
    return response
