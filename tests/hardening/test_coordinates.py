"""Coordinates are finite and in range at every entry point, down to the database's own checks.

Run on SQLite and on PostgreSQL (DATABASE_URL=postgres://...): SQLite stores NaN as NULL,
PostgreSQL stores NaN and orders it above every number.
"""

import io
import math

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from catalog.forms_submit import DetailsForm
from catalog.geo import parse_point
from catalog.imaging import image_validate
from catalog.imports.camtrap_dp import import_camtrap_dp
from catalog.imports.common import Source
from catalog.imports.zip_folder import import_camera_zip
from catalog.models import CameraStation, Location, Sighting, SightingImage
from tests.factories import CameraStationFactory, LocationFactory, SightingFactory, SightingImageFactory
from tests.hardening.conftest import photo_event
from tests.imports.conftest import exif_jpeg

BAD = [float("nan"), float("inf"), float("-inf"), 190.5, -1000.0]  # impossible as latitude and as longitude


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "1e999", "91", "-90.0001", "", "north", None])
def test_the_import_parser_refuses_every_impossible_latitude_with_a_reason(text):
    with pytest.raises(ValueError) as info:
        parse_point(text, "77.5")
    assert "latitude" in str(info.value)


def test_the_import_parser_reads_the_extremes():
    assert parse_point("-90", "180") == (-90.0, 180.0)
    assert parse_point(" 42.5 ", "-77.25") == (42.5, -77.25)


@pytest.mark.django_db
@pytest.mark.parametrize("value", BAD)
def test_model_validation_refuses_non_finite_or_out_of_range_points(org_a, value):
    location = LocationFactory()
    station = CameraStation(location=location, organization=org_a, code="X", latitude=value, longitude=77.0)
    with pytest.raises(ValidationError) as info:
        station.full_clean()
    assert "latitude" in info.value.message_dict
    sighting = SightingFactory.build(organization=org_a, location=location, latitude=42.0, longitude=value)
    with pytest.raises(ValidationError) as info:
        sighting.full_clean()
    assert "longitude" in info.value.message_dict


def _refused_by_the_database(queryset, **values) -> bool:
    """True when the update is refused; else the stored value must have become NULL (SQLite's NaN)."""
    try:
        with transaction.atomic():
            queryset.update(**values)
    except IntegrityError:
        return True
    return False


@pytest.mark.django_db
@pytest.mark.parametrize("value", BAD)
def test_the_database_refuses_impossible_points_even_without_full_clean(org_a, value):
    station = CameraStationFactory(organization=org_a, latitude=42.0, longitude=77.0)
    sighting = SightingFactory(organization=org_a, latitude=42.0, longitude=77.0)
    image = SightingImageFactory(sighting=sighting, exif_latitude=42.0, exif_longitude=77.0)
    location = station.location
    # A required field: refused outright (on SQLite NaN becomes NULL, which NOT NULL refuses).
    assert _refused_by_the_database(CameraStation.objects.filter(pk=station.pk), latitude=value)
    assert _refused_by_the_database(CameraStation.objects.filter(pk=station.pk), longitude=value * 2)
    # Optional fields: refused, or (SQLite's NaN) stored as no point at all.
    for queryset, fields in (
        (Sighting.objects.filter(pk=sighting.pk), ("latitude", "longitude")),
        (SightingImage.objects.filter(pk=image.pk), ("exif_latitude", "exif_longitude")),
        (Location.objects.filter(pk=location.pk), ("latitude", "longitude")),
    ):
        _refused_by_the_database(queryset, **{fields[0]: value, fields[1]: value})
        for lat, lon in queryset.values_list(*fields):
            assert lat is None or (math.isfinite(lat) and -90 <= lat <= 90), (queryset.model, lat)
            assert lon is None or (math.isfinite(lon) and -180 <= lon <= 180), (queryset.model, lon)


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["nan", "Infinity", "1e999", "95"])
def test_the_api_refuses_impossible_points_with_400(world, api, org_a, olga, value):
    client = api(olga)
    before = CameraStation.objects.count(), Sighting.objects.count()
    response = client.post("/api/stations/", {"location": world["location"].pk, "organization": org_a.pk,
                                              "code": "NAN1", "latitude": value, "longitude": 77.0}, format="json")
    assert response.status_code == 400 and "latitude" in response.json()
    response = client.post("/api/sightings/", {"organization": org_a.pk, "observed_at": "2024-03-01T06:00:00Z",
                                               "latitude": value, "longitude": 77.0}, format="json")
    assert response.status_code == 400 and "latitude" in response.json()
    assert (CameraStation.objects.count(), Sighting.objects.count()) == before


@pytest.mark.django_db
def test_a_json_nan_literal_is_refused_by_the_api(world, api, org_a, alice):
    response = api(alice).generic("POST", "/api/sightings/", '{"organization": %d, "observed_at": "2024-03-01T06:00:00Z", '
                                  '"latitude": NaN, "longitude": 77.0}' % org_a.pk, content_type="application/json")
    assert response.status_code == 400
    assert not Sighting.objects.filter(latitude__isnull=False, observed_at__year=2024, notes="").exclude(
        pk__in=[world[k]["sighting"].pk for k in "abc"]).exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999", "91"])
def test_the_details_form_refuses_impossible_latitudes(value):
    form = DetailsForm({"observed_at": "2024-03-01T06:00", "latitude": value, "longitude": "77"}, stations=CameraStation.objects.none())
    assert not form.is_valid() and "latitude" in form.errors


@pytest.mark.django_db
def test_a_stations_csv_with_impossible_rows_refuses_those_rows_by_line_and_imports_the_rest(org_a, bob, make_zip):
    area = LocationFactory(name="Sarychat", time_zone="UTC")
    path = make_zip({
        "stations.csv": b"code,latitude,longitude\nS7,nan,78.3\nS8,41.9,inf\nS9,91,78.3\nS10,41.9,78.3\n",
        "S7/a.jpg": exif_jpeg((200, 10, 10), "2024:01:02 10:00:00"),
        "S8/b.jpg": exif_jpeg((10, 200, 10), "2024:01:02 10:00:00"),
        "S9/c.jpg": exif_jpeg((10, 10, 200), "2024:01:02 10:00:00"),
        "S10/d.jpg": exif_jpeg((90, 90, 20), "2024:01:02 10:00:00"),
    })
    report = import_camera_zip(source=Source(path), organization=org_a, user=bob, location=area)
    rows = {r["file"]: (r["outcome"], r["reason"]) for r in report.rows}
    assert rows["stations.csv line 2 (station S7)"] == ("refused", "latitude nan is not a finite number")
    assert rows["stations.csv line 3 (station S8)"] == ("refused", "longitude inf is not a finite number")
    assert rows["stations.csv line 4 (station S9)"][0] == "refused" and "outside" in rows["stations.csv line 4 (station S9)"][1]
    assert rows["stations.csv line 5 (station S10)"] == ("imported", "")
    assert rows["S7/a.jpg"][0] == "refused" and "line 2" in rows["S7/a.jpg"][1]
    assert rows["S10/d.jpg"][0] == "imported"
    assert sorted(CameraStation.objects.values_list("code", flat=True)) == ["S10"]
    assert Sighting.objects.count() == 1


@pytest.mark.django_db
def test_a_camtrap_deployment_with_an_impossible_position_is_refused_by_line_and_the_rest_goes_on(
        org_a, olga, camtrap_zip):
    media1, obs1 = photo_event(1, "D1", "a.jpg")
    media2, obs2 = photo_event(2, "D2", "b.jpg")
    path = camtrap_zip(
        deployments=[{"deploymentID": "D1", "locationName": "S1", "latitude": "NaN", "longitude": "77.5"},
                     {"deploymentID": "D2", "locationName": "S2", "latitude": "42.1", "longitude": "77.5"}],
        media=[media1, media2], observations=[obs1, obs2],
        files={"media/a.jpg": exif_jpeg((200, 10, 10)), "media/b.jpg": exif_jpeg((10, 200, 10))},
    )
    report = import_camtrap_dp(source=Source(path), organization=org_a, user=olga)
    rows = {r["file"]: (r["outcome"], r["reason"]) for r in report.rows}
    assert rows["deployments line 2 (deployment D1)"][0] == "refused"
    assert "latitude NaN is not a finite number" in rows["deployments line 2 (deployment D1)"][1]
    assert rows["event e1"][0] == "refused" and "line 2" in rows["event e1"][1]
    assert rows["media/a.jpg"][0] == "refused"
    assert rows["event e2"][0] == "imported" and rows["media/b.jpg"][0] == "imported"
    assert list(CameraStation.objects.values_list("code", flat=True)) == ["S2"]


def _gps_jpeg(gps_ifd: dict) -> bytes:
    img = Image.new("RGB", (64, 48), (120, 30, 30))
    exif = Image.Exif()
    exif.get_ifd(0x8825).update(gps_ifd)
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


@pytest.mark.parametrize("gps", [
    {1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (77.0, 0.0, 0.0)},  # latitude past the pole
    {1: "N", 2: (42.0, 0.0, 0.0), 3: "E", 4: (200.0, 0.0, 0.0)},
    {1: "N", 2: (IFDRational(42, 0), 0.0, 0.0), 3: "E", 4: (77.0, 0.0, 0.0)},  # reads back as NaN
])
def test_exif_gps_out_of_range_or_nan_is_ignored(gps):
    _image, info = image_validate(_gps_jpeg(gps))
    assert info.exif_latitude is None and info.exif_longitude is None


def test_exif_gps_in_range_is_read():
    _image, info = image_validate(_gps_jpeg({1: "S", 2: (42.0, 30.0, 0.0), 3: "W", 4: (77.0, 15.0, 0.0)}))
    assert info.exif_latitude == pytest.approx(-42.5) and info.exif_longitude == pytest.approx(-77.25)
