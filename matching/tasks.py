"""django-q2 entry points: take primary keys, load rows, call a service. Safe to rerun."""

from django.conf import settings
from django_q.tasks import async_task

from catalog.models import REFERENCE_STATUSES, Sighting
from matching import runs
from matching.models import RunState


def identify(run_id: int) -> None:
    """Interactive cluster: identify one sighting (a redelivery after a crash reruns it), then train
    this worker's index if the catalog has outgrown it, once the answer is saved."""
    run = runs.match_run_execute(run_id=run_id)
    if run is not None and run.state == RunState.DONE:
        from matching import services  # the engine pulls in torch; import it only in the worker

        services.catalog_index_train(extractor=run.extractor)


def index_sighting(sighting_id: int) -> None:
    """Add a newly confirmed sighting's images to the catalog index."""
    from matching import services

    sighting = Sighting.objects.filter(pk=sighting_id, status__in=REFERENCE_STATUSES).first()
    if sighting is None:  # deleted or un-decided (undo) while queued; nothing to index
        return
    services.catalog_index_add(sighting=sighting)


def suggest_boxes(sighting_id: int, image_id: int) -> None:
    """Interactive cluster: suggested boxes for a sighting's images after an upload through the API."""
    from matching import services

    sighting = Sighting.objects.filter(pk=sighting_id).first()
    if sighting is None:  # deleted while queued
        return
    if sighting.images.filter(pk__gt=image_id).exists():
        return  # a later upload's task looks at the whole burst, this one too
    services.sighting_boxes_suggest(sighting=sighting)


def reindex_catalog() -> int:
    """Bulk cluster: queue one index task per reference sighting (after an extractor upgrade)."""
    ids = list(Sighting.objects.filter(status__in=REFERENCE_STATUSES).values_list("pk", flat=True))
    for pk in ids:
        async_task("matching.tasks.index_sighting", pk, cluster=settings.QUEUE_BULK)
    return len(ids)


def requeue_stale_runs() -> int:
    """Interactive cluster, once a minute: queue again the runs whose worker stopped beating."""
    return runs.match_runs_requeue_stale()
