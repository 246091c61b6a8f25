"""Capture-history golden test on a small hand-checked survey (see the `survey` fixture)."""

import datetime as dt

import pytest

from catalog.exports.secr import captures_for, secr_files
from catalog.population import m0_estimate, summarise

pytestmark = pytest.mark.django_db

JAN1, JAN12 = dt.date(2024, 1, 1), dt.date(2024, 1, 12)


def body(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_proximity_capthist_and_traps_match_the_hand_checked_files(survey, alice):
    captures = captures_for(alice, location=survey["area"], start=JAN1, end=JAN12, occasion_days=4)
    files = secr_files(alice, captures, detector="proximity")
    # Leo: S1 in occasion 1 (twice, one proximity detection) and S2 in occasion 2; Ilbirs: S2 in occasion 3.
    assert body(files.capthist) == [
        "Sarychat_Ertash SL-0001 1 S1",
        "Sarychat_Ertash SL-0001 2 S2",
        "Sarychat_Ertash SL-0002 3 S2",
    ]
    # Origin = mean of the stations (41.01, 75.01); x = dlon * 111320 * cos(41.01 deg) = -0.01 * 84000.6 = -840.0,
    # y = dlat * 110574 = -1105.7. Usage: S1 operates 1-10 Jan -> 4, 4, 2 days; S2 5-20 Jan -> 0, 4, 4.
    # B's station B1 is B's effort, not alice's: left out.
    assert body(files.traps) == ["S1 -840.0 -1105.7 4 4 2", "S2 840.0 1105.7 0 4 4"]
    assert "latitude 41.01, longitude 75.01" in files.traps
    assert "COARSENED" not in files.traps and not files.coarsened
    assert "binary.usage = FALSE" in files.capthist


def test_count_detector_keeps_repeat_detections(survey, alice):
    captures = captures_for(alice, location=survey["area"], start=JAN1, end=JAN12, occasion_days=4)
    rows = body(secr_files(alice, captures, detector="count").capthist)
    assert rows.count("Sarychat_Ertash SL-0001 1 S1") == 2 and len(rows) == 4


def test_capture_histories_feed_the_population_estimators(survey, alice):
    captures = captures_for(alice, location=survey["area"], start=JAN1, end=JAN12, occasion_days=4)
    assert captures.histories() == {"SL-0001": {0, 1}, "SL-0002": {2}}
    summary = summarise(captures.histories(), len(captures.occasions))
    assert (summary.individuals, summary.captures, summary.occasions) == (2, 3, 3)
    assert m0_estimate(summary).n_hat is not None


def test_outsider_gets_no_captures_and_coarsened_coordinates(survey, charlie, settings):
    settings.COORDINATE_GRID_DEGREES = 0.1
    captures = captures_for(charlie, location=survey["area"], start=JAN1, end=JAN12, occasion_days=4)
    assert captures.records == []
    files = secr_files(charlie, captures)
    # Charlie's own station B1 only; the origin is the (own, exact) station itself.
    assert body(files.traps) == ["B1 0.0 0.0 4 4 4"]
    assert "41.02" not in files.traps and "75.02" not in files.traps


def test_detections_outside_operating_dates_raise_usage_and_say_so(survey, alice):
    survey["s2"].operating_from = dt.date(2024, 1, 10)
    survey["s2"].save()
    captures = captures_for(alice, location=survey["area"], start=JAN1, end=JAN12, occasion_days=4)
    files = secr_files(alice, captures)
    assert "S2 840.0 1105.7 0 1 3" in body(files.traps)
    assert "outside their station's operating periods" in files.capthist


def test_a_station_of_another_organisation_is_coarsened_and_flagged(survey, alice, settings):
    import math

    from catalog.models import CameraStation, SightingStatus
    from tests.factories import SightingFactory

    settings.COORDINATE_GRID_DEGREES = 0.1
    b1 = CameraStation.objects.get(code="B1")
    SightingFactory(organization=survey["s1"].organization, location=survey["area"], station=b1,
                    individual=survey["leo"], status=SightingStatus.IDENTIFIED,
                    observed_at=dt.datetime(2024, 1, 7, 12, tzinfo=dt.timezone.utc))
    captures = captures_for(alice, location=survey["area"], start=JAN1, end=JAN12, occasion_days=4)
    files = secr_files(alice, captures)
    assert files.coarsened and "COARSENED" in files.traps
    # Origin: the stations' mean (41.19, 75.19) snapped to the 0.1 grid -> (41.15, 75.15); B1 (41.5, 75.5) -> (41.55, 75.55).
    assert "latitude 41.15, longitude 75.15" in files.traps
    row = next(line for line in body(files.traps) if line.startswith("B1 "))
    x, y = (float(v) for v in row.split()[1:3])
    assert x == pytest.approx(0.40 * 111320 * math.cos(math.radians(41.15)), abs=0.1)
    assert y == pytest.approx(0.40 * 110574, abs=0.1)


def test_usage_sums_the_days_of_each_operating_period(survey, alice):
    from catalog.models import StationOperatingPeriod

    # S2 was down from the 9th to the 10th and set up again on the 11th.
    StationOperatingPeriod.objects.create(station=survey["s2"], start=dt.date(2024, 1, 5), end=dt.date(2024, 1, 8))
    StationOperatingPeriod.objects.create(station=survey["s2"], start=dt.date(2024, 1, 11), end=dt.date(2024, 1, 20))
    captures = captures_for(alice, location=survey["area"], start=JAN1, end=JAN12, occasion_days=4)
    traps = body(secr_files(alice, captures, detector="proximity").traps)
    assert traps == ["S1 -840.0 -1105.7 4 4 2", "S2 840.0 1105.7 0 4 2"]
