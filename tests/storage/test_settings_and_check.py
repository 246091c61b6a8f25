"""The settings that switch media to a bucket, and `deploy_check` against the real S3 server."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from tests.storage.conftest import s3_storages

ROOT = Path(__file__).resolve().parents[2]


def _manage(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)


def _storages_for(env: dict[str, str]) -> dict:
    result = _manage(env, "shell", "-c", "import json; from django.conf import settings; print(json.dumps(settings.STORAGES))")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_s3_bucket_media_stays_on_the_local_filesystem(tmp_path):
    storages = _storages_for({"DEBUG": "1", "DATA_DIR": str(tmp_path)})
    assert storages["default"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}


def test_s3_settings_build_a_private_signed_bucket_storage_as_the_tests_use_it(tmp_path, s3_server, bucket):
    env = {"DEBUG": "1", "DATA_DIR": str(tmp_path), **s3_server.env(bucket)}
    built = _storages_for(env)["default"]
    expected = s3_storages(s3_server, bucket)["default"]
    assert built["BACKEND"] == expected["BACKEND"] == "storages.backends.s3.S3Storage"
    assert built["OPTIONS"]["default_acl"] is None and built["OPTIONS"]["querystring_auth"] is True
    # The tests' storage is the one settings.py makes, but for the signed-URL lifetime the tests choose.
    for key in ("bucket_name", "endpoint_url", "region_name", "access_key", "secret_key", "addressing_style",
                "signature_version", "file_overwrite", "max_memory_size", "location"):
        assert built["OPTIONS"][key] == expected["OPTIONS"][key], key


def test_deploy_check_writes_reads_and_deletes_a_probe_in_the_bucket(tmp_path, s3_server, bucket):
    env = {"DATA_DIR": str(tmp_path), "SECRET_KEY": secrets.token_urlsafe(50), **s3_server.env(bucket)}
    assert _manage(env, "migrate", "-v0").returncode == 0
    result = _manage(env, "deploy_check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"OK   storage: bucket {bucket} at {s3_server.endpoint_url}" in result.stdout
    assert "OK   database" in result.stdout and "OK   broker" in result.stdout
    assert s3_server.keys(bucket) == []  # the probe is gone
    assert not (tmp_path / "media").exists()


def test_deploy_check_says_which_part_fails(tmp_path, s3_server):
    import torch

    env = {"DATA_DIR": str(tmp_path), "SECRET_KEY": secrets.token_urlsafe(50), "MATCHING_DEVICE": "cuda",
           **s3_server.env("no-such-bucket"), "S3_SECRET_ACCESS_KEY": "wrong"}
    result = _manage(env, "deploy_check")
    assert result.returncode != 0
    assert "FAIL database" in result.stderr and "migrate" in result.stderr
    assert "FAIL storage" in result.stderr and "OK   broker" in result.stdout
    if not torch.cuda.is_available():  # a GPU worker that sees no GPU is told so before it takes work
        assert "FAIL device: RuntimeError: device 'cuda' requested but CUDA is not available" in result.stderr
