import pytest
from django.utils import timezone

from catalog.models import Sighting, SightingStatus
from catalog.privacy import coarsen, sighting_point_for
from catalog.selectors import sightings_for


@pytest.mark.django_db
def test_partner_sees_only_own_organisations_sightings(alice, charlie, org_a, org_b):
    mine = Sighting.objects.create(organization=org_a, observed_at=timezone.now())
    theirs = Sighting.objects.create(organization=org_b, observed_at=timezone.now())
    assert list(sightings_for(alice)) == [mine]
    assert list(sightings_for(charlie)) == [theirs]


def test_coarsen_snaps_to_grid_cell_centre():
    assert coarsen(41.23456, 75.98765, 0.1) == (41.25, 75.95)
    assert coarsen(-0.01, -0.01, 0.1) == (-0.05, -0.05)


@pytest.mark.django_db
def test_outsider_gets_coarsened_sighting_point(alice, charlie, org_a):
    s = Sighting.objects.create(organization=org_a, observed_at=timezone.now(), latitude=41.23456, longitude=75.98765,
                                status=SightingStatus.SUBMITTED)
    assert sighting_point_for(alice, s) == (41.23456, 75.98765, True)
    assert sighting_point_for(charlie, s) == (41.25, 75.95, False)


@pytest.mark.django_db
def test_sighting_at_another_organisations_station_keeps_that_station_coarse(alice, org_a, org_b):
    from catalog.models import CameraStation, Location

    loc = Location.objects.create(name="Sarychat")
    theirs = CameraStation.objects.create(location=loc, code="B1", organization=org_b, latitude=41.23456, longitude=75.98765)
    unowned = CameraStation.objects.create(location=loc, code="U1", latitude=41.23456, longitude=75.98765)
    at_theirs = Sighting.objects.create(organization=org_a, observed_at=timezone.now(), station=theirs)
    at_unowned = Sighting.objects.create(organization=org_a, observed_at=timezone.now(), station=unowned)
    assert sighting_point_for(alice, at_theirs) == (41.25, 75.95, False)
    assert sighting_point_for(alice, at_unowned) == (41.23456, 75.98765, True)
