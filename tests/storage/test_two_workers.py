"""Two worker machines, simulated: two clusters (`run_qcluster`, as deployed) in their own processes and working directories,
sharing only PostgreSQL, Redis and the bucket, serve identifications queued at once.

Runs in the PostgreSQL/Redis pass (`make test-postgres`); the SQLite pass skips it.
"""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django_q.models import Task

from catalog.models import SightingStatus
from matching import runs
from matching.models import MatchRun, RunState
from tests.factories import IndividualFactory, SightingFactory, SightingImageFactory
from tests.matching.ranking_images import distorted_copy, jpeg, rosette_image

ROOT = Path(__file__).resolve().parents[2]
QUERIES = 4
START_SECONDS = 180  # generous: the machine may be shared; the bound is against hanging, not a benchmark
FINISH_SECONDS = 400


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_worker(workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    workdir.mkdir()
    log = workdir / "qcluster.log"
    proc = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "run_qcluster"], cwd=workdir, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def _stop(proc: subprocess.Popen) -> None:
    # One TERM to the cluster's main process (a second signal can deadlock its shutdown), then the group.
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def _wait_for(predicate, seconds: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)
    pytest.fail(f"{what} within {seconds} s; worker logs:\n{tails}")


@pytest.mark.django_db(transaction=True)
def test_two_worker_machines_share_the_queue_and_each_identification_runs_once(
    tmp_path, s3_server, s3_media, settings, org_a, bob,
):
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("needs PostgreSQL and Redis shared between processes (the test-postgres pass runs this)")
    bucket = s3_media
    queue = f"interactive-{uuid.uuid4().hex[:8]}"  # this test's own queue on the shared Redis
    settings.QUEUE_INTERACTIVE = queue
    settings.MATCHING_DEFAULT_EXTRACTOR = "sift"

    cats = [IndividualFactory() for _ in range(QUERIES)]
    for i, cat in enumerate(cats):
        ref = SightingFactory(organization=org_a, individual=cat, status=SightingStatus.IDENTIFIED)
        SightingImageFactory(sighting=ref, file=ContentFile(jpeg(rosette_image(900 + i)), name="ref.jpg"))
    queries = []
    for i in range(QUERIES):
        s = SightingFactory(organization=org_a)
        SightingImageFactory(sighting=s, file=ContentFile(jpeg(distorted_copy(rosette_image(900 + i))), name="q.jpg"))
        queries.append(s)

    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "DEBUG": "0",
            "SECRET_KEY": settings.SECRET_KEY, "DATABASE_URL": _database_url(), "REDIS_URL": settings.REDIS_URL,
            "Q_CLUSTER_NAME": queue, "Q_WORKERS": "1", "MATCHING_DEVICE": "cpu", "DETECTOR_ENABLED": "0",
            "MATCHING_DEFAULT_EXTRACTOR": "sift", "OMP_NUM_THREADS": "1", "LOG_LEVEL": "INFO",
            **s3_server.env(bucket)}
    workers = []
    try:
        for name in ("machine-a", "machine-b"):
            # Each machine has its own disk: a DATA_DIR (SQLite, media, weights) nobody else sees.
            workers.append(_start_worker(tmp_path / name, {**base, "DATA_DIR": str(tmp_path / name / "data")}))
        logs = [log for _, log in workers]
        _wait_for(lambda: all("running." in log.read_text(errors="replace") for log in logs), START_SECONDS,
                  "both clusters did not start", logs)

        started = [runs.match_run_start(sighting=s, requested_by=bob) for s in queries]

        def finished() -> bool:
            return MatchRun.objects.filter(pk__in=[r.pk for r in started], state__in=[RunState.DONE, RunState.FAILED]).count() == QUERIES

        _wait_for(finished, FINISH_SECONDS, "the identifications did not all finish", logs)
    finally:
        for proc, _ in workers:
            _stop(proc)

    processed = {log.parent.name: re.findall(r"processing (identify-run-\d+) ", log.read_text(errors="replace"))
                 for _, log in workers}
    every = [name for names in processed.values() for name in names]
    assert sorted(every) == sorted(f"identify-run-{r.pk}" for r in started)  # each exactly once, across both
    assert all(processed.values()), processed  # both machines took work
    for run, cat in zip(started, cats):
        run.refresh_from_db()
        assert run.state == RunState.DONE, run.error
        assert run.candidates.order_by("rank").first().individual == cat
        assert Task.objects.filter(name=f"identify-run-{run.pk}").count() == 1
        assert run.sighting.status == SightingStatus.AWAITING_REVIEW
    keys = s3_server.keys(bucket)
    assert len([k for k in keys if k.startswith("features/")]) == 2 * QUERIES
    for _, log in workers:  # nothing was written to either machine's own media directory
        media = log.parent / "data" / "media"
        assert not media.exists() or not any(media.rglob("*"))
