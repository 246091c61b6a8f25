"""Imports, exports and population over the API: scoped, queued on the bulk cluster, no coordinate leaks."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.imports.jobs import import_job_execute
from catalog.models import ImportJob, Sighting
from tests.imports.conftest import exif_jpeg

pytestmark = pytest.mark.django_db


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def upload(org, location, name="cards.zip"):
    data = zip_bytes({"A01/a.jpg": exif_jpeg((200, 10, 10), "2024:03:02 10:00:00"),
                      "A01/b.jpg": exif_jpeg((10, 200, 10), "2024:03:02 10:03:00")})
    return {"organization": org.pk, "kind": "zip", "location": location.pk, "gap_minutes": 30,
            "file": SimpleUploadedFile(name, data, content_type="application/zip")}


def test_import_is_queued_on_the_bulk_cluster_and_reports_per_file(
    api, world, bob, charlie, org_a, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr("catalog.imports.jobs.async_task", lambda *a, **kw: queued.append((a, kw)))
    with django_capture_on_commit_callbacks(execute=True):
        response = api(bob).post("/api/imports/", upload(org_a, world["location"]), format="multipart")
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    assert queued == [(("catalog.imports.tasks.import_run", job_id), {"cluster": "bulk", "task_name": f"import-{job_id}"})]
    assert response.json()["state"] == "queued"

    import_job_execute(job_id=job_id)
    body = api(bob).get(f"/api/imports/{job_id}/").json()
    assert body["state"] == "done" and body["counts"]["imported"] == 2
    assert (body["progress_done"], body["progress_total"]) == (2, 2)
    assert {r["file"] for r in body["report"]} == {"A01/a.jpg", "A01/b.jpg"}
    assert api(charlie).get(f"/api/imports/{job_id}/").status_code == 404
    assert api(charlie).get("/api/imports/").json()["results"] == []
    # The upload is dropped once the report is stored; a redelivered task is a no-op.
    job = ImportJob.objects.get(pk=job_id)
    assert not job.file
    import_job_execute(job_id=job_id)
    assert Sighting.objects.filter(organization=org_a, images__isnull=False).distinct().count() == 2  # A's fixture + 1


def test_import_needs_contributor_of_the_organisation(api, world, charlie, dora, org_a, org_c):
    assert api(charlie).post("/api/imports/", upload(org_a, world["location"]), format="multipart").status_code == 403
    assert api(dora).post("/api/imports/", upload(org_c, world["location"]), format="multipart").status_code == 403
    assert not ImportJob.objects.exists()


def test_zip_import_without_study_area_is_a_clear_400(api, world, bob, org_a):
    body = upload(org_a, world["location"])
    body.pop("location")
    response = api(bob).post("/api/imports/", body, format="multipart")
    assert response.status_code == 400 and "study area" in response.content.decode()


def test_exports_and_population_over_the_api(api, world, alice, charlie):
    response = api(alice).get("/api/exports/sightings.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert str(world["a"]["sighting"].uuid) in response.content.decode()
    assert str(world["a"]["sighting"].uuid) not in api(charlie).get("/api/exports/sightings.csv").content.decode()
    assert api(alice).get("/api/exports/secr.zip").status_code == 400  # needs area and period
    assert api(alice).get("/api/exports/nonsense").status_code == 404
    pop = api(alice).get("/api/population/", {"location": world["location"].pk, "start": "2024-02-01", "end": "2024-03-31",
                                               "occasion_days": 7})
    assert pop.status_code == 200, pop.content
    assert pop.json()["individuals"] == 1 and pop.json()["estimates"][0]["model"] == "M0"
    assert api().get("/api/population/").status_code == 401
    assert api().get("/api/exports/sightings.csv").status_code == 401


def test_no_exact_coordinate_of_another_organisation_reaches_an_outsider(api, world, charlie, settings):
    """A's station (41.9137, 78.3456), sighting (41.9148, 78.3467) and EXIF (41.9149, 78.3468) stay A's."""
    settings.COORDINATE_GRID_DEGREES = 0.1
    client = api(charlie)
    period = {"location": world["location"].pk, "start": "2024-02-01", "end": "2024-03-31"}
    bodies = [
        client.get("/api/stations/").content,
        client.get(f"/api/stations/{world['a']['station'].pk}/").content,
        client.get("/api/images/").content,
        client.get(f"/api/images/{world['a']['image'].pk}/").content,
        client.get("/api/sightings/").content,
        client.get("/api/exports/sightings.csv").content,
        client.get("/api/exports/sightings.geojson").content,
        client.get("/api/population/", period).content,
    ]
    for fmt in ("camtrap-dp.zip", "secr.zip"):
        response = client.get(f"/api/exports/{fmt}", period)
        assert response.status_code == 200
        with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
            bodies += [zf.read(n) for n in zf.namelist() if not n.startswith("media/")]
    text = b"\n".join(bodies).decode()
    assert "41.95" in text  # A's points do appear, coarsened
    for exact in ("41.913", "41.914", "78.345", "78.346"):
        assert exact not in text


def test_camtrap_dp_download_can_leave_the_images_out(api, world, alice):
    with_media = api(alice).get("/api/exports/camtrap-dp.zip")
    without = api(alice).get("/api/exports/camtrap-dp.zip", {"media": "0"})
    names = lambda r: zipfile.ZipFile(io.BytesIO(r.content)).namelist()  # noqa: E731
    assert any(n.startswith("media/") for n in names(with_media))
    assert not any(n.startswith("media/") for n in names(without)) and "observations.csv" in names(without)
