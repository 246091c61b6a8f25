"""Imports account for every row: each event lands whole or is reported refused with its reason; a
package whose tables can't be read ends "failed" with that reason; the upload is always removed."""

import pytest
from django.core.files import File

from catalog.imports import jobs
from catalog.imports.camtrap_dp import import_camtrap_dp
from catalog.imports.common import ImportRefused, Source
from catalog.models import CameraStation, ImportJob, Location, Sighting, SightingImage
from tests.factories import LocationFactory
from tests.hardening.conftest import media_files, photo_event
from tests.imports.conftest import exif_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    monkeypatch.setattr(jobs, "async_task", lambda *a, **kw: None)


def _run_job(path, org, user, kind="camtrap_dp", location=None) -> ImportJob:
    with open(path, "rb") as fh:
        job = jobs.import_job_start(organization=org, started_by=user, kind=kind, file=File(fh, name=path.name),
                                    location=location)
    assert job.file  # stored until the job ends
    return jobs.import_job_execute(job_id=job.pk)


def test_an_event_whose_only_photo_is_refused_is_not_an_imageless_sighting(org_a, olga, camtrap_zip):
    good_media, good_obs = photo_event(1, "D1", "good.jpg")
    bad_media, bad_obs = photo_event(2, "D1", "broken.jpg")
    path = camtrap_zip(
        deployments=[{"deploymentID": "D1", "locationName": "S1", "latitude": "42.1", "longitude": "77.5"}],
        media=[good_media, bad_media], observations=[good_obs, bad_obs],
        files={"media/good.jpg": exif_jpeg((200, 10, 10)), "media/broken.jpg": b"\xff\xd8\xff\xe0 not a jpeg"},
    )
    report = import_camtrap_dp(source=Source(path), organization=org_a, user=olga)
    rows = {r["file"]: r for r in report.rows}
    assert rows["event e2"]["outcome"] == "refused" and "none of this event's photos" in rows["event e2"]["reason"]
    assert rows["media/broken.jpg"]["outcome"] == "refused" and rows["media/broken.jpg"]["reason"]
    assert rows["media/broken.jpg"]["sighting"] is None  # its sighting was rolled back
    assert rows["event e1"]["outcome"] == "imported"
    assert Sighting.objects.count() == 1 and SightingImage.objects.count() == 1
    assert not Sighting.objects.filter(images__isnull=True).exists()


def test_every_row_of_the_package_is_in_the_report(org_a, olga, camtrap_zip, media_root):
    events = [photo_event(n, "D1", f"p{n}.jpg") for n in range(1, 4)]
    blank = {"observationID": "o8", "deploymentID": "D1", "eventID": "e8", "observationLevel": "event",
             "observationType": "blank"}
    path = camtrap_zip(
        deployments=[{"deploymentID": "D1", "locationName": "S1", "latitude": "42.1", "longitude": "77.5"},
                     {"deploymentID": "D2", "locationName": "S2", "latitude": "inf", "longitude": "77.5"}],
        media=[m for m, _o in events] + [{"mediaID": "m9", "deploymentID": "D1", "filePath": "media/orphan.jpg"}],
        observations=[o for _m, o in events] + [blank],
        files={f"media/p{n}.jpg": exif_jpeg((60 * n, 10, 10)) for n in range(1, 4)},
    )
    job = _run_job(path, org_a, olga)
    assert job.state == "done", job.error
    files = [r["file"] for r in job.report]
    assert files.count("deployments line 2 (deployment D1)") == 1 and files.count("deployments line 3 (deployment D2)") == 1
    assert {f"media/p{n}.jpg" for n in range(1, 4)} | {"media/orphan.jpg"} <= set(files)
    assert {"event e1", "event e2", "event e3"} <= set(files)
    assert ("event e8", "skipped") in [(r["file"], r["outcome"]) for r in job.report]
    assert len(files) == 2 + 4 + 4
    assert not [f for f in media_files(media_root) if f.startswith("imports/")]


@pytest.mark.parametrize("tables, reason", [
    ({"observations.csv": b"id;kind\n1;animal\n"}, "lacks the column(s) observationID, deploymentID, observationType"),
    ({"media.csv": b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe garbage"}, "is not UTF-8 text"),
    ({"deployments.csv": b""}, "deployments.csv is empty"),
    ({"observations.csv": b'observationID,deploymentID,observationType\n"o1,D1,animal\n'}, "observations.csv"),
    ({"datapackage.json": b"[1, 2, 3]"}, "datapackage.json is not a JSON object"),
    ({"datapackage.json": b"{not json"}, "datapackage.json can't be read"),
])
def test_a_package_whose_tables_cant_be_read_fails_with_the_reason_and_leaves_nothing(
        org_a, olga, camtrap_zip, media_root, tables, reason):
    media, obs = photo_event(1, "D1", "a.jpg")
    path = camtrap_zip(
        deployments=[{"deploymentID": "D1", "locationName": "S1", "latitude": "42.1", "longitude": "77.5"}],
        media=[media], observations=[obs], files={"media/a.jpg": exif_jpeg((200, 10, 10))}, tables=tables,
    )
    job = _run_job(path, org_a, olga)
    assert job.state == "failed"
    assert reason in job.error
    assert not Sighting.objects.exists() and not CameraStation.objects.exists()
    assert media_files(media_root) == []  # the upload is gone too
    assert not job.file


def test_a_job_that_breaks_unexpectedly_still_removes_its_upload_and_keeps_its_report(org_a, olga, camtrap_zip,
                                                                                    media_root, monkeypatch):
    media, obs = photo_event(1, "D1", "a.jpg")
    path = camtrap_zip(
        deployments=[{"deploymentID": "D1", "locationName": "S1", "latitude": "42.1", "longitude": "77.5"}],
        media=[media], observations=[obs], files={"media/a.jpg": exif_jpeg((200, 10, 10))},
    )
    from catalog.imports import camtrap_dp

    def broken(self, group, stations):
        raise RuntimeError("disk full")

    monkeypatch.setattr(camtrap_dp.CamtrapDpImporter, "_import_group", broken)
    job = _run_job(path, org_a, olga)
    assert job.state == "failed" and "disk full" in job.error
    assert [r["file"] for r in job.report] == ["deployments line 2 (deployment D1)"]
    assert media_files(media_root) == []


def test_a_contributor_cannot_create_a_study_area_through_a_camtrap_import(org_a, bob, olga, camtrap_zip):
    media, obs = photo_event(1, "D1", "a.jpg")
    package = dict(
        deployments=[{"deploymentID": "D1", "locationName": "S1", "latitude": "42.1", "longitude": "77.5"}],
        media=[media], observations=[obs], files={"media/a.jpg": exif_jpeg((200, 10, 10))}, title="New valley",
    )
    path = camtrap_zip(**package)
    with pytest.raises(ImportRefused, match="only an organisation admin may create study areas"):
        import_camtrap_dp(source=Source(path), organization=org_a, user=bob)
    assert not Location.objects.exists() and not CameraStation.objects.exists()

    job = _run_job(path, org_a, bob)
    assert job.state == "failed" and "“New valley”" in job.error and "choose an existing study area" in job.error

    # Picking an existing study area works for the contributor; the org admin may create one.
    area = LocationFactory(name="Sarychat")
    report = import_camtrap_dp(source=Source(path), organization=org_a, user=bob, location=area)
    assert report.counts()["imported"] >= 2 and Location.objects.count() == 1
    Sighting.objects.all().delete()
    SightingImage.objects.all().delete()
    import_camtrap_dp(source=Source(camtrap_zip(**package, name="again.zip")), organization=org_a, user=olga)
    assert Location.objects.filter(name="New valley").exists()


def test_a_zip_import_with_an_unreadable_stations_csv_fails_with_the_reason(org_a, bob, make_zip, media_root):
    area = LocationFactory(name="Sarychat")
    path = make_zip({"stations.csv": b"name;lat;lon\nS1;41;78\n", "S1/a.jpg": exif_jpeg((200, 10, 10), "2024:01:02 10:00:00")})
    job = _run_job(path, org_a, bob, kind="zip", location=area)
    assert job.state == "failed" and "lacks the column(s) code, latitude, longitude" in job.error
    assert media_files(media_root) == [] and not Sighting.objects.exists()
