"""One night capture pinned through every page, form, API response and export: 03:22 local on
2012-07-10 in Asia/Dushanbe (UTC+5) is 22:22 UTC on 2012-07-09."""

import csv
import datetime as dt
import io
import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from catalog.exports.common import ExportScope
from catalog.exports.population import population_for
from catalog.exports.secr import captures_for
from catalog.exports.tables import sightings_csv
from catalog.models import Sighting, SightingStatus
from tests.factories import (
    CameraStationFactory,
    IndividualFactory,
    LocationFactory,
    SightingFactory,
    SightingImageFactory,
)

NIGHT_UTC = dt.datetime(2012, 7, 9, 22, 22, tzinfo=dt.timezone.utc)


@pytest.fixture
def night(org_a):
    area = LocationFactory(name="Zorkul", time_zone="Asia/Dushanbe", organization=org_a)
    station = CameraStationFactory(location=area, organization=org_a, code="Z1")
    cat = IndividualFactory(code="cat02", name="")
    sighting = SightingFactory(
        organization=org_a, location=area, station=station, individual=cat,
        status=SightingStatus.IDENTIFIED, observed_at=NIGHT_UTC,
    )
    SightingImageFactory(sighting=sighting, exif_datetime=NIGHT_UTC)
    return sighting


def _client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_sighting_detail_shows_the_local_time_and_names_the_zone(night, alice):
    body = _client(alice).get(reverse("sighting_detail", args=[night.pk])).content.decode()
    assert "2012-07-10 03:22" in body
    assert "Asia/Dushanbe" in body
    assert "2012-07-09 22:22" not in body


def test_photo_caption_shows_the_exif_time_in_the_same_zone(night, alice):
    body = _client(alice).get(reverse("sighting_detail", args=[night.pk])).content.decode()
    assert "2012-07-10 03:22:00" in body


def test_edit_form_offers_the_local_time_and_names_the_zone(night, alice):
    body = _client(alice).get(reverse("sighting_edit", args=[night.pk])).content.decode()
    assert 'value="2012-07-10T03:22:00"' in body
    assert "(Asia/Dushanbe)" in body


def test_saving_the_edit_form_reads_the_time_in_the_study_areas_zone(night, alice):
    Sighting.objects.filter(pk=night.pk).update(status=SightingStatus.AWAITING_REVIEW, individual=None)
    response = _client(alice).post(reverse("sighting_edit", args=[night.pk]), {
        "observed_at": "2012-07-10T03:22:00", "station": night.station_id, "latitude": "", "longitude": "", "notes": "",
        "save": "1",
    })
    assert response.status_code == 302
    night.refresh_from_db()
    assert night.observed_at == NIGHT_UTC


def test_individuals_list_dates_a_night_capture_on_its_local_day(night, alice):
    body = _client(alice).get(reverse("individual_list")).content.decode()
    assert "2012-07-10 – 2012-07-10" in body
    assert "2012-07-09" not in body


def test_individual_page_dates_first_and_last_seen_locally(night, alice):
    body = _client(alice).get(reverse("individual_detail", args=[night.individual_id])).content.decode()
    assert "2012-07-10" in body
    assert "2012-07-09" not in body


def test_sightings_csv_gives_local_time_with_offset_and_zone(night, alice):
    rows = list(csv.DictReader(io.StringIO(sightings_csv(alice, ExportScope()))))
    assert rows[0]["observed_at"] == "2012-07-10T03:22:00+05:00"
    assert rows[0]["time_zone"] == "Asia/Dushanbe"


def test_export_period_counts_by_local_date(night, alice):
    on_the_day = sightings_csv(alice, ExportScope(start=dt.date(2012, 7, 10), end=dt.date(2012, 7, 10)))
    day_before = sightings_csv(alice, ExportScope(start=dt.date(2012, 7, 9), end=dt.date(2012, 7, 9)))
    assert str(night.uuid) in on_the_day
    assert str(night.uuid) not in day_before


def test_api_gives_local_time_with_offset_and_zone(night, alice):
    client = APIClient()
    client.force_authenticate(alice)
    data = client.get(f"/api/sightings/{night.pk}/").json()
    assert data["observed_at"] == "2012-07-10T03:22:00+05:00"
    assert data["time_zone"] == "Asia/Dushanbe"
    images = client.get(f"/api/sightings/{night.pk}/images/").json()
    assert images[0]["exif_datetime"] == "2012-07-10T03:22:00+05:00"


def test_api_reads_a_time_without_offset_in_the_stations_zone(night, alice):
    client = APIClient()
    client.force_authenticate(alice)
    response = client.post("/api/sightings/", {
        "organization": night.organization_id, "station": night.station_id, "observed_at": "2012-07-10T03:22:00",
    }, format="json")
    assert response.status_code == 201, response.content
    assert Sighting.objects.get(pk=response.json()["id"]).observed_at == NIGHT_UTC


def test_population_occasion_is_the_local_date(night, alice):
    on_day = captures_for(alice, location=night.location, start=dt.date(2012, 7, 10), end=dt.date(2012, 7, 10), occasion_days=1)
    before = captures_for(alice, location=night.location, start=dt.date(2012, 7, 9), end=dt.date(2012, 7, 9), occasion_days=1)
    assert on_day.records == [("cat02", 0, night.station_id)]
    assert before.records == []
    result = population_for(alice, location=night.location, start=dt.date(2012, 7, 10), end=dt.date(2012, 7, 11), occasion_days=1)
    assert result["detections"] == 1


def test_map_date_filter_uses_the_local_date(night, alice):
    client = _client(alice)
    url = reverse("map_sightings_geojson")
    on_day = json.loads(client.get(url, {"date_from": "2012-07-10", "date_to": "2012-07-10"}).content)
    day_before = json.loads(client.get(url, {"date_to": "2012-07-09"}).content)
    assert [f["id"] for f in on_day["features"]] == [night.pk]
    assert on_day["features"][0]["properties"]["date"] == "2012-07-10"
    assert day_before["features"] == []
