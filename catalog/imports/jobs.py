"""Import jobs on the bulk queue: start (store the upload, enqueue on commit) and execute (worker)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from catalog.imports.camtrap_dp import import_camtrap_dp
from catalog.imports.common import ImportRefused, Report, Source
from catalog.imports.zip_folder import import_camera_zip
from catalog.models import ImportJob, ImportKind, ImportState, Location, Organization, Role
from catalog.selectors import user_can

logger = logging.getLogger(__name__)

# Write progress to the row at most this often (files), so a big import doesn't hammer the DB.
PROGRESS_EVERY = 10


@transaction.atomic
def import_job_start(
    *, organization: Organization, started_by: User, kind: str, file, location: Location | None = None,
    gap_minutes: int = 30,
) -> ImportJob:
    """Store the uploaded zip and enqueue its import on the bulk cluster once committed."""
    if not user_can(started_by, organization.pk, Role.CONTRIBUTOR):
        raise PermissionDenied(_("Only contributors of the organisation may import into it."))
    if kind not in ImportKind.values:
        raise ValidationError({"kind": _("Unknown import kind.")})
    if kind == ImportKind.ZIP and location is None:
        raise ValidationError({"location": _("Choose the study area the camera-trap folder belongs to.")})
    size = getattr(file, "size", None) or 0
    if size > settings.IMPORT_MAX_BYTES:
        raise ValidationError({"file": _("The file is too large (%(size)s); the limit for an import is %(limit)s.") % {
            "size": filesizeformat(size), "limit": filesizeformat(settings.IMPORT_MAX_BYTES)}})
    if not size:
        raise ValidationError({"file": _("The file is empty.")})
    job = ImportJob(
        organization=organization, started_by=started_by, kind=kind, location=location,
        options={"gap_minutes": int(gap_minutes)},
    )
    job.file.save(getattr(file, "name", "import.zip") or "import.zip", file, save=False)
    job.save()
    pk = job.pk
    # Bulk work has its own cluster: an import never delays an interactive identification.
    transaction.on_commit(
        lambda: async_task("catalog.imports.tasks.import_run", pk, cluster=settings.QUEUE_BULK, task_name=f"import-{pk}")
    )
    return job


def run_import(*, kind: str, path: Path, organization: Organization, user: User | None,
               location: Location | None = None, gap_minutes: int = 30, progress=None,
               report: Report | None = None) -> Report:
    """Run one import synchronously (the worker and the management command both call this).

    `report` collects the rows as they come, so a caller still has them when the run stops part-way.
    """
    report = report if report is not None else Report()
    source = Source(path)
    try:
        if kind == ImportKind.CAMTRAP_DP:
            return import_camtrap_dp(source=source, organization=organization, user=user, location=location,
                                     progress=progress, report=report)
        if location is None:
            raise ImportRefused(_("Choose the study area the camera-trap folder belongs to."))
        return import_camera_zip(source=source, organization=organization, user=user, location=location,
                                 gap_minutes=gap_minutes, progress=progress, report=report)
    finally:
        source.close()


def import_job_execute(*, job_id: int) -> ImportJob | None:
    """Run a queued import. Safe to redeliver: a re-run skips the sightings already in."""
    job = ImportJob.objects.filter(pk=job_id).select_related("organization", "started_by", "location").first()
    if job is None or job.state == ImportState.DONE:
        return job
    if not job.file:
        ImportJob.objects.filter(pk=job.pk).update(
            state=ImportState.FAILED, error=_("The uploaded file is no longer stored."), finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    ImportJob.objects.filter(pk=job.pk).update(state=ImportState.RUNNING, started_at=timezone.now(), error="")

    def progress(done: int, total: int) -> None:
        if done == total or done % PROGRESS_EVERY == 0:
            ImportJob.objects.filter(pk=job.pk).update(progress_done=done, progress_total=total)

    report = Report()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # zipfile needs a seekable local file; storage may be remote.
            local = Path(tmp) / "import.zip"
            with job.file.open("rb") as src, local.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            run_import(
                kind=job.kind, path=local, organization=job.organization, user=job.started_by,
                location=job.location, gap_minutes=int(job.options.get("gap_minutes", 30)), progress=progress,
                report=report,
            )
    except ImportRefused as exc:
        _finish(job, ImportState.FAILED, report, str(exc))
    except Exception as exc:
        # Each sighting is its own transaction, so what was imported before this is complete;
        # a rerun of the job would skip it. Say what broke instead of staying "running".
        logger.exception("import job %s failed", job.pk)
        _finish(job, ImportState.FAILED, report,
                _("The import stopped: %(error)s. Sightings imported before it are complete; "
                  "importing the file again skips them.") % {"error": f"{type(exc).__name__}: {exc}"})
    else:
        _finish(job, ImportState.DONE, report, "")
    return job


def _finish(job: ImportJob, state: str, report: Report, error: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(state=state, report=report.rows, error=error, finished_at=timezone.now())
    job.refresh_from_db()
    # The upload is not needed once the job has ended, whatever its outcome: a rerun means a new
    # upload, and big zips must not pile up in storage.
    if job.file:
        job.file.delete(save=True)
