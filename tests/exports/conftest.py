import datetime as dt

import pytest

from catalog.models import SightingStatus
from tests.factories import CameraStationFactory, IndividualFactory, LocationFactory, SightingFactory


@pytest.fixture
def survey(org_a, org_b):
    """Two stations of A in a UTC study area; identified sightings of two individuals in January 2024.

    Period 2024-01-01..12 in 4-day occasions: [1-4], [5-8], [9-12].
    S1 operates 1-10 Jan (usage 4, 4, 2 days), S2 5-20 Jan (usage 0, 4, 4).
    """
    area = LocationFactory(name="Sarychat Ertash", time_zone="UTC", latitude=41.0, longitude=75.0)
    s1 = CameraStationFactory(location=area, organization=org_a, code="S1", latitude=41.0, longitude=75.0,
                              operating_from=dt.date(2024, 1, 1), operating_to=dt.date(2024, 1, 10))
    s2 = CameraStationFactory(location=area, organization=org_a, code="S2", latitude=41.02, longitude=75.02,
                              operating_from=dt.date(2024, 1, 5), operating_to=dt.date(2024, 1, 20))
    # B's station in the same area: its effort is not A's.
    CameraStationFactory(location=area, organization=org_b, code="B1", latitude=41.5, longitude=75.5,
                         operating_from=dt.date(2024, 1, 1), operating_to=dt.date(2024, 1, 31))
    leo = IndividualFactory(code="SL-0001", name="Leo")
    ilbirs = IndividualFactory(code="SL-0002", name="Ilbirs", sex="female")

    def seen(station, day, hour, individual, status=SightingStatus.IDENTIFIED):
        return SightingFactory(
            organization=org_a, location=area, station=station, individual=individual, status=status,
            observed_at=dt.datetime(2024, 1, day, hour, 0, tzinfo=dt.timezone.utc),
        )

    sightings = [
        seen(s1, 2, 3, leo),
        seen(s1, 3, 22, leo),  # same individual, station and occasion: one proximity detection, two counts
        seen(s2, 6, 1, leo),
        seen(s2, 11, 23, ilbirs, SightingStatus.NEW_INDIVIDUAL),
        seen(s2, 15, 12, ilbirs),  # after the period
        seen(s1, 4, 12, None, SightingStatus.AWAITING_REVIEW),  # not identified
    ]
    return {"area": area, "s1": s1, "s2": s2, "leo": leo, "ilbirs": ilbirs, "sightings": sightings}
