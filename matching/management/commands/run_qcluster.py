"""`manage.py run_qcluster`: a django-q2 cluster that stops cleanly however the signal arrives.

django-q2 1.11.1's `qcluster` hangs for good when a TERM reaches its whole process group (a
`kill -- -PGID`, `timeout`, a terminal's Ctrl-C, a service manager's stop): the sentinel process
dies at once from its default TERM action while it sleeps on the stop event, and the main
process, whose handler then sets that event, waits forever in a futex for the dead sleeper to
acknowledge. A second signal during its stop can deadlock it the same way.

So this command is a small supervisor: it starts the real cluster (`run_qcluster --child`) in its
own session, where no group or terminal signal reaches it, and forwards exactly one TERM to the
cluster's main process however many signals it gets itself. The cluster then stops its sentinel
and workers the way django-q intends. A cluster still running Q_STOP_GRACE_SECONDS later (a
long task in a worker) is killed with its whole group; the interrupted run is taken up again by
the heartbeat check (matching.runs.match_runs_requeue_stale).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """In the child before exec: get one TERM if the supervisor dies (even by SIGKILL)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the supervisor's own stop still works
        return
    if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
        os._exit(1)


class Command(BaseCommand):
    help = "Start a django-q2 cluster under a supervisor that stops it cleanly on TERM, INT, HUP or QUIT."

    def add_arguments(self, parser):
        parser.add_argument("--run-once", action="store_true", help="Start the cluster and stop it again (a check).")
        parser.add_argument("--child", action="store_true", help="Internal: run the cluster itself, in this process.")

    def handle(self, *args, **options):
        code = self._cluster(run_once=options["run_once"]) if options["child"] else self._supervise(
            run_once=options["run_once"])
        # Leave at once: the interpreter's teardown of Django's modules takes seconds on a loaded
        # machine, and there is nothing left to clean up.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def _supervise(self, *, run_once: bool) -> int:
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "run_qcluster", "--child"]
        if run_once:
            command.append("--run-once")
        stop_requested: list[float] = []
        started: list[subprocess.Popen] = []
        forwarded: list[bool] = []

        def forward_one_term() -> None:
            if forwarded:
                return
            forwarded.append(True)
            try:
                os.kill(started[0].pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

        def request_stop(signum, frame):
            # Idempotent: the first signal forwards one TERM, the rest (the same TERM reaching the
            # whole group, a trap's TERM after Ctrl-C, impatience) only wait for it.
            if stop_requested:
                return
            stop_requested.append(time.monotonic())
            if started:
                forward_one_term()

        parent = os.getpid()
        # Handlers first: a signal that arrives while the child starts must still stop it.
        for sig in STOP_SIGNALS:
            signal.signal(sig, request_stop)
        child = subprocess.Popen(command, start_new_session=True, preexec_fn=lambda: _die_with_parent(parent))
        started.append(child)
        if stop_requested:
            forward_one_term()
        grace = float(getattr(settings, "Q_STOP_GRACE_SECONDS", 20))
        killed = False
        # Wait without reaping: while the exited child is a zombie its group id cannot be reused,
        # so the kill below reaches only what is left of this cluster.
        while os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            time.sleep(0.2)
            if stop_requested and not killed and time.monotonic() - stop_requested[0] > grace:
                self.stderr.write(f"run_qcluster: the cluster did not stop within {grace:g} s; killing it")
                self._kill_group(child.pid)
                killed = True
        # Nothing of the cluster may outlive it: a worker orphaned by a crashed sentinel goes too.
        self._kill_group(child.pid)
        code = child.wait()
        if stop_requested and not killed and code in (0, -signal.SIGTERM):
            return 0
        return code if code >= 0 else 128 - code

    @staticmethod
    def _kill_group(pgid: int) -> None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _cluster(self, *, run_once: bool) -> int:
        from django_q.cluster import Cluster
        from django_q.conf import Conf

        from matching.runs import requeue_schedule_ensure

        if Conf.CLUSTER_NAME == settings.QUEUE_INTERACTIVE:
            requeue_schedule_ensure()
        cluster = Cluster()
        stopping: list[int] = []

        def stop_once(signum, frame):
            # django-q's own handler is not re-entrant: a second signal while it stops deadlocks.
            if stopping:
                return
            stopping.append(signum)
            cluster.sig_handler(signum, frame)

        for sig in STOP_SIGNALS:
            signal.signal(sig, stop_once)
        cluster.start()
        if run_once:
            stop_once(signal.SIGTERM, None)
        # Wait here, not in the interpreter's exit where django-q's main process joins its sentinel.
        while cluster.sentinel is not None and cluster.sentinel.is_alive():
            time.sleep(0.5)
        if stopping or cluster.sentinel is None:
            return 0
        self.stderr.write(f"run_qcluster: the cluster's sentinel exited with {cluster.sentinel.exitcode}")
        return 1
