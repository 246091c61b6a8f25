"""Study areas and camera stations set up in the web UI by org admins, scoped like everything else."""

import json

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from catalog.models import CameraStation, Location, Membership, Role, StationOperatingPeriod
from catalog.study_areas import boundary_parse
from tests.factories import CameraStationFactory, LocationFactory

SQUARE = {"type": "Polygon", "coordinates": [[[75.0, 41.0], [75.2, 41.0], [75.2, 41.2], [75.0, 41.2], [75.0, 41.0]]]}


@pytest.fixture
def olga(org_a):
    """Org admin of organisation A."""
    user = User.objects.create_user(username="olga", password="pw-olga")
    Membership.objects.create(user=user, organization=org_a, role=Role.ORG_ADMIN)
    return user


def _new_area(client, org, **extra):
    data = {"organization": org.pk, "name": "Zorkul", "country": "Tajikistan", "time_zone": "Asia/Dushanbe",
            "boundary_geojson": json.dumps(SQUARE), **extra}
    return client.post(reverse("setup_location_new"), data)


def test_org_admin_creates_a_study_area_with_a_drawn_boundary(client, olga, org_a):
    client.force_login(olga)
    response = _new_area(client, org_a)
    area = Location.objects.get(name="Zorkul")
    assert response.status_code == 302 and response["Location"] == reverse("setup_location", args=[area.pk])
    assert area.organization == org_a and area.time_zone == "Asia/Dushanbe"
    assert json.loads(area.boundary_geojson)["type"] == "Polygon"
    assert (area.latitude, area.longitude) == pytest.approx((41.08, 75.08))


def test_a_bad_boundary_or_time_zone_is_refused_and_nothing_is_stored(client, olga, org_a):
    client.force_login(olga)
    response = _new_area(client, org_a, boundary_geojson='{"type": "Point", "coordinates": [75, 41]}')
    assert response.status_code == 400
    assert "The boundary must be a polygon." in response.content.decode()
    assert _new_area(client, org_a, time_zone="Mars/Olympus").status_code == 400
    assert not Location.objects.filter(name="Zorkul").exists()


def test_boundary_parse_refuses_corners_off_the_globe():
    bad = {"type": "Polygon", "coordinates": [[[75, 41], [275, 41], [75, 42], [75, 41]]]}
    with pytest.raises(Exception, match="outside"):
        boundary_parse(json.dumps(bad))
    assert boundary_parse("") == ("", None)


def test_contributors_and_reviewers_may_not_create_study_areas(client, alice, bob, org_a):
    for user in (alice, bob):
        client.force_login(user)
        assert client.get(reverse("setup_location_new")).status_code == 403
        assert _new_area(client, org_a).status_code == 403
    assert not Location.objects.filter(name="Zorkul").exists()


def test_org_admin_cannot_create_a_study_area_for_another_organisation(client, charlie, org_a):
    client.force_login(charlie)
    assert _new_area(client, org_a).status_code == 400  # org A is not among charlie's choices
    assert not Location.objects.filter(name="Zorkul").exists()


def test_reviewer_reads_the_area_but_gets_no_form(client, alice, org_a):
    area = LocationFactory(name="Sarychat", organization=org_a)
    client.force_login(alice)
    body = client.get(reverse("setup_location", args=[area.pk])).content.decode()
    assert 'id="read-only-note"' in body and 'id="location-form"' not in body
    assert client.post(reverse("setup_location", args=[area.pk]), {"name": "X"}).status_code == 403
    area.refresh_from_db()
    assert area.name == "Sarychat"


def test_another_organisations_area_is_not_found(client, charlie, org_a):
    area = LocationFactory(name="Sarychat", organization=org_a)
    client.force_login(charlie)
    assert client.get(reverse("setup_location", args=[area.pk])).status_code == 404


def test_org_admin_edits_the_time_zone_of_their_area(client, olga, org_a):
    area = LocationFactory(name="Sarychat", organization=org_a, time_zone="UTC")
    client.force_login(olga)
    response = client.post(reverse("setup_location", args=[area.pk]), {
        "organization": org_a.pk, "name": "Sarychat-Ertash", "country": "Kyrgyzstan", "time_zone": "Asia/Bishkek",
        "boundary_geojson": "",
    })
    assert response.status_code == 302
    area.refresh_from_db()
    assert (area.name, area.time_zone) == ("Sarychat-Ertash", "Asia/Bishkek")


def _periods(*rows, initial=0):
    """The station form's operating-period rows: (start, end, note[, delete]) each, as a browser posts them."""
    data = {"periods-TOTAL_FORMS": str(len(rows)), "periods-INITIAL_FORMS": str(initial),
            "periods-MIN_NUM_FORMS": "0", "periods-MAX_NUM_FORMS": "1000"}
    for i, (start, end, note, *delete) in enumerate(rows):
        data.update({f"periods-{i}-start": start, f"periods-{i}-end": end, f"periods-{i}-note": note})
        if delete:
            data[f"periods-{i}-DELETE"] = "on"
    return data


def _station_data(area, org, operating_from="2024-01-01", operating_to="2024-03-31", **extra):
    return {"organization": org.pk, "location": area.pk, "code": "Z1", "latitude": "41.1", "longitude": "75.1",
            **_periods((operating_from, operating_to, ""), ("", "", "")), **extra}


def test_org_admin_adds_a_station_with_a_position_and_operating_period(client, olga, org_a):
    area = LocationFactory(name="Zorkul", organization=org_a)
    client.force_login(olga)
    page = client.get(reverse("setup_station_new", args=[area.pk]))
    assert page.status_code == 200 and 'data-setup-map="point"' in page.content.decode()
    response = client.post(reverse("setup_station_new", args=[area.pk]), _station_data(area, org_a))
    assert response.status_code == 302
    station = CameraStation.objects.get(code="Z1")
    assert (station.organization, station.location, station.latitude) == (org_a, area, 41.1)
    assert str(station.operating_to) == "2024-03-31"
    assert [(str(p.start), str(p.end)) for p in station.operating_periods.all()] == [("2024-01-01", "2024-03-31")]


def test_station_form_refuses_a_period_that_ends_before_it_starts_and_a_missing_position(client, olga, org_a):
    area = LocationFactory(name="Zorkul", organization=org_a)
    client.force_login(olga)
    url = reverse("setup_station_new", args=[area.pk])
    assert client.post(url, _station_data(area, org_a, operating_to="2023-12-01")).status_code == 400
    assert client.post(url, _station_data(area, org_a, latitude="", longitude="")).status_code == 400
    assert client.post(url, _station_data(area, org_a, latitude="nan")).status_code == 400
    assert not CameraStation.objects.filter(code="Z1").exists()


def test_station_in_another_organisations_area_is_refused(client, charlie, org_a, org_b):
    area = LocationFactory(name="Zorkul", organization=org_a)
    client.force_login(charlie)
    assert client.post(reverse("setup_station_new", args=[area.pk]), _station_data(area, org_b)).status_code == 404
    assert not CameraStation.objects.exists()


def test_org_admin_moves_their_station(client, olga, org_a):
    area = LocationFactory(name="Zorkul", organization=org_a)
    station = CameraStationFactory(location=area, organization=org_a, code="Z1")
    client.force_login(olga)
    response = client.post(reverse("setup_station", args=[station.pk]), _station_data(area, org_a, latitude="41.15"))
    assert response.status_code == 302
    station.refresh_from_db()
    assert station.latitude == 41.15


def test_set_up_pages_never_show_another_organisations_exact_station(client, charlie, org_a, org_b):
    shared = LocationFactory(name="Shared area")
    secret = CameraStationFactory(location=shared, organization=org_a, code="SECRET", latitude=41.123456, longitude=75.654321)
    client.force_login(charlie)
    for url in (reverse("setup_home"), reverse("setup_location", args=[shared.pk])):
        body = client.get(url).content.decode()
        assert "41.123456" not in body and "SECRET" not in body
    assert client.get(reverse("setup_station", args=[secret.pk])).status_code == 404


def test_submit_form_offers_own_and_shared_stations_only(client, bob, org_a, org_b):
    shared = LocationFactory(name="Shared area")
    CameraStationFactory(location=shared, organization=org_a, code="MINE")
    CameraStationFactory(location=shared, organization=None, code="COMMON")
    CameraStationFactory(location=shared, organization=org_b, code="THEIRS")
    client.force_login(bob)
    body = client.get(reverse("submit")).content.decode()
    assert "MINE" in body and "COMMON" in body and "THEIRS" not in body


def test_navigation_links_to_set_up_and_bulk_import(client, bob):
    client.force_login(bob)
    body = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("setup_home")}"' in body
    assert f'href="{reverse("imports")}"' in body


def test_site_admin_edits_a_shared_study_area(client, staff):
    area = LocationFactory(name="Shared area", time_zone="UTC")
    client.force_login(staff)
    response = client.post(reverse("setup_location", args=[area.pk]), {
        "name": "Shared area", "country": "", "time_zone": "Asia/Kathmandu", "boundary_geojson": json.dumps(SQUARE),
    })
    assert response.status_code == 302
    area.refresh_from_db()
    assert area.time_zone == "Asia/Kathmandu" and area.organization is None


def test_org_admin_reads_a_shared_study_area_but_may_not_change_it(client, olga):
    area = LocationFactory(name="Shared area")
    client.force_login(olga)
    assert 'id="read-only-note"' in client.get(reverse("setup_location", args=[area.pk])).content.decode()
    assert client.post(reverse("setup_location", args=[area.pk]), {"name": "Mine now"}).status_code == 403


def test_org_admin_records_a_station_that_went_down_and_was_set_up_again(client, olga, org_a):
    area = LocationFactory(name="Zorkul", organization=org_a)
    station = CameraStationFactory(location=area, organization=org_a, code="Z1")
    client.force_login(olga)
    url = reverse("setup_station", args=[station.pk])
    data = {**_station_data(area, org_a), **_periods(("2024-05-01", "", "new batteries"), ("2024-01-01", "2024-03-31", ""),
                                                     ("", "", ""))}
    assert client.post(url, data).status_code == 302
    station.refresh_from_db()
    assert [(str(p.start), p.end and str(p.end), p.note) for p in station.operating_periods.all()] == [
        ("2024-01-01", "2024-03-31", ""), ("2024-05-01", None, "new batteries")]
    # The station's own dates are the span, for the lists and the API.
    assert (str(station.operating_from), station.operating_to) == ("2024-01-01", None)
    page = client.get(url).content.decode()
    assert 'name="periods-TOTAL_FORMS" value="4"' in page and "new batteries" in page  # two saved, two blank

    # Removing one by its Delete box.
    data = {**_station_data(area, org_a), **_periods(("2024-01-01", "2024-03-31", "", "on"),
                                                     ("2024-05-01", "", "new batteries"), initial=2)}
    assert client.post(url, data).status_code == 302
    assert list(station.operating_periods.values_list("note", flat=True)) == ["new batteries"]


@pytest.mark.parametrize("rows", [
    [("2024-01-01", "2024-03-31", ""), ("2024-03-31", "2024-06-30", "")],  # share a day
    [("2024-01-01", "", ""), ("2024-05-01", "2024-06-30", "")],  # the first never ended
    [("2024-04-01", "2024-03-01", "")],  # ends before it starts
    [("", "", "a note without a start")],
])
def test_station_form_refuses_overlapping_or_broken_periods_and_stores_nothing(client, olga, org_a, rows):
    area = LocationFactory(name="Zorkul", organization=org_a)
    station = CameraStationFactory(location=area, organization=org_a, code="Z1")
    StationOperatingPeriod.objects.create(station=station, start="2023-06-01", end="2023-09-30")
    client.force_login(olga)
    response = client.post(reverse("setup_station", args=[station.pk]),
                           {**_station_data(area, org_a, latitude="41.15"), **_periods(*rows)})
    assert response.status_code == 400
    station.refresh_from_db()
    assert station.latitude != 41.15
    assert [(str(p.start), str(p.end)) for p in station.operating_periods.all()] == [("2023-06-01", "2023-09-30")]


def test_periods_are_shown_read_only_to_members_and_hidden_from_other_organisations(client, alice, charlie, org_a):
    area = LocationFactory(name="Zorkul")
    station = CameraStationFactory(location=area, organization=org_a, code="Z1")
    StationOperatingPeriod.objects.create(station=station, start="2023-06-01", end="2023-09-30", note="first")
    url = reverse("setup_station", args=[station.pk])
    client.force_login(alice)  # reviewer of A: reads the station, no form
    page = client.get(url).content.decode()
    assert "periods-TOTAL_FORMS" not in page and "2023-06-01" in page and "first" in page
    assert client.post(url, {**_station_data(area, org_a), **_periods(("2024-01-01", "", ""))}).status_code == 403
    client.force_login(charlie)  # admin of B: A's station is not there for B
    assert client.get(url).status_code == 404
    assert client.post(url, {**_station_data(area, org_a), **_periods(("2024-01-01", "", ""))}).status_code == 404
    assert list(station.operating_periods.values_list("note", flat=True)) == ["first"]


def test_the_migration_moves_a_single_period_into_a_period_row():
    import importlib

    convert = importlib.import_module("catalog.migrations.0009_station_operating_periods").period_from_dates
    from datetime import date

    assert convert(date(2024, 1, 1), date(2024, 3, 31)) == (date(2024, 1, 1), date(2024, 3, 31))
    assert convert(date(2024, 1, 1), None) == (date(2024, 1, 1), None)  # still operating
    assert convert(None, date(2024, 3, 31)) is None  # no start: the station's own field keeps it
    assert convert(None, None) is None
    assert convert(date(2024, 3, 1), date(2024, 1, 1)) == (date(2024, 3, 1), None)
