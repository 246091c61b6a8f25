"""Time the bulk import and the exports on synthetic data, then roll everything back.

    manage.py benchmark_science [--sightings 5000] [--photos 100]

Prints one line per measurement (seconds, peak RSS). Runs inside a transaction that is rolled
back and with a throwaway MEDIA_ROOT, so the database and storage are left as they were.
"""

import datetime as dt
import io
import random
import resource
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test import override_settings
from PIL import Image

from catalog.exports.camtrap_dp import camtrap_dp_validate, camtrap_dp_write
from catalog.exports.common import ExportScope
from catalog.exports.geojson import sightings_geojson
from catalog.exports.population import population_for
from catalog.exports.secr import captures_for, secr_files
from catalog.exports.tables import individuals_csv, sightings_csv
from catalog.imports.common import Source
from catalog.imports.zip_folder import import_camera_zip
from catalog.models import CameraStation, Individual, Location, Membership, Organization, Role, Sighting


class _Rollback(Exception):
    pass


def _photos_zip(path: Path, count: int, stations: int) -> None:
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("stations.csv", "code,latitude,longitude\n" + "".join(
            f"Z{i:02d},{41.5 + i * 0.01},{78.0 + i * 0.01}\n" for i in range(stations)))
        for i in range(count):
            # Smooth noise compresses like a real photo (about 0.3 MB at 1920 x 1080).
            small = rng.integers(0, 255, (68, 120, 3), dtype=np.uint8)
            image = Image.fromarray(small).resize((1920, 1080), Image.BILINEAR)
            exif = Image.Exif()
            exif.get_ifd(0x8769)[0x9003] = f"2024:02:{1 + i // 40:02d} {8 + (i % 40) // 4:02d}:{(i % 4) * 5:02d}:00"
            buf = io.BytesIO()
            image.save(buf, "JPEG", quality=88, exif=exif)
            zf.writestr(f"cards/Z{i % stations:02d}/IMG_{i:05d}.JPG", buf.getvalue())


class Command(BaseCommand):
    help = "Time bulk import and exports on synthetic data (rolled back afterwards)."

    def add_arguments(self, parser):
        parser.add_argument("--sightings", type=int, default=5000)
        parser.add_argument("--photos", type=int, default=100)

    def handle(self, *args, sightings, photos, **options):
        with tempfile.TemporaryDirectory() as tmp, override_settings(MEDIA_ROOT=tmp):
            try:
                with transaction.atomic():
                    self._run(Path(tmp), sightings, photos)
                    raise _Rollback
            except _Rollback:
                pass

    def _line(self, name: str, seconds: float, extra: str = "") -> None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stdout.write(f"{name:<48} {seconds:7.2f} s   peak RSS {rss:6.0f} MB {extra}")

    def _run(self, tmp: Path, n_sightings: int, n_photos: int) -> None:
        org = Organization.objects.create(name="Benchmark org (rolled back)", slug="benchmark-rolled-back")
        user = User.objects.create_user(username="benchmark-rolled-back")
        Membership.objects.create(user=user, organization=org, role=Role.ORG_ADMIN)
        area = Location.objects.create(name="Benchmark area (rolled back)", time_zone="Asia/Bishkek")

        archive = tmp / "cards.zip"
        started = time.perf_counter()
        _photos_zip(archive, n_photos, stations=5)
        self._line(f"make zip of {n_photos} photos 1920x1080", time.perf_counter() - started,
                   f"({archive.stat().st_size / 1e6:.0f} MB)")
        started = time.perf_counter()
        report = import_camera_zip(source=Source(archive), organization=org, user=user, location=area)
        took = time.perf_counter() - started
        self._line("zip import", took, f"{report.counts()} = {took / max(1, n_photos):.3f} s/photo")
        started = time.perf_counter()
        again = import_camera_zip(source=Source(archive), organization=org, user=user, location=area)
        self._line("zip import again (all duplicates)", time.perf_counter() - started, str(again.counts()))

        random.seed(1)
        stations = [
            CameraStation.objects.create(location=area, organization=org, code=f"B{i:02d}", latitude=41 + i * 0.01,
                                         longitude=78 + i * 0.01, operating_from=dt.date(2024, 1, 1),
                                         operating_to=dt.date(2024, 6, 30))
            for i in range(40)
        ]
        individuals = [Individual.objects.create(code=f"BENCH-{i:04d}") for i in range(60)]
        t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
        Sighting.objects.bulk_create([
            Sighting(organization=org, location=area, station=random.choice(stations), status="identified",
                     individual=random.choice(individuals),
                     observed_at=t0 + dt.timedelta(minutes=random.randint(0, 180 * 24 * 60)))
            for _ in range(n_sightings)
        ])
        scope = ExportScope(location=area)
        total = Sighting.objects.filter(location=area).count()
        for name, run in [
            (f"sightings.csv ({total} sightings)", lambda: sightings_csv(user, scope)),
            ("individuals.csv", lambda: individuals_csv(user, scope)),
            ("sightings.geojson", lambda: sightings_geojson(user, scope)),
            ("camtrap-dp write (with images)", lambda: camtrap_dp_write(user=user, scope=scope, directory=tmp / "dp")),
            ("camtrap-dp validate (offline, frictionless)", lambda: camtrap_dp_validate(tmp / "dp")),
            ("secr files, 6 months in 14-day occasions", lambda: secr_files(user, captures_for(
                user, location=area, start=dt.date(2024, 1, 1), end=dt.date(2024, 6, 29), occasion_days=14))),
            ("population page data", lambda: population_for(
                user, location=area, start=dt.date(2024, 1, 1), end=dt.date(2024, 6, 29), occasion_days=14)),
        ]:
            started = time.perf_counter()
            result = run()
            extra = f"errors: {len(result)}" if isinstance(result, list) else ""
            self._line(name, time.perf_counter() - started, extra)
