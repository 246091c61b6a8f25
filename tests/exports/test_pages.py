"""Science pages: exports, population, imports with progress; always scoped (charlie)."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.imports.jobs import import_job_execute
from catalog.models import ImportJob
from tests.imports.conftest import exif_jpeg

pytestmark = pytest.mark.django_db


def test_exports_page_links_every_format(client, alice):
    client.force_login(alice)
    page = client.get("/science/exports/").content.decode()
    for fmt in ("sightings.csv", "individuals.csv", "sightings.geojson", "camtrap-dp.zip", "secr.zip"):
        assert f"/science/exports/{fmt}" in page


def test_secr_download_needs_area_and_period_and_gives_both_files(client, survey, alice):
    client.force_login(alice)
    assert client.get("/science/exports/secr.zip").status_code == 400
    response = client.get("/science/exports/secr.zip", {"location": survey["area"].pk, "start": "2024-01-01",
                                                         "end": "2024-01-12", "occasion_days": 4})
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert sorted(zf.namelist()) == ["capthist.txt", "traps.txt"]


def test_population_page_shows_counts_estimates_and_assumptions(client, survey, alice, charlie):
    query = {"location": survey["area"].pk, "start": "2024-01-01", "end": "2024-01-12", "occasion_days": 4}
    client.force_login(alice)
    page = client.get("/science/population/", query).content.decode()
    assert "Individuals detected" in page and "Closed population" in page and "Chao Mh" in page
    assert "<td>2</td>" in page  # two individuals
    client.force_login(charlie)
    assert "<td>0</td>" in client.get("/science/population/", query).content.decode()
    assert client.get("/science/population/", {"start": "2024-01-12", "end": "2024-01-01"}).status_code == 200


def test_import_page_queues_a_job_and_its_page_shows_the_report(client, survey, bob, charlie, org_a, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("catalog.imports.jobs.async_task", lambda *a, **kw: None)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("S1/a.jpg", exif_jpeg((200, 10, 10), "2024:01:05 10:00:00"))
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/science/imports/", {
            "organization": org_a.pk, "kind": "zip", "location": survey["area"].pk, "gap_minutes": 30,
            "file": SimpleUploadedFile("cards.zip", buf.getvalue(), content_type="application/zip"),
        })
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/science/imports/{job.pk}/"
    assert 'http-equiv="refresh"' in client.get(response["Location"]).content.decode()
    import_job_execute(job_id=job.pk)
    page = client.get(response["Location"]).content.decode()
    assert "S1/a.jpg" in page and "imported" in page and 'http-equiv="refresh"' not in page
    report = client.get(f"/science/imports/{job.pk}/report.csv").content.decode()
    assert report.splitlines()[1].startswith("S1/a.jpg,imported,")
    client.force_login(charlie)
    assert client.get(response["Location"]).status_code == 404
    assert client.get(f"/science/imports/{job.pk}/report.csv").status_code == 404
    # charlie may not pick A in the form: not a choice for him.
    form_page = client.get("/science/imports/").content.decode()
    assert org_a.name not in form_page
