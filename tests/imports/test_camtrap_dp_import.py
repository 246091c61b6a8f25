"""Camtrap DP import: the official example package, round trip of our own export, re-runs."""

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management import call_command

from catalog.exports.camtrap_dp import camtrap_dp_validate, camtrap_dp_write
from catalog.exports.common import ExportScope
from catalog.imaging import image_validate
from catalog.imports.camtrap_dp import import_camtrap_dp
from catalog.imports.common import ImportRefused, Source
from catalog.models import CameraStation, Individual, Location, ReviewDecision, Sighting, SightingImage
from tests.factories import CameraStationFactory, IndividualFactory, LocationFactory, SightingFactory, SightingImageFactory
from tests.imports.conftest import exif_jpeg

pytestmark = pytest.mark.django_db

EXAMPLE = Path(settings.BASE_DIR).parent / "shared" / "standards" / "camtrap-dp-1.0.2" / "example"
needs_example = pytest.mark.skipif(not EXAMPLE.exists(), reason="../shared/standards is not present")


@needs_example
def test_official_example_package_imports_its_animal_events_and_local_media(org_a, olga):
    report = import_camtrap_dp(source=Source(EXAMPLE), organization=org_a, user=olga)
    counts = report.counts()
    # 34 events: 24 with an animal -> 24 sightings; 10 local JPEGs imported, no URL fetched.
    assert Sighting.objects.filter(organization=org_a).count() == 24
    assert SightingImage.objects.count() == 10
    assert CameraStation.objects.count() == 4
    assert counts["refused"] == 0
    reasons = Counter(r["reason"] for r in report.rows if r["outcome"] == "skipped")
    assert reasons["remote file (URL), not fetched"] > 200
    assert all(r["outcome"] == "imported" for r in report.rows if r["file"].startswith("media/"))
    duck = Sighting.objects.filter(notes__contains="Anas platyrhynchos").first()
    assert duck is not None and duck.status == "submitted"
    # Every media row of the package is accounted for exactly once.
    media_rows = [r for r in report.rows if not r["file"].startswith(("event ", "deployments line"))]
    assert len(media_rows) == 423
    assert [r["outcome"] for r in report.rows if r["file"].startswith("deployments line")] == ["imported"] * 4

    again = import_camtrap_dp(source=Source(EXAMPLE), organization=org_a, user=olga)
    assert again.counts()["imported"] == 0
    assert Sighting.objects.count() == 24 and SightingImage.objects.count() == 10


def test_package_without_descriptor_is_refused_with_a_clear_message(org_a, alice, tmp_path):
    (tmp_path / "observations.csv").write_text("observationID\n")
    with pytest.raises(ImportRefused, match="datapackage.json"):
        import_camtrap_dp(source=Source(tmp_path), organization=org_a, user=alice)


def _snapshot():
    sightings = sorted(
        (s.observed_at.isoformat(), s.station.code, s.location.name, s.status, s.individual.code if s.individual else "",
         s.notes, tuple(sorted((i.sha256, i.body_part, i.box) for i in s.images.all())))
        for s in Sighting.objects.select_related("station", "location", "individual")
    )
    individuals = sorted(Individual.objects.values_list("code", "name", "sex"))
    return sightings, individuals


@needs_example
def test_round_trip_export_then_import_into_an_empty_database_gives_the_same_catalog(org_a, alice, olga, tmp_path):
    area = LocationFactory(name="Tosor", time_zone="Asia/Bishkek")
    s1 = CameraStationFactory(location=area, organization=org_a, code="T1", latitude=42.1, longitude=77.5)
    s2 = CameraStationFactory(location=area, organization=org_a, code="T2", latitude=42.2, longitude=77.6)
    leo = IndividualFactory(code="SL-0007", name="Leo", sex="male")
    ana = IndividualFactory(code="SL-0009", name="Ana", sex="female")
    def sighting(station, day, status, individual, notes=""):
        return SightingFactory(organization=org_a, location=area, station=station, status=status, individual=individual,
                               observed_at=dt.datetime(2024, 2, day, 5, 30, tzinfo=dt.timezone.utc), notes=notes)

    a = sighting(s1, 1, "identified", leo, "two cats")
    b = sighting(s2, 3, "new_individual", ana)
    sighting(s2, 4, "unidentifiable", None)
    d = sighting(s1, 9, "submitted", None)
    for s, color, part, box in ((a, (200, 0, 0), "left_flank", (4, 6, 30, 20)), (a, (0, 200, 0), "tail", None),
                                (b, (0, 0, 200), "head", None), (d, (90, 90, 0), "unknown", None)):
        img = SightingImageFactory(sighting=s, body_part=part, file=ContentFile(exif_jpeg(color), name="x.jpg"))
        img.sha256 = image_validate(img.file.open("rb").read())[1].sha256
        if box:
            img.box_x, img.box_y, img.box_w, img.box_h = box
        img.save()

    out = tmp_path / "export"
    camtrap_dp_write(user=alice, scope=ExportScope(), directory=out)
    assert camtrap_dp_validate(out) == []
    before = _snapshot()

    # Empty the catalog: what comes back must come from the package alone.
    ReviewDecision.objects.all().delete()
    SightingImage.objects.all().delete()
    Sighting.objects.all().delete()
    Individual.objects.all().delete()
    CameraStation.objects.all().delete()
    Location.objects.all().delete()

    report = import_camtrap_dp(source=Source(out), organization=org_a, user=olga)
    assert report.counts()["refused"] == 0, report.rows
    assert _snapshot() == before
    assert CameraStation.objects.get(code="T1").latitude == 42.1


def test_import_command_prints_the_per_file_report(org_a, alice, tmp_path, capsys):
    area = LocationFactory(name="Sarychat", time_zone="UTC")
    CameraStationFactory(location=area, organization=org_a, code="S1")
    folder = tmp_path / "cards" / "S1"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(exif_jpeg((200, 10, 10), "2024:01:02 10:00:00"))
    (folder / "b.txt").write_text("x")
    call_command("import_bulk", str(tmp_path / "cards"), "--org", org_a.slug, "--location", "Sarychat", "--user", "alice")
    out = capsys.readouterr().out
    assert "imported  S1/a.jpg" in out and "skipped   S1/b.txt  (not an image file)" in out
    assert "imported: 1, duplicate: 0, skipped: 1, refused: 0" in out


def test_a_job_that_breaks_says_so_instead_of_staying_running(org_a, alice, monkeypatch, django_capture_on_commit_callbacks):
    from catalog.imports import jobs

    monkeypatch.setattr(jobs, "async_task", lambda *a, **kw: None)
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.import_job_start(organization=org_a, started_by=alice, kind="camtrap_dp",
                                    file=ContentFile(b"PK\x05\x06" + b"\0" * 18, name="empty.zip"))
    job = jobs.import_job_execute(job_id=job.pk)
    assert job.state == "failed" and "datapackage.json" in job.error

    def broken(**kwargs):
        raise RuntimeError("database went away")

    job2 = jobs.import_job_start(organization=org_a, started_by=alice, kind="camtrap_dp",
                                 file=ContentFile(b"PK\x05\x06" + b"\0" * 18, name="empty.zip"))
    monkeypatch.setattr(jobs, "run_import", broken)
    job2 = jobs.import_job_execute(job_id=job2.pk)
    assert job2.state == "failed" and "database went away" in job2.error and "skips them" in job2.error


def test_the_deployments_of_a_station_with_several_operating_periods_come_back_as_its_periods(org_a, alice, olga,
                                                                                                 tmp_path):
    from catalog.models import StationOperatingPeriod

    area = LocationFactory(name="Tosor", time_zone="UTC")
    station = CameraStationFactory(location=area, organization=org_a, code="T1", latitude=42.1, longitude=77.5)
    for start, end in ((dt.date(2024, 2, 1), dt.date(2024, 2, 10)), (dt.date(2024, 3, 1), dt.date(2024, 3, 31))):
        StationOperatingPeriod.objects.create(station=station, start=start, end=end)
    for i, day in enumerate((dt.date(2024, 2, 5), dt.date(2024, 3, 9))):
        sighting = SightingFactory(organization=org_a, location=area, station=station, status="submitted",
                                   observed_at=dt.datetime.combine(day, dt.time(5, 30), tzinfo=dt.timezone.utc))
        SightingImageFactory(sighting=sighting, file=ContentFile(exif_jpeg((200, 10 * i, 0)), name="x.jpg"))
    out = tmp_path / "export"
    assert camtrap_dp_write(user=alice, scope=ExportScope(), directory=out)["deployments"] == 2

    SightingImage.objects.all().delete()
    Sighting.objects.all().delete()
    CameraStation.objects.all().delete()
    report = import_camtrap_dp(source=Source(out), organization=org_a, user=olga)
    assert report.counts()["refused"] == 0, report.rows
    station = CameraStation.objects.get(code="T1")
    assert [(p.start, p.end) for p in station.operating_periods.all()] == [
        (dt.date(2024, 2, 1), dt.date(2024, 2, 10)), (dt.date(2024, 3, 1), dt.date(2024, 3, 31))]
    assert (station.operating_from, station.operating_to) == (dt.date(2024, 2, 1), dt.date(2024, 3, 31))
    assert Sighting.objects.filter(station=station).count() == 2

    # A re-import adds no period twice.
    import_camtrap_dp(source=Source(out), organization=org_a, user=olga)
    assert station.operating_periods.count() == 2
