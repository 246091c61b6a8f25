"""Lifecycle of an identification run: start (enqueue), execute (worker), retry.

The engine (matching.services.identify_run) computes candidates; this module owns the states
queued → extracting n/m → matching → done | failed, and the sighting's
identifying → awaiting_review step. Every step is safe to repeat: a worker killed mid-run
leaves the run in extracting/matching, and the redelivered task simply runs it again.
"""

import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from catalog.models import BodyPart, Role, Sighting, SightingStatus
from catalog.selectors import user_can
from matching.models import MatchCandidate, MatchRun, RunMode, RunState
from notifications.services import notification_identification_ready

logger = logging.getLogger(__name__)

# A run can be (re)started while the sighting is still undecided.
STARTABLE_STATUSES = (SightingStatus.SUBMITTED, SightingStatus.IDENTIFYING, SightingStatus.AWAITING_REVIEW)
ACTIVE_STATES = (RunState.QUEUED, RunState.EXTRACTING, RunState.MATCHING)


def _clean_filters(filters: dict | None) -> dict:
    filters = filters or {}
    locations = sorted({int(pk) for pk in filters.get("locations", []) or []})
    body_parts = sorted({str(bp) for bp in filters.get("body_parts", []) or []})
    unknown = [bp for bp in body_parts if bp not in BodyPart.values]
    if unknown:
        raise ValidationError(_("Unknown body part: %(parts)s") % {"parts": ", ".join(unknown)})
    return {"locations": locations, "body_parts": body_parts}


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
    )
    sighting.status = SightingStatus.IDENTIFYING
    sighting.save(update_fields=["status", "updated_at"])
    # The worker must see the committed run; interactive work never shares a queue with bulk jobs.
    transaction.on_commit(
        lambda: async_task(
            "matching.tasks.identify", run.pk, cluster=settings.QUEUE_INTERACTIVE, task_name=f"identify-run-{run.pk}"
        )
    )
    return run


def match_run_retry(*, run: MatchRun, requested_by: User | None) -> MatchRun:
    """Start a fresh run with the same mode, extractor and filters (the failed run stays as history)."""
    return match_run_start(
        sighting=run.sighting, requested_by=requested_by, extractor=run.extractor, filters=run.filters, mode=run.mode
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
        run.save(update_fields=["state", "progress_done", "error", "started_at", "attempts"])
        # A rerun after a crash starts from a clean slate: no duplicate candidates.
        MatchCandidate.objects.filter(run=run).delete()
        return run


def _progress(run_id: int):
    def report(stage: str, done: int, total: int) -> None:
        state = RunState.MATCHING if stage == "matching" else RunState.EXTRACTING
        # Only an active run moves; a superseded run must not come back to life.
        MatchRun.objects.filter(pk=run_id, state__in=ACTIVE_STATES).update(
            state=state, progress_done=done, progress_total=total
        )

    return report


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
    try:
        # Long: outside any transaction, so the web server keeps writing meanwhile.
        services.identify_run(run=run, progress=_progress(run.pk))
    except Exception as exc:
        logger.exception("identification run %s failed", run.pk)
        with transaction.atomic():
            updated = MatchRun.objects.filter(pk=run.pk, state__in=ACTIVE_STATES).update(
                state=RunState.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
            )
            if updated:
                _sighting_after_failure(run)
        run.refresh_from_db()
        return run
    with transaction.atomic():
        locked = MatchRun.objects.select_for_update().get(pk=run.pk)
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
        locked.save(update_fields=["state", "progress_done", "finished_at"])
        Sighting.objects.filter(pk=run.sighting_id, status=SightingStatus.IDENTIFYING).update(
            status=SightingStatus.AWAITING_REVIEW, updated_at=timezone.now()
        )
        notification_identification_ready(run=locked)
    return locked
