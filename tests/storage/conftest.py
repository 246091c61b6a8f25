"""A real S3 server for the storage tests: SeaweedFS on 127.0.0.1, started by scripts/seaweedfs.py.

One server per test session, in a temporary directory on free ports; each test gets its own
bucket. Where the `weed` binary is missing or does not start, the tests that need it are
skipped with the reason.
"""

import uuid

import pytest

from scripts import seaweedfs
from scripts.seaweedfs import S3Server


@pytest.fixture(scope="session")
def s3_server():
    try:
        server = seaweedfs.start()
    except seaweedfs.Unavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_server) -> str:
    name = f"t-{uuid.uuid4().hex[:20]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


def s3_storages(server: S3Server, bucket: str) -> dict:
    """STORAGES as settings.py builds them for S3_BUCKET=bucket (the same options)."""
    return {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket, "endpoint_url": server.endpoint_url, "region_name": server.region,
                "access_key": server.access_key, "secret_key": server.secret_key, "location": "",
                "addressing_style": "path", "signature_version": "s3v4", "default_acl": None,
                "querystring_auth": True, "querystring_expire": 60, "file_overwrite": False,
                "max_memory_size": 5 * 1024 * 1024,
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def s3_media(settings, s3_server, bucket, media_root):
    """Media in a fresh bucket of the SeaweedFS server; MEDIA_ROOT must stay empty."""
    settings.STORAGES = s3_storages(s3_server, bucket)
    settings.S3_SIGNED_URL_SECONDS = 0
    yield bucket
    assert not media_root.exists() or not any(media_root.rglob("*")), "a file landed on local disk"
