"""Routine start-up and queue messages stay out of the console; warnings and errors do not."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django_q.tasks import async_task

ROOT = Path(__file__).resolve().parents[1]


def _manage(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "DEBUG": "1",
           "DATA_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)


def test_manage_py_prints_no_faiss_loader_lines(tmp_path):
    check = _manage(tmp_path, "check")
    assert check.returncode == 0, check.stderr
    # The engine's index imports faiss, as the queue workers and the benchmark do.
    imported = _manage(tmp_path, "shell", "-c", "import matching.engine.index")
    assert imported.returncode == 0, imported.stderr
    for result in (check, imported):
        output = result.stdout + result.stderr
        assert "AVX512" not in output and "AVX2" not in output and "Loading faiss" not in output, output
        assert "AXES: BEGIN" not in output, output


@pytest.mark.django_db
def test_enqueued_lines_are_dropped_but_queue_warnings_stay(caplog):
    with caplog.at_level(logging.INFO):
        async_task("math.floor", 1.5, cluster=settings.QUEUE_BULK)
        logging.getLogger("django-q").info("Q Cluster interactive starting.")
        logging.getLogger("django-q").warning("Enqueued [bulk] took long")
    messages = [record.getMessage() for record in caplog.records]
    assert not any(message.startswith("Enqueued [") and "took long" not in message for message in messages), messages
    assert "Q Cluster interactive starting." in messages
    assert "Enqueued [bulk] took long" in messages
