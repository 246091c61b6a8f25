"""`manage.py run_qcluster` stops, with every process of its cluster, however the signal arrives.

Real processes on a throwaway SQLite database: django-q2's own `qcluster` hangs for good on a
TERM to its process group (its sentinel dies while the main process waits on it), so these
tests only pass when nothing of the cluster is left a few seconds after the signal.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STOP_LIMIT_S = 15  # after the signal; a clean stop of an idle cluster takes 1-2 s
START_LIMIT_S = 180  # a loaded 2-core machine takes a while to import Django three times over

pytestmark = pytest.mark.slow


def _die_with_pytest():
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no cluster outlives an aborted test run


@pytest.fixture(scope="module")
def site_env(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("qcluster-site")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "Q_CLUSTER_NAME", "SLREID_TESTING")}
    env.update({"DATA_DIR": str(data_dir), "DEBUG": "1", "PYTHONUNBUFFERED": "1", "Q_STOP_GRACE_SECONDS": "20"})
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True,
                   timeout=START_LIMIT_S)
    return env


def _processes() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent, process group, session) of every live process on the machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                found[int(entry.name)] = (int(fields[1]), int(fields[2]), int(fields[3]))
    return found


@pytest.fixture
def started():
    """Supervisors started by a test; whatever a failing or interrupted test left is stopped."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _start(env, log: Path, started: list) -> tuple[subprocess.Popen, int]:
    """The supervisor in its own process group, once its cluster runs; returns it and the cluster's session."""
    proc = subprocess.Popen([sys.executable, "manage.py", "run_qcluster"], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_pytest)
    started.append(proc)
    deadline = time.monotonic() + START_LIMIT_S
    while "running." not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the cluster did not start:\n" + log.read_text()
        time.sleep(0.2)
    children = [pid for pid, (parent, _, _) in _processes().items() if parent == proc.pid]
    assert len(children) == 1, children
    return proc, children[0]


def _left(*ids: int) -> list[int]:
    return [pid for pid, (_, pgid, sid) in _processes().items() if pgid in ids or sid in ids]


def _assert_stops(proc, cluster_session: int, log: Path) -> None:
    try:
        proc.wait(timeout=STOP_LIMIT_S)
    except subprocess.TimeoutExpired:
        for pgid in (proc.pid, cluster_session):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pytest.fail(f"still running {STOP_LIMIT_S} s after the signal:\n" + log.read_text())
    deadline = time.monotonic() + 5
    while _left(proc.pid, cluster_session) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _left(proc.pid, cluster_session) == [], "cluster processes outlived the stop"
    assert proc.returncode == 0
    output = log.read_text()
    assert "has stopped" in output and "Traceback" not in output


@pytest.mark.parametrize("signals", [
    [signal.SIGTERM],  # `kill -- -PGID`, `timeout`, a service manager
    [signal.SIGINT, signal.SIGTERM, signal.SIGTERM],  # Ctrl-C, then a trap's TERM, then impatience
])
def test_a_signal_to_the_whole_process_group_stops_the_cluster_within_the_limit(site_env, tmp_path, started, signals):
    log = tmp_path / "cluster.log"
    proc, cluster_session = _start(site_env, log, started)
    for sig in signals:
        os.killpg(proc.pid, sig)
        time.sleep(0.05)
    _assert_stops(proc, cluster_session, log)


def test_a_killed_supervisor_still_stops_its_cluster(site_env, tmp_path, started):
    log = tmp_path / "cluster.log"
    proc, cluster_session = _start(site_env, log, started)
    proc.kill()
    proc.wait(timeout=5)
    deadline = time.monotonic() + STOP_LIMIT_S
    while _left(cluster_session) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _left(cluster_session) == [], "the cluster outlived its supervisor:\n" + log.read_text()
    assert "has stopped" in log.read_text()
