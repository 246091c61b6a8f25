"""Import a labelled catalog folder (labels.csv, or <location>/<individual>/<body_part>/*.jpg)."""

from datetime import datetime
from pathlib import Path

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from catalog.folder_import import ImportRefused, catalog_folder_import
from catalog.models import Organization


class Command(BaseCommand):
    help = ("Import identified reference sightings from DIR: a labelled folder with labels.csv "
            "(see shared/data/reid-dev/README.md) or <location>/<individual>/<body_part>/*.jpg. "
            "All or nothing unless --skip-bad; a re-run skips photos already imported.")

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)
        parser.add_argument("--organization", required=True, help="slug of the owning organisation")
        parser.add_argument("--location", help="study area name for every row (default: from station/folder)")
        parser.add_argument("--time-zone", default="UTC", help="zone of camera clocks for new locations (e.g. Asia/Dushanbe)")
        parser.add_argument("--user", help="username recorded as submitter")
        parser.add_argument("--code-prefix", default="", help="prefix for individual codes, e.g. 'PAMIR-'")
        parser.add_argument("--default-date", type=datetime.fromisoformat,
                            help="camera-local date-time for photos with neither a datetime column nor EXIF (e.g. 2020-01-01)")
        parser.add_argument("--skip-bad", action="store_true", help="import the good rows and report the bad ones")
        parser.add_argument("--no-index", action="store_true", help="do not enqueue feature extraction")

    def handle(self, *args, directory, organization, location, time_zone, user, code_prefix, skip_bad, no_index,
               default_date, **opts):
        org = Organization.objects.filter(slug=organization).first()
        if org is None:
            known = ", ".join(Organization.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"No organisation with slug '{organization}' (known: {known}).")
        added_by = None
        if user:
            added_by = User.objects.filter(username=user).first()
            if added_by is None:
                raise CommandError(f"No user '{user}'.")
        try:
            report = catalog_folder_import(directory=directory, organization=org, location_name=location,
                                           time_zone=time_zone, added_by=added_by, skip_bad=skip_bad,
                                           index=not no_index, code_prefix=code_prefix, default_date=default_date)
        except ImportRefused as exc:
            self._refused(exc.report)
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            f"Imported from {directory} ({report.layout}) into {org.name}: {report.sightings} new sightings, "
            f"{report.images} photos, {len(report.individuals_created)} new individuals"
            + (f" ({', '.join(report.individuals_created)})" if report.individuals_created else "")
            + f"; {len(report.duplicates)} duplicates skipped."
        )
        if report.refused:
            self._refused(report)

    def _refused(self, report):
        self.stderr.write(f"{len(report.refused)} row(s) refused:")
        for number, path, reason in sorted(report.refused):
            self.stderr.write(f"  row {number}: {path}: {reason}")
