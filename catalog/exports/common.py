"""Shared pieces of the exports: the scoped sightings, protected points, time formatting."""

from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet

from catalog.local_time import sightings_on_local_days, zone
from catalog.models import Location, Sighting, SightingStatus
from catalog.privacy import sighting_point_for
from catalog.selectors import sightings_for

SCIENTIFIC_NAME = "Panthera uncia"


@dataclass(frozen=True)
class ExportScope:
    """What to export: the user's sightings, optionally one study area and a date range (inclusive)."""

    location: Location | None = None
    start: date | None = None
    end: date | None = None
    identified_only: bool = False


def sightings_to_export(user: User, scope: ExportScope) -> QuerySet[Sighting]:
    # Withdrawn sightings were taken back by their organisation: in no export.
    qs = (
        sightings_for(user).exclude(status=SightingStatus.WITHDRAWN)
        .select_related("station__location").prefetch_related("images", "station__operating_periods")
    )
    if scope.location is not None:
        qs = qs.filter(location=scope.location)
    # The period is in local dates of each sighting's study area, as shown on every page.
    qs = sightings_on_local_days(qs, start=scope.start, end=scope.end)
    if scope.identified_only:
        qs = qs.filter(individual__isnull=False)
    return qs.order_by("observed_at", "pk")


def point_for_sighting(user: User, sighting: Sighting) -> tuple[float | None, float | None, bool]:
    """(lat, lon, exact): the sighting's own point by its organisation, a station's by the station's owner.

    A sighting placed only by its station must not reveal another organisation's exact station.
    """
    return sighting_point_for(user, sighting)


def zone_of(location: Location | None):
    return zone(location.time_zone if location else None)


def iso(value: datetime | None, where: Location | str | None = None) -> str:
    """ISO 8601 with offset, in the local time of `where` (a study area or an IANA zone name)."""
    if value is None:
        return ""
    name = where if isinstance(where, str) else (where.time_zone if where is not None else None)
    return value.astimezone(zone(name)).isoformat(timespec="seconds")


def grid_uncertainty_m() -> int:
    """Worst-case distance (m) between a point and the centre of its coarsening grid cell."""
    return int(round(settings.COORDINATE_GRID_DEGREES * 111_320 * 0.7072))
