"""CSV, GeoJSON and Camtrap DP exports: scoped, protected coordinates, and the DP validates."""

import csv
import io
import json

import pytest

from catalog.exports.camtrap_dp import camtrap_dp_validate, camtrap_dp_write, standard_dir
from catalog.exports.common import ExportScope
from catalog.exports.geojson import sightings_geojson
from catalog.exports.tables import individuals_csv, sightings_csv
from catalog.models import CameraStation, SightingStatus
from tests.factories import SightingFactory, SightingImageFactory

pytestmark = pytest.mark.django_db
needs_standards = pytest.mark.skipif(not standard_dir().exists(), reason="../shared/standards is not present")


@pytest.fixture
def at_b_station(survey, org_a):
    """A sighting of A placed only by B's station B1 (41.5, 75.5)."""
    return SightingFactory(
        organization=org_a, location=survey["area"], station=CameraStation.objects.get(code="B1"),
        individual=survey["leo"], status=SightingStatus.IDENTIFIED,
        observed_at=survey["sightings"][0].observed_at,
    )


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_sightings_csv_lists_the_users_sightings_with_protected_points(survey, at_b_station, alice, charlie, settings):
    settings.COORDINATE_GRID_DEGREES = 0.1
    mine = rows(sightings_csv(alice, ExportScope()))
    assert len(mine) == len(survey["sightings"]) + 1
    by_uuid = {r["sighting_uuid"]: r for r in mine}
    own = by_uuid[str(survey["sightings"][0].uuid)]
    assert (own["latitude"], own["longitude"], own["coordinates_exact"]) == ("41.0", "75.0", "true")
    # Placed by another organisation's station: its exact point is B's to share.
    other = by_uuid[str(at_b_station.uuid)]
    assert (other["latitude"], other["longitude"], other["coordinates_exact"]) == ("41.55", "75.55", "false")
    assert rows(sightings_csv(charlie, ExportScope())) == []


def test_sightings_csv_filters_by_area_and_dates(survey, alice):
    import datetime as dt

    scope = ExportScope(location=survey["area"], start=dt.date(2024, 1, 5), end=dt.date(2024, 1, 12))
    assert len(rows(sightings_csv(alice, scope))) == 2


def test_individuals_csv_counts_only_visible_sightings(survey, alice, charlie):
    mine = {r["code"]: r for r in rows(individuals_csv(alice, ExportScope()))}
    assert mine["SL-0001"]["sightings_visible_to_you"] == "3"
    assert mine["SL-0002"]["sex"] == "female"
    theirs = {r["code"]: r for r in rows(individuals_csv(charlie, ExportScope()))}
    assert theirs["SL-0001"]["sightings_visible_to_you"] == "0"
    assert "latitude" not in theirs["SL-0001"]


def test_geojson_has_protected_points_and_no_foreign_sightings(survey, at_b_station, alice, charlie, settings):
    settings.COORDINATE_GRID_DEGREES = 0.1
    fc = sightings_geojson(alice, ExportScope())
    points = {f["properties"]["uuid"]: f["geometry"]["coordinates"] for f in fc["features"]}
    assert points[str(survey["sightings"][0].uuid)] == [75.0, 41.0]
    assert points[str(at_b_station.uuid)] == [75.55, 41.55]
    assert sightings_geojson(charlie, ExportScope())["features"] == []
    json.dumps(fc)  # serialisable as is


@needs_standards
def test_camtrap_dp_export_validates_and_a_broken_value_does_not(survey, alice, tmp_path):
    SightingImageFactory(sighting=survey["sightings"][0], box_x=2, box_y=3, box_w=20, box_h=10, body_part="left_flank")
    SightingImageFactory(sighting=survey["sightings"][3], body_part="tail")
    out = tmp_path / "dp"
    summary = camtrap_dp_write(user=alice, scope=ExportScope(), directory=out)
    assert summary["media"] == 2 and summary["deployments"] == 2 and summary["sightings"] == 6
    assert camtrap_dp_validate(out) == []
    obs = rows((out / "observations.csv").read_text())
    assert {r["individualID"] for r in obs if r["observationLevel"] == "event"} == {"SL-0001", "SL-0002", ""}
    assert len(list((out / "media").iterdir())) == 2

    broken = (out / "observations.csv").read_text().replace(",animal,", ",animals,", 1)
    (out / "observations.csv").write_text(broken)
    errors = camtrap_dp_validate(out)
    assert errors and "observationType" in errors[0]


@needs_standards
def test_camtrap_dp_descriptor_is_checked_against_the_profile(survey, alice, tmp_path):
    out = tmp_path / "dp"
    camtrap_dp_write(user=alice, scope=ExportScope(), directory=out, include_media=False)
    descriptor = json.loads((out / "datapackage.json").read_text())
    del descriptor["temporal"]
    (out / "datapackage.json").write_text(json.dumps(descriptor))
    assert any("temporal" in e for e in camtrap_dp_validate(out))


@needs_standards
def test_camtrap_dp_for_another_station_owner_is_coarsened_and_says_so(survey, at_b_station, alice, tmp_path, settings):
    settings.COORDINATE_GRID_DEGREES = 0.1
    out = tmp_path / "dp"
    camtrap_dp_write(user=alice, scope=ExportScope(), directory=out, include_media=False)
    deps = {r["locationID"]: r for r in rows((out / "deployments.csv").read_text())}
    assert (deps["B1"]["latitude"], deps["B1"]["longitude"]) == ("41.55", "75.55")
    assert deps["B1"]["coordinateUncertainty"] and deps["S1"]["coordinateUncertainty"] == ""
    descriptor = json.loads((out / "datapackage.json").read_text())
    assert descriptor["coordinatePrecision"] == 0.1
    assert "41.5," not in (out / "deployments.csv").read_text()
    assert camtrap_dp_validate(out) == []


@needs_standards
def test_camtrap_dp_has_one_deployment_per_operating_period(survey, alice, tmp_path):
    import datetime as dt

    from catalog.models import StationOperatingPeriod

    s1, s2 = survey["s1"], survey["s2"]
    # S2 was set up on the 5th, went down after the 8th and was set up again on the 10th.
    StationOperatingPeriod.objects.create(station=s2, start=dt.date(2024, 1, 5), end=dt.date(2024, 1, 8), note="snow")
    StationOperatingPeriod.objects.create(station=s2, start=dt.date(2024, 1, 10), end=dt.date(2024, 1, 20))
    out = tmp_path / "dp"
    summary = camtrap_dp_write(user=alice, scope=ExportScope(), directory=out, include_media=False)
    assert summary["deployments"] == 3
    deps = {r["deploymentID"]: r for r in rows((out / "deployments.csv").read_text())}
    assert set(deps) == {f"station-{s1.pk}", f"station-{s2.pk}-2024-01-05", f"station-{s2.pk}-2024-01-10"}
    first, second = deps[f"station-{s2.pk}-2024-01-05"], deps[f"station-{s2.pk}-2024-01-10"]
    assert first["deploymentStart"].startswith("2024-01-05T00:00:00") and first["deploymentEnd"].startswith("2024-01-08T23:59:59")
    assert second["deploymentStart"].startswith("2024-01-10T00:00:00") and second["deploymentEnd"].startswith("2024-01-20T23:59:59")
    assert first["locationID"] == second["locationID"] == "S2"
    # The 6 January sighting is in the first period, the 11th and 15th in the second.
    events = [r for r in rows((out / "observations.csv").read_text()) if r["observationLevel"] == "event"]
    by_day = {r["eventStart"][:10]: r["deploymentID"] for r in events if r["deploymentID"].startswith(f"station-{s2.pk}")}
    assert by_day == {"2024-01-06": first["deploymentID"], "2024-01-11": second["deploymentID"],
                      "2024-01-15": second["deploymentID"]}
    assert camtrap_dp_validate(out) == []
