"""Study areas and camera stations set up by an organisation's admins in the web UI.

An area belongs to one organisation (areas without one are shared and only site admins change
them); a station belongs to one organisation, in one of its own areas or a shared one. The
exact positions are the owner's: nothing here reads another organisation's station.
"""

from __future__ import annotations

import json
import math
from datetime import date

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from catalog.local_time import zone_choices
from catalog.models import CameraStation, Location, Organization, Role, StationOperatingPeriod
from catalog.selectors import organizations_for, user_can

POLYGON_TYPES = ("Polygon", "MultiPolygon")


def setup_locations_for(user: User) -> QuerySet[Location]:
    """Study areas the user may open on the set-up pages: their organisations' and the shared ones."""
    if not user.is_authenticated:
        return Location.objects.none()
    if user.is_staff:
        return Location.objects.select_related("organization")
    return Location.objects.filter(
        Q(organization__in=organizations_for(user).values("pk")) | Q(organization__isnull=True)
    ).select_related("organization")


def setup_stations_for(user: User) -> QuerySet[CameraStation]:
    """Stations of the user's organisations only (exact positions; never another partner's)."""
    if not user.is_authenticated:
        return CameraStation.objects.none()
    qs = CameraStation.objects.select_related("location", "organization")
    if user.is_staff:
        return qs
    return qs.filter(organization__in=organizations_for(user).values("pk"))


def can_edit_location(user: User, location: Location) -> bool:
    if location.organization_id is None:
        return user.is_staff
    return user_can(user, location.organization_id, Role.ORG_ADMIN)


def can_edit_station(user: User, station: CameraStation) -> bool:
    return station.organization_id is not None and user_can(user, station.organization_id, Role.ORG_ADMIN)


def boundary_parse(text: str) -> tuple[str, tuple[float, float] | None]:
    """(normalised GeoJSON geometry text, (lat, lon) of its vertices' mean) of a drawn boundary.

    Accepts a Polygon or MultiPolygon geometry, or a Feature / FeatureCollection of one; an empty
    text is no boundary. Raises ValidationError with what is wrong.
    """
    text = (text or "").strip()
    if not text:
        return "", None
    try:
        data = json.loads(text)
    except ValueError:
        raise ValidationError({"boundary_geojson": _("The boundary is not valid GeoJSON.")}) from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features") or []
        if len(features) != 1:
            raise ValidationError({"boundary_geojson": _("Give one boundary polygon.")})
        data = features[0]
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry")
    if not isinstance(data, dict) or data.get("type") not in POLYGON_TYPES:
        raise ValidationError({"boundary_geojson": _("The boundary must be a polygon.")})
    polygons = data.get("coordinates")
    if data["type"] == "Polygon":
        polygons = [polygons]
    points: list[tuple[float, float]] = []
    try:
        for polygon in polygons:
            for ring in polygon:
                if len(ring) < 4:
                    raise ValidationError({"boundary_geojson": _("A boundary ring needs at least three corners.")})
                for position in ring:
                    lon, lat = float(position[0]), float(position[1])
                    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
                        raise ValidationError({"boundary_geojson": _("A boundary corner lies outside latitude ±90, longitude ±180.")})
                    points.append((lat, lon))
    except (TypeError, IndexError, ValueError):
        raise ValidationError({"boundary_geojson": _("The boundary's coordinates are not [longitude, latitude] pairs.")}) from None
    geometry = {"type": data["type"], "coordinates": data["coordinates"]}
    centre = (round(sum(p[0] for p in points) / len(points), 6), round(sum(p[1] for p in points) / len(points), 6))
    return json.dumps(geometry, separators=(",", ":")), centre


def _check_zone(time_zone: str) -> None:
    if time_zone not in {name for name, _label in zone_choices()}:
        raise ValidationError({"time_zone": _("Unknown time zone “%(zone)s”.") % {"zone": time_zone}})


def _save_location(location: Location, *, name: str, country: str, time_zone: str, boundary_geojson: str) -> Location:
    _check_zone(time_zone)
    boundary, centre = boundary_parse(boundary_geojson)
    location.name, location.country, location.time_zone = name.strip(), country.strip(), time_zone
    location.boundary_geojson = boundary
    if centre is not None:
        location.latitude, location.longitude = centre
    location.full_clean()
    location.save()
    return location


@transaction.atomic
def location_create(
    *, user: User, organization: Organization, name: str, country: str = "", time_zone: str = "UTC",
    boundary_geojson: str = "",
) -> Location:
    """A new study area of `organization`; only its org admins (and site admins) may make one."""
    if not user_can(user, organization.pk, Role.ORG_ADMIN):
        raise PermissionDenied(_("Only admins of an organisation may create its study areas."))
    return _save_location(
        Location(organization=organization), name=name, country=country, time_zone=time_zone,
        boundary_geojson=boundary_geojson,
    )


@transaction.atomic
def location_update(
    *, user: User, location: Location, name: str, country: str = "", time_zone: str = "UTC", boundary_geojson: str = "",
) -> Location:
    """Change a study area. Its times stay the same instants: only how they are shown follows the zone."""
    location = Location.objects.select_for_update().get(pk=location.pk)
    if not can_edit_location(user, location):
        raise PermissionDenied(_("Only admins of the study area's organisation may change it."))
    return _save_location(location, name=name, country=country, time_zone=time_zone, boundary_geojson=boundary_geojson)


def _check_station(user: User, organization: Organization, location: Location) -> None:
    if not user_can(user, organization.pk, Role.ORG_ADMIN):
        raise PermissionDenied(_("Only admins of an organisation may set up its camera stations."))
    if location.organization_id not in (None, organization.pk):
        raise ValidationError({"location": _("The study area belongs to another organisation.")})


Period = tuple[date, date | None, str]  # start, end (None: still operating), note


def periods_check(periods: list[Period]) -> list[Period]:
    """The periods in order of their start; ValidationError when one ends before it starts or two overlap."""
    ordered = sorted(periods, key=lambda p: p[0])
    for start, end, _note in ordered:
        if end is not None and end < start:
            raise ValidationError(_("An operating period ends (%(end)s) before it starts (%(start)s).")
                                  % {"start": start, "end": end})
    for (start, end, _note), (next_start, _next_end, _next_note) in zip(ordered, ordered[1:]):
        if end is None or end >= next_start:
            raise ValidationError(_("The operating periods starting %(first)s and %(second)s overlap.")
                                  % {"first": start, "second": next_start})
    return ordered


def _save_station(station: CameraStation, *, periods: list[Period] | None = None, **fields) -> CameraStation:
    lat, lon = fields["latitude"], fields["longitude"]
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValidationError({"latitude": _("Pick the station's position on the map or type its latitude and longitude.")})
    start, end = fields["operating_from"], fields["operating_to"]
    if periods is None:
        # A caller with one period (the API, imports): it replaces the station's periods.
        if start and end and end < start:
            raise ValidationError({"operating_to": _("The station stops operating before it starts.")})
        periods = [(start, end, "")] if start else []
    else:
        periods = periods_check(periods)
        # The station's own dates are the span of its periods, for the lists and the API's readers.
        fields["operating_from"] = periods[0][0] if periods else None
        fields["operating_to"] = periods[-1][1] if periods else None
    for key, value in fields.items():
        setattr(station, key, value.strip() if isinstance(value, str) else value)
    station.full_clean()
    station.save()
    _periods_replace(station, periods)
    return station


def _periods_replace(station: CameraStation, periods: list[Period]) -> None:
    """The station's StationOperatingPeriod rows become `periods` (already checked)."""
    station.operating_periods.all().delete()
    StationOperatingPeriod.objects.bulk_create(
        StationOperatingPeriod(station=station, start=p_start, end=p_end, note=note.strip())
        for p_start, p_end, note in periods
    )


@transaction.atomic
def station_create(
    *, user: User, organization: Organization, location: Location, code: str, latitude: float | None,
    longitude: float | None, operating_from: date | None = None, operating_to: date | None = None,
    periods: list[Period] | None = None,
) -> CameraStation:
    """A new camera station of `organization` in one of its study areas (or a shared one); its
    operating `periods`, or else the single one from operating_from to operating_to."""
    _check_station(user, organization, location)
    return _save_station(
        CameraStation(), organization=organization, location=location, code=code, latitude=latitude,
        longitude=longitude, operating_from=operating_from, operating_to=operating_to, periods=periods,
    )


@transaction.atomic
def station_update(
    *, user: User, station: CameraStation, location: Location, code: str, latitude: float | None,
    longitude: float | None, operating_from: date | None = None, operating_to: date | None = None,
    periods: list[Period] | None = None,
) -> CameraStation:
    """Change a station's code, position or operating periods (its organisation stays)."""
    # of=self: the organisation is a nullable join, which PostgreSQL refuses to lock FOR UPDATE.
    station = CameraStation.objects.select_for_update(of=("self",)).select_related("organization").get(pk=station.pk)
    if not can_edit_station(user, station):
        raise PermissionDenied(_("Only admins of the station's organisation may change it."))
    _check_station(user, station.organization, location)
    return _save_station(
        station, location=location, code=code, latitude=latitude, longitude=longitude,
        operating_from=operating_from, operating_to=operating_to, periods=periods,
    )


@transaction.atomic
def station_single_period_set(*, station: CameraStation) -> None:
    """After a write of the station's operating_from and operating_to alone (the API): they are its one
    operating period. The API refuses that write for a station with several (catalog.api.serializers)."""
    _periods_replace(station, [(station.operating_from, station.operating_to, "")] if station.operating_from else [])


@transaction.atomic
def station_period_add(*, station: CameraStation, start: date, end: date | None) -> bool:
    """One more operating period of the station (a further deployment of it in an imported Camtrap DP
    package); False, and nothing changed, when it overlaps one the station has (a re-import)."""
    station = CameraStation.objects.select_for_update(of=("self",)).get(pk=station.pk)
    current = [(p_start, p_end, "") for p_start, p_end in station.effort_periods() if p_start]
    try:
        periods = periods_check([*current, (start, end, "")])
    except ValidationError:
        return False
    notes = dict(station.operating_periods.values_list("start", "note"))
    _periods_replace(station, [(p_start, p_end, notes.get(p_start, "")) for p_start, p_end, _note in periods])
    station.operating_from, station.operating_to = periods[0][0], periods[-1][1]
    station.save(update_fields=["operating_from", "operating_to"])
    return True


def submission_stations_for(user: User) -> QuerySet[CameraStation]:
    """Stations a sighting may be placed at: the user's organisations' and unowned (shared) ones."""
    if not user.is_authenticated:
        return CameraStation.objects.none()
    qs = CameraStation.objects.select_related("location", "organization")
    if user.is_staff:
        return qs
    return qs.filter(Q(organization__in=organizations_for(user).values("pk")) | Q(organization__isnull=True))
