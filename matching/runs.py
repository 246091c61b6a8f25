"""Lifecycle of an identification run: start (enqueue), execute (worker), retry.

The engine (matching.services.identify_run) computes candidates; this module owns the states
queued → extracting n/m → matching → done | failed, and the sighting's
identifying → awaiting_review step. Every step is safe to repeat: a worker killed mid-run
leaves the run in extracting/matching, and the redelivered task simply runs it again.

A working attempt writes a heartbeat (each progress report, and a thread in between for long
steps). A run silent for MATCHING_HEARTBEAT_STALE_SECONDS is queued again by
match_runs_requeue_stale (a schedule on the interactive cluster, and the status page while it is
watched), long before the queue's own redelivery after Q_CLUSTER["retry"]. The attempt number is
the run's owner: an old worker that was only slow finds its attempt gone at its next report and
stops, writing nothing.
"""

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connections, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from catalog.models import SUGGESTED_BOX_SOURCES, BodyPart, Role, Sighting, SightingStatus
from catalog.selectors import user_can
from matching.models import MatchCandidate, MatchRun, RunMode, RunState
from notifications.services import notification_identification_ready

logger = logging.getLogger(__name__)

# A run can be (re)started while the sighting is still undecided.
STARTABLE_STATUSES = (SightingStatus.SUBMITTED, SightingStatus.IDENTIFYING, SightingStatus.AWAITING_REVIEW)
ACTIVE_STATES = (RunState.QUEUED, RunState.EXTRACTING, RunState.MATCHING)
# Claimed by a worker, so it must be beating.
WORKING_STATES = (RunState.EXTRACTING, RunState.MATCHING)
REQUEUE_TASK = "matching.tasks.requeue_stale_runs"


class AttemptLost(Exception):
    """This worker's attempt was taken for dead and the run queued again: stop and write nothing."""


def _clean_filters(filters: dict | None) -> dict:
    filters = filters or {}
    locations = sorted({int(pk) for pk in filters.get("locations", []) or []})
    body_parts = sorted({str(bp) for bp in filters.get("body_parts", []) or []})
    unknown = [bp for bp in body_parts if bp not in BodyPart.values]
    if unknown:
        raise ValidationError(_("Unknown body part: %(parts)s") % {"parts": ", ".join(unknown)})
    # Where each cat has been seen ranks the candidates too (matching/engine/prior.py) unless the
    # run says otherwise; stored, so that a re-run and the results page know what was used.
    prior = filters.get("location_prior")
    prior = settings.MATCHING_LOCATION_PRIOR if prior is None else bool(prior)
    return {"locations": locations, "body_parts": body_parts, "location_prior": prior}


def max_attempts() -> int:
    return int(settings.Q_CLUSTER.get("max_attempts") or 3)


@transaction.atomic
def match_run_start(
    *, sighting: Sighting, requested_by: User | None, extractor: str | None = None, filters: dict | None = None,
    mode: str | None = None,
) -> MatchRun:
    """Create a queued run for the sighting and enqueue it on the interactive cluster on commit.

    mode: "fast" or "accurate" (default settings.MATCHING_DEFAULT_MODE); an accurate run always uses
    settings.MATCHING_ACCURATE_EXTRACTOR, a fast one `extractor` (default MATCHING_DEFAULT_EXTRACTOR).
    """
    mode = mode or settings.MATCHING_DEFAULT_MODE
    if mode not in RunMode.values:
        raise ValidationError(_("Unknown identification mode %(mode)s; choose fast or accurate.") % {"mode": mode})
    if mode == RunMode.ACCURATE:
        extractor = settings.MATCHING_ACCURATE_EXTRACTOR
    if requested_by is not None and not user_can(requested_by, sighting.organization_id, Role.CONTRIBUTOR):
        raise PermissionDenied(_("Only contributors of the sighting's organisation may start an identification."))
    # Lock the sighting so that two starts (double click, two tabs) serialise.
    sighting = Sighting.objects.select_for_update().get(pk=sighting.pk)
    if sighting.status not in STARTABLE_STATUSES:
        raise ValidationError(
            _("This sighting has already been decided (%(status)s); undo the decision before identifying it again.")
            % {"status": sighting.get_status_display()}
        )
    num_images = sighting.images.count()
    if num_images == 0:
        raise ValidationError(_("This sighting has no images to identify."))
    # Older unfinished runs are superseded: only the newest run may move the sighting on.
    MatchRun.objects.filter(sighting=sighting, state__in=ACTIVE_STATES).update(
        state=RunState.FAILED, error=_("Superseded by a newer identification."), finished_at=timezone.now()
    )
    run = MatchRun.objects.create(
        sighting=sighting,
        mode=mode,
        extractor=extractor or settings.MATCHING_DEFAULT_EXTRACTOR,
        filters=_clean_filters(filters),
        state=RunState.QUEUED,
        progress_total=num_images,
        requested_by=requested_by,
        unconfirmed_boxes=sighting.images.filter(box_source__in=SUGGESTED_BOX_SOURCES).count(),
    )
    sighting.status = SightingStatus.IDENTIFYING
    sighting.save(update_fields=["status", "updated_at"])
    # The worker must see the committed run.
    transaction.on_commit(lambda: _enqueue(run.pk, 0))
    return run


def match_run_retry(*, run: MatchRun, requested_by: User | None) -> MatchRun:
    """Start a fresh run with the same mode, extractor and filters (the failed run stays as history)."""
    return match_run_start(
        sighting=run.sighting, requested_by=requested_by, extractor=run.extractor, filters=run.filters, mode=run.mode
    )


def run_heartbeat_stale(run: MatchRun) -> bool:
    """True when a worker claimed the run but has been silent for MATCHING_HEARTBEAT_STALE_SECONDS."""
    if run.state not in WORKING_STATES:
        return False
    if run.heartbeat_at is None:
        return True
    return (timezone.now() - run.heartbeat_at).total_seconds() > settings.MATCHING_HEARTBEAT_STALE_SECONDS


def run_worker_stopped(run: MatchRun) -> bool:
    """True while a run waits for another attempt because its worker stopped (silent, or requeued)."""
    return run_heartbeat_stale(run) or (run.state == RunState.QUEUED and run.attempts > 0)


def _enqueue(run_id: int, attempt: int) -> None:
    # Interactive work never shares a queue with bulk jobs.
    async_task("matching.tasks.identify", run_id, cluster=settings.QUEUE_INTERACTIVE,
               task_name=f"identify-run-{run_id}" + (f"-attempt-{attempt + 1}" if attempt else ""))


def match_run_requeue_stale(*, run_id: int) -> bool:
    """Queue a silent run for another attempt, or fail it after max attempts; True when it moved.

    Idempotent: the run leaves the working states here, so a second check finds nothing to do.
    """
    with transaction.atomic():
        run = MatchRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or not run_heartbeat_stale(run):
            return False  # finished, still beating, or already queued again by another check
        if run.attempts >= max_attempts():
            run.state = RunState.FAILED
            run.error = _(
                "The worker stopped %(n)d times before finishing this identification; gave up. Retry to start again."
            ) % {"n": run.attempts}
            run.finished_at = timezone.now()
            run.heartbeat_at = None
            run.save(update_fields=["state", "error", "finished_at", "heartbeat_at"])
            _sighting_after_failure(run)
            logger.warning("run %s: its worker stopped on each of %d attempts; failed", run.pk, run.attempts)
            return True
        run.state = RunState.QUEUED
        run.progress_done = 0
        run.heartbeat_at = None
        run.save(update_fields=["state", "progress_done", "heartbeat_at"])
        attempt = run.attempts
        transaction.on_commit(lambda: _enqueue(run_id, attempt))
    logger.warning("run %s: no heartbeat from its worker (attempt %d); queued again", run_id, attempt)
    return True


def match_runs_requeue_stale() -> int:
    """The periodic check: requeue every run whose worker went silent; returns how many moved."""
    cutoff = timezone.now() - timedelta(seconds=settings.MATCHING_HEARTBEAT_STALE_SECONDS)
    silent = MatchRun.objects.filter(state__in=WORKING_STATES).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=cutoff)
    )
    return sum(match_run_requeue_stale(run_id=pk) for pk in silent.values_list("pk", flat=True))


def requeue_schedule_ensure() -> None:
    """Create or refresh the interactive cluster's once-a-minute check for silent runs."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        func=REQUEUE_TASK,
        defaults={"name": "Requeue identification runs whose worker stopped", "schedule_type": Schedule.MINUTES,
                  "minutes": 1, "repeats": -1, "cluster": settings.QUEUE_INTERACTIVE},
    )


def run_is_stale(run: MatchRun) -> bool:
    """True when an active run has outlived the queue's redelivery window (its worker is gone)."""
    if run.state not in ACTIVE_STATES:
        return False
    since = run.started_at or run.created_at
    limit = int(settings.Q_CLUSTER.get("retry", 660)) * max(1, max_attempts())
    return (timezone.now() - since).total_seconds() > limit


def _claim(run_id: int) -> MatchRun | None:
    """Mark the run as started (one short transaction); None when there is nothing to do."""
    with transaction.atomic():
        run = MatchRun.objects.select_for_update().select_related("sighting").filter(pk=run_id).first()
        if run is None or run.state in (RunState.DONE, RunState.FAILED):
            return None  # deleted, finished, or superseded: a redelivered task is a no-op
        if run.state in WORKING_STATES and not run_heartbeat_stale(run):
            return None  # a live worker has it: this is the other of two deliveries (redelivery, requeue)
        run.attempts += 1
        if run.attempts > max_attempts():
            run.state = RunState.FAILED
            run.error = _("Gave up after %(n)d attempts (each time the worker stopped or timed out before finishing).") % {"n": run.attempts - 1}
            run.finished_at = timezone.now()
            run.save(update_fields=["state", "error", "finished_at", "attempts"])
            _sighting_after_failure(run)
            return None
        run.state = RunState.EXTRACTING
        run.progress_done = 0
        run.error = ""
        run.started_at = run.started_at or timezone.now()
        run.heartbeat_at = timezone.now()
        run.save(update_fields=["state", "progress_done", "error", "started_at", "attempts", "heartbeat_at"])
        # A rerun after a crash starts from a clean slate: no duplicate candidates.
        MatchCandidate.objects.filter(run=run).delete()
        return run


def _attempt_lost(run_id: int, attempt: int, *, lock: bool = False) -> bool:
    runs = MatchRun.objects.filter(pk=run_id)
    if lock and transaction.get_connection().in_atomic_block:
        runs = runs.select_for_update()
    row = runs.values_list("attempts", "state").first()
    # Another attempt claimed it, or a check queued it again; a superseded run (failed with the
    # same attempt) may still finish its computation as history.
    return row is not None and (row[0] != attempt or row[1] == RunState.QUEUED)


def _progress(run_id: int, attempt: int):
    def report(stage: str, done: int, total: int) -> None:
        if stage == "saving":
            # Called first inside the engine's transaction that writes the candidates: the row lock
            # held to its commit keeps a requeue and this write from crossing.
            if _attempt_lost(run_id, attempt, lock=True):
                raise AttemptLost(run_id)
            return
        state = RunState.MATCHING if stage == "matching" else RunState.EXTRACTING
        # Only this attempt's working run moves; a superseded run must not come back to life.
        moved = MatchRun.objects.filter(pk=run_id, attempts=attempt, state__in=WORKING_STATES).update(
            state=state, progress_done=done, progress_total=total, heartbeat_at=timezone.now()
        )
        if not moved and _attempt_lost(run_id, attempt):
            raise AttemptLost(run_id)

    return report


class _Heartbeat:
    """Beats for one attempt from a thread, so that a long step without progress reports (the
    first run's catalog extraction, a slow batch) is not taken for a dead worker."""

    def __init__(self, run_id: int, attempt: int):
        self.run_id, self.attempt = run_id, attempt
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> "_Heartbeat":
        period = float(settings.MATCHING_HEARTBEAT_SECONDS)
        if period > 0:
            self.thread = threading.Thread(target=self._beat, args=(period,), daemon=True,
                                           name=f"heartbeat-run-{self.run_id}")
            self.thread.start()
        return self

    def _beat(self, period: float) -> None:
        try:
            while not self.stop.wait(period):
                try:
                    alive = MatchRun.objects.filter(
                        pk=self.run_id, attempts=self.attempt, state__in=WORKING_STATES
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError:  # a busy database: the next beat may get through
                    logger.warning("run %s: heartbeat not written", self.run_id, exc_info=True)
                    continue
                if not alive:
                    return  # finished, superseded or given to another attempt
        finally:
            connections.close_all()  # this thread's own connections

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop.set()
        if self.thread is not None:
            # A beat stuck on a busy database may finish later: it only touches a working run of
            # this attempt, which by then this run no longer is.
            self.thread.join(timeout=5)
        if exc_type is not None and not issubclass(exc_type, Exception):
            # Interrupted in this process (SystemExit, KeyboardInterrupt): the attempt is over, so
            # a redelivery may take the run at once instead of waiting for the silence.
            try:
                MatchRun.objects.filter(pk=self.run_id, attempts=self.attempt).update(heartbeat_at=None)
            except DatabaseError:  # the interruption itself matters more; the silence will tell
                logger.warning("run %s: heartbeat not cleared", self.run_id, exc_info=True)


def _sighting_after_failure(run: MatchRun) -> None:
    # The sighting leaves "identifying" so that it does not look busy forever; it can be retried.
    Sighting.objects.filter(pk=run.sighting_id, status=SightingStatus.IDENTIFYING).update(
        status=SightingStatus.SUBMITTED, updated_at=timezone.now()
    )


def match_run_execute(*, run_id: int) -> MatchRun | None:
    """Run the engine for a queued run and move the run and its sighting on. Safe to repeat."""
    from matching import services  # the engine pulls in torch; import it only in the worker

    run = _claim(run_id)
    if run is None:
        return None
    attempt = run.attempts
    try:
        # Long: outside any transaction, so the web server keeps writing meanwhile.
        with _Heartbeat(run.pk, attempt):
            services.identify_run(run=run, progress=_progress(run.pk, attempt))
    except AttemptLost:
        logger.warning("run %s: attempt %d was taken for dead and queued again; this worker stops", run.pk, attempt)
        return None
    except Exception as exc:
        logger.exception("identification run %s failed", run.pk)
        with transaction.atomic():
            updated = MatchRun.objects.filter(pk=run.pk, attempts=attempt, state__in=WORKING_STATES).update(
                state=RunState.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now(),
                heartbeat_at=None,
            )
            if updated:
                _sighting_after_failure(run)
        run.refresh_from_db()
        return run
    with transaction.atomic():
        locked = MatchRun.objects.select_for_update().get(pk=run.pk)
        if locked.attempts != attempt or locked.state == RunState.QUEUED:
            # Taken for dead while it finished: the other attempt's answer is the run's, and a
            # run is finished once.
            return None
        superseded = MatchRun.objects.filter(sighting_id=run.sighting_id, pk__gt=run.pk).exists()
        if locked.state not in ACTIVE_STATES or superseded:
            # Superseded while it ran (the engine's save may have rewritten the state): its
            # candidates stay as history, and only the newest run moves the sighting on.
            if locked.state in ACTIVE_STATES:
                locked.state = RunState.FAILED
                locked.error = _("Superseded by a newer identification.")
                locked.finished_at = timezone.now()
                locked.save(update_fields=["state", "error", "finished_at"])
            return locked
        locked.state = RunState.DONE
        locked.progress_done = locked.progress_total
        locked.finished_at = timezone.now()
        locked.heartbeat_at = None
        locked.save(update_fields=["state", "progress_done", "finished_at", "heartbeat_at"])
        Sighting.objects.filter(pk=run.sighting_id, status=SightingStatus.IDENTIFYING).update(
            status=SightingStatus.AWAITING_REVIEW, updated_at=timezone.now()
        )
        notification_identification_ready(run=locked)
    return locked
