"""Zip of a camera-trap folder: stations from folder names, EXIF times, sightings by time gap."""

import pytest

from catalog.imports.common import Source
from catalog.imports.zip_folder import import_camera_zip
from catalog.models import CameraStation, Sighting, SightingImage
from tests.factories import CameraStationFactory, LocationFactory
from tests.imports.conftest import exif_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def area(org_a):
    location = LocationFactory(name="Sarychat", time_zone="Asia/Bishkek")
    CameraStationFactory(location=location, organization=org_a, code="S1", latitude=41.9, longitude=78.3)
    return location


def outcomes(report):
    return {row["file"]: (row["outcome"], row["reason"]) for row in report.rows}


def test_zip_groups_photos_into_sightings_by_station_and_time_gap(area, org_a, bob, make_zip):
    path = make_zip({
        "trip/S1/a.jpg": exif_jpeg((200, 10, 10), "2024:01:02 10:00:00"),
        "trip/S1/b.jpg": exif_jpeg((10, 200, 10), "2024:01:02 10:05:00"),
        "trip/S1/c.jpg": exif_jpeg((10, 10, 200), "2024:01:02 12:00:00"),
        "trip/S1/notes.txt": b"battery changed",
        "trip/S1/d.jpg": exif_jpeg((90, 90, 90)),  # no EXIF date-time
        "trip/S1/broken.jpg": b"\xff\xd8not really a jpeg",
        "loose.jpg": exif_jpeg((1, 2, 3), "2024:01:02 10:00:00"),
    })
    report = import_camera_zip(source=Source(path), organization=org_a, user=bob, location=area, gap_minutes=30)
    out = outcomes(report)
    assert out["trip/S1/a.jpg"][0] == out["trip/S1/b.jpg"][0] == out["trip/S1/c.jpg"][0] == "imported"
    assert out["trip/S1/notes.txt"] == ("skipped", "not an image file")
    assert out["trip/S1/d.jpg"][0] == "refused" and "EXIF" in out["trip/S1/d.jpg"][1]
    assert out["trip/S1/broken.jpg"][0] == "refused" and out["trip/S1/broken.jpg"][1]
    assert out["loose.jpg"] == ("refused", "not inside a station folder")
    sightings = list(Sighting.objects.filter(organization=org_a).order_by("observed_at"))
    assert [s.images.count() for s in sightings] == [2, 1]
    # EXIF time is local to the study area (Asia/Bishkek, UTC+6).
    assert sightings[0].observed_at.isoformat() == "2024-01-02T04:00:00+00:00"
    assert {s.station.code for s in sightings} == {"S1"}


def test_rerun_skips_what_is_already_in(area, org_a, bob, make_zip):
    path = make_zip({"S1/a.jpg": exif_jpeg((200, 10, 10), "2024:01:02 10:00:00"),
                     "S1/b.jpg": exif_jpeg((10, 200, 10), "2024:01:02 10:05:00")})
    import_camera_zip(source=Source(path), organization=org_a, user=bob, location=area)
    again = import_camera_zip(source=Source(path), organization=org_a, user=bob, location=area)
    assert again.counts() == {"imported": 0, "duplicate": 2, "skipped": 0, "refused": 0}
    assert Sighting.objects.count() == 1 and SightingImage.objects.count() == 2


def test_unknown_station_comes_from_stations_csv_or_gps_or_is_refused(area, org_a, bob, make_zip):
    path = make_zip({
        "stations.csv": b"code,latitude,longitude,operating_from,operating_to\nS7,41.95,78.35,2024-01-01,2024-02-01\n",
        "S7/a.jpg": exif_jpeg((200, 10, 10), "2024:01:02 10:00:00"),
        "S8/a.jpg": exif_jpeg((10, 200, 10), "2024:01:02 10:00:00", gps=(41.5, 78.25)),
        "S9/a.jpg": exif_jpeg((10, 10, 200), "2024:01:02 10:00:00"),
    })
    out = outcomes(import_camera_zip(source=Source(path), organization=org_a, user=bob, location=area))
    assert out["S7/a.jpg"][0] == out["S8/a.jpg"][0] == "imported"
    assert out["S9/a.jpg"][0] == "refused" and "unknown station" in out["S9/a.jpg"][1]
    s7 = CameraStation.objects.get(code="S7")
    assert (s7.latitude, s7.operating_to.isoformat(), s7.organization) == (41.95, "2024-02-01", org_a)
    assert CameraStation.objects.get(code="S8").latitude == pytest.approx(41.5, abs=1e-3)
    assert not CameraStation.objects.filter(code="S9").exists()


def test_a_failure_part_way_leaves_no_half_imported_sighting(area, org_a, bob, make_zip, monkeypatch, media_root):
    import catalog.imports.zip_folder as zip_folder

    real = zip_folder.image_add
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(**kwargs)

    monkeypatch.setattr(zip_folder, "image_add", flaky)
    path = make_zip({"S1/a.jpg": exif_jpeg((200, 10, 10), "2024:01:02 10:00:00"),
                     "S1/b.jpg": exif_jpeg((10, 200, 10), "2024:01:02 10:05:00")})
    report = import_camera_zip(source=Source(path), organization=org_a, user=bob, location=area)
    assert report.counts()["refused"] == 2
    assert all("nothing of it was kept" in r["reason"] and "disk full" in r["reason"] for r in report.rows)
    assert not Sighting.objects.exists() and not SightingImage.objects.exists()
    stored = list((media_root / "images").rglob("*.*")) if (media_root / "images").exists() else []
    assert stored == []

    monkeypatch.setattr(zip_folder, "image_add", real)
    assert import_camera_zip(source=Source(path), organization=org_a, user=bob, location=area).counts()["imported"] == 2
    assert Sighting.objects.count() == 1


def test_zip_refuses_paths_that_climb_out(area, org_a, bob, make_zip):
    path = make_zip({"../S1/a.jpg": exif_jpeg((200, 10, 10), "2024:01:02 10:00:00")})
    report = import_camera_zip(source=Source(path), organization=org_a, user=bob, location=area)
    assert outcomes(report) == {"../S1/a.jpg": ("refused", "unsafe path in the zip")}
    assert not Sighting.objects.exists()


def test_import_command_can_queue_a_zip_on_the_bulk_cluster(area, org_a, bob, make_zip, monkeypatch, capsys,
                                                             django_capture_on_commit_callbacks):
    from django.core.management import call_command

    from catalog.models import ImportJob

    queued = []
    monkeypatch.setattr("catalog.imports.jobs.async_task", lambda *a, **kw: queued.append(kw["cluster"]))
    path = make_zip({"S1/a.jpg": exif_jpeg((200, 10, 10), "2024:01:02 10:00:00")})
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_bulk", str(path), "--org", org_a.slug, "--location", area.name, "--user", "bob", "--queue")
    job = ImportJob.objects.get()
    assert queued == ["bulk"] and (job.kind, job.location, job.started_by) == ("zip", area, bob)
    assert f"queued import job {job.pk}" in capsys.readouterr().out
