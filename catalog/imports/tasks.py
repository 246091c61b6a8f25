"""django-q2 entry points of the bulk queue."""

from catalog.imports.jobs import import_job_execute


def import_run(job_id: int) -> None:
    import_job_execute(job_id=job_id)
