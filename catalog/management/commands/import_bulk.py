"""Bulk import of a camera-trap zip/folder or a Camtrap DP package, with a per-file report."""

from pathlib import Path

from django.contrib.auth.models import User
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from catalog.imports.common import ImportRefused
from catalog.imports.jobs import import_job_start, run_import
from catalog.models import ImportKind, Location, Organization


class Command(BaseCommand):
    help = (
        "Import a zip/folder of camera-trap photos (one folder per station, EXIF date-times) or a Camtrap DP "
        "package (folder or zip with datapackage.json). Prints what happened to every file."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="zip file or folder")
        parser.add_argument("--org", required=True, help="organisation slug")
        parser.add_argument("--kind", choices=[*ImportKind.values, "auto"], default="auto")
        parser.add_argument("--location", help="study area name (required for a camera-trap folder)")
        parser.add_argument("--gap-minutes", type=int, default=30, help="a longer gap between photos starts a new sighting")
        parser.add_argument("--user", help="username recorded as submitter (and, with --queue, who started it)")
        parser.add_argument("--queue", action="store_true", help="run on the bulk queue instead of here (zip files only)")

    def handle(self, *args, path, org, kind, location, gap_minutes, user, queue, **options):
        source = Path(path)
        if not source.exists():
            raise CommandError(f"{path} does not exist")
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"no organisation with slug {org!r}")
        area = None
        if location:
            area = Location.objects.filter(name=location).first()
            if area is None:
                raise CommandError(f"no study area named {location!r}")
        account = User.objects.filter(username=user).first() if user else None
        if user and account is None:
            raise CommandError(f"no user {user!r}")
        if kind == "auto":
            kind = ImportKind.CAMTRAP_DP if _has_datapackage(source) else ImportKind.ZIP
        if queue:
            if not source.is_file() or account is None:
                raise CommandError("--queue needs a zip file and --user")
            with source.open("rb") as fh:
                job = import_job_start(organization=organization, started_by=account, kind=kind,
                                       file=File(fh, name=source.name), location=area, gap_minutes=gap_minutes)
            self.stdout.write(f"queued import job {job.pk} on the bulk cluster")
            return
        try:
            report = run_import(kind=kind, path=source, organization=organization, user=account, location=area,
                                gap_minutes=gap_minutes)
        except ImportRefused as exc:
            raise CommandError(str(exc)) from exc
        for row in report.rows:
            reason = f"  ({row['reason']})" if row["reason"] else ""
            self.stdout.write(f"{row['outcome']:9} {row['file']}{reason}")
        counts = report.counts()
        self.stdout.write(", ".join(f"{k}: {v}" for k, v in counts.items()))


def _has_datapackage(path: Path) -> bool:
    import zipfile

    if path.is_dir():
        return any(path.rglob("datapackage.json"))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("datapackage.json") for n in zf.namelist())
    return False
