import math
from datetime import datetime, timedelta, timezone

import pytest

from catalog.geo import (
    EARTH_RADIUS_KM,
    TrackPoint,
    convex_hull_area_km2,
    haversine_km,
    longest_move,
    max_displacement_km,
    movement_summary,
    successive_moves,
)

T0 = datetime(2024, 3, 1, 6, 0, tzinfo=timezone.utc)


def test_haversine_of_one_degree_of_latitude_is_a_ninetieth_of_the_quarter_meridian():
    assert haversine_km((41.0, 75.0), (42.0, 75.0)) == pytest.approx(math.pi * EARTH_RADIUS_KM / 180, rel=1e-9)


def test_haversine_matches_a_known_city_distance():
    # Paris to London, about 343.5 km on the mean sphere.
    assert haversine_km((48.8566, 2.3522), (51.5074, -0.1278)) == pytest.approx(343.5, abs=1.0)


def test_haversine_shrinks_longitude_degrees_towards_the_pole():
    at_equator = haversine_km((0.0, 75.0), (0.0, 76.0))
    at_60 = haversine_km((60.0, 75.0), (60.0, 76.0))
    assert at_60 == pytest.approx(at_equator / 2, rel=2e-3)


def test_max_displacement_takes_the_farthest_pair_not_the_first_and_last():
    points = [(41.0, 75.0), (41.5, 75.0), (41.1, 75.0)]
    assert max_displacement_km(points) == pytest.approx(haversine_km((41.0, 75.0), (41.5, 75.0)))


def test_max_displacement_of_one_place_is_zero_and_of_nothing_is_none():
    assert max_displacement_km([(41.0, 75.0), (41.0, 75.0)]) == 0.0
    assert max_displacement_km([]) is None


def test_max_displacement_of_a_long_track_uses_the_hull_and_still_finds_the_farthest_pair():
    ring = [(41.0 + 0.2 * math.sin(k / 50), 75.0 + 0.3 * math.cos(k / 50)) for k in range(400)]
    expected = max(haversine_km(a, b) for a in ring[::7] for b in ring[::7])
    assert max_displacement_km(ring) == pytest.approx(expected, rel=5e-3)
    assert max_displacement_km(ring) >= expected


def test_longest_move_reports_distance_and_days_between_successive_sightings():
    track = [
        TrackPoint(T0 + timedelta(days=10), 41.2, 75.0),  # given out of order on purpose
        TrackPoint(T0, 41.0, 75.0),
        TrackPoint(T0 + timedelta(days=12), 41.25, 75.0),
    ]
    move = longest_move(track)
    assert move.start.when == T0 and move.end.when == T0 + timedelta(days=10)
    assert move.km == pytest.approx(haversine_km((41.0, 75.0), (41.2, 75.0)))
    assert move.days == pytest.approx(10.0)
    assert [round(m.days) for m in successive_moves(track)] == [10, 2]


def test_longest_move_needs_two_sightings():
    assert longest_move([TrackPoint(T0, 41.0, 75.0)]) is None


def test_convex_hull_area_of_a_small_box_matches_the_spherical_formula():
    lat1, lat2, lon1, lon2 = 41.0, 41.2, 75.0, 75.2
    corners = [(lat1, lon1), (lat1, lon2), (lat2, lon2), (lat2, lon1), (41.1, 75.1)]  # + an interior point
    exact = EARTH_RADIUS_KM**2 * math.radians(lon2 - lon1) * (math.sin(math.radians(lat2)) - math.sin(math.radians(lat1)))
    assert convex_hull_area_km2(corners) == pytest.approx(exact, rel=1e-3)


def test_convex_hull_area_works_across_the_antimeridian():
    box = [(10.0, 179.95), (10.0, -179.95), (10.1, -179.95), (10.1, 179.95)]
    exact = EARTH_RADIUS_KM**2 * math.radians(0.1) * (math.sin(math.radians(10.1)) - math.sin(math.radians(10.0)))
    assert convex_hull_area_km2(box) == pytest.approx(exact, rel=1e-3)


def test_convex_hull_area_needs_three_distinct_points():
    assert convex_hull_area_km2([(41.0, 75.0), (41.1, 75.1), (41.0, 75.0)]) is None
    assert convex_hull_area_km2([(41.0, 75.0), (41.1, 75.0), (41.2, 75.0)]) == pytest.approx(0.0, abs=1e-6)


def test_movement_summary_counts_distinct_stations_and_ignores_sightings_without_one():
    track = [
        TrackPoint(T0, 41.0, 75.0, station=1),
        TrackPoint(T0 + timedelta(days=1), 41.0, 75.0, station=1),
        TrackPoint(T0 + timedelta(days=5), 41.1, 75.2, station=2),
        TrackPoint(T0 + timedelta(days=9), 41.3, 75.1, station=None),
    ]
    summary = movement_summary(track)
    assert summary.sightings == 4
    assert summary.distinct_points == 3
    assert summary.stations_visited == 2
    assert summary.convex_hull_km2 > 0
    assert summary.longest_move.km == pytest.approx(haversine_km((41.1, 75.2), (41.3, 75.1)))
