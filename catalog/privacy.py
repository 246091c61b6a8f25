"""Protected locations: exact coordinates only for the owning organisation and site admins."""

import math

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User

from catalog.models import CameraStation, Sighting


def coarsen(lat: float | None, lon: float | None, grid: float | None = None) -> tuple[float | None, float | None]:
    """Snap (lat, lon) to the centre of its grid cell (degrees), so that the exact point can't be recovered."""
    if lat is None or lon is None:
        return (None, None)
    step = grid if grid is not None else settings.COORDINATE_GRID_DEGREES
    decimals = max(0, -math.floor(math.log10(step))) + 2
    snap = lambda v: round((math.floor(v / step) + 0.5) * step, decimals)  # noqa: E731
    return (snap(lat), snap(lon))


def _member_org_ids(user: User | AnonymousUser) -> set[int]:
    cached = getattr(user, "_slreid_org_ids", None)
    if cached is None:
        cached = set(user.memberships.values_list("organization_id", flat=True)) if user.is_authenticated else set()
        if user.is_authenticated:
            user._slreid_org_ids = cached
    return cached


def sees_exact(user: User | AnonymousUser, organization_id: int | None) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return organization_id is not None and organization_id in _member_org_ids(user)


def sighting_point_for(user: User | AnonymousUser, sighting: Sighting) -> tuple[float | None, float | None, bool]:
    """(lat, lon, exact) of a sighting as this user may see it."""
    point = sighting.point
    if point is None:
        return (None, None, False)
    exact = sees_exact(user, sighting.organization_id)
    if exact and sighting.latitude is None and sighting.station_id is not None:
        # Placed only by its station: another organisation's station stays coarse even for
        # the sighting's own members, since the station's exact point is its owner's secret.
        owner = sighting.station.organization_id
        exact = owner is None or sees_exact(user, owner)
    if exact:
        return (point[0], point[1], True)
    lat, lon = coarsen(*point)
    return (lat, lon, False)


def station_point_for(user: User | AnonymousUser, station: CameraStation) -> tuple[float, float, bool]:
    """(lat, lon, exact) of a station; unowned stations are coarsened for everyone but site admins."""
    if sees_exact(user, station.organization_id):
        return (station.latitude, station.longitude, True)
    lat, lon = coarsen(station.latitude, station.longitude)
    return (lat, lon, False)
