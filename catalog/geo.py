"""Movement figures of one individual from its sighting points, and the one parser of imported points.

Pure functions; the only Django import is gettext, for the parser's messages.

Callers pass the coordinates the viewer may see (coarsened for outsiders), so no figure here can
reveal more than the points themselves.
"""

import math
from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius

Point = tuple[float, float]  # (lat, lon) in degrees


@dataclass(frozen=True)
class TrackPoint:
    when: datetime
    lat: float
    lon: float
    station: object | None = None  # any hashable station key; None when the sighting has no station


@dataclass(frozen=True)
class Move:
    start: TrackPoint
    end: TrackPoint
    km: float

    @property
    def days(self) -> float:
        return (self.end.when - self.start.when).total_seconds() / 86400.0


@dataclass(frozen=True)
class MovementSummary:
    sightings: int
    distinct_points: int
    stations_visited: int
    max_displacement_km: float | None
    longest_move: Move | None
    convex_hull_km2: float | None  # None with fewer than 3 distinct points


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance between two (lat, lon) points in degrees, in km."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def distinct_points(points: list[Point]) -> list[Point]:
    """Unique points in first-seen order (coordinates compared to ~1 cm)."""
    seen: dict[tuple[float, float], Point] = {}
    for lat, lon in points:
        seen.setdefault((round(lat, 7), round(lon, 7)), (lat, lon))
    return list(seen.values())


def max_displacement_km(points: list[Point]) -> float | None:
    """Largest great-circle distance between any two points (km); None for no points."""
    unique = distinct_points(points)
    if not unique:
        return None
    if len(unique) > 300:
        # The farthest pair lies on the convex hull (in the local projection, which over a
        # home range distorts far less than the grid coarsening); this keeps long tracks cheap.
        centre = _centre(unique)
        by_xy = {_project(p, centre): p for p in unique}
        unique = [by_xy[xy] for xy in _hull(list(by_xy))]
    best = 0.0
    for i in range(len(unique)):
        for j in range(i + 1, len(unique)):
            best = max(best, haversine_km(unique[i], unique[j]))
    return best


def successive_moves(track: list[TrackPoint]) -> list[Move]:
    """Moves between time-successive sightings (track sorted by time here)."""
    ordered = sorted(track, key=lambda p: p.when)
    return [Move(a, b, haversine_km((a.lat, a.lon), (b.lat, b.lon))) for a, b in zip(ordered, ordered[1:])]


def longest_move(track: list[TrackPoint]) -> Move | None:
    """The longest move between successive sightings; ties go to the earliest."""
    moves = successive_moves(track)
    if not moves:
        return None
    return max(moves, key=lambda m: m.km)


def _centre(points: list[Point]) -> Point:
    lat = sum(p[0] for p in points) / len(points)
    # Circular mean of longitudes, so a range across the antimeridian centres correctly.
    x = sum(math.cos(math.radians(p[1])) for p in points)
    y = sum(math.sin(math.radians(p[1])) for p in points)
    return (lat, math.degrees(math.atan2(y, x)))


def _project(p: Point, centre: Point) -> tuple[float, float]:
    """Lambert azimuthal equal-area projection (sphere) centred on `centre`; (x, y) in km."""
    phi, lam = math.radians(p[0]), math.radians(p[1])
    phi0, lam0 = math.radians(centre[0]), math.radians(centre[1])
    cos_c = math.sin(phi0) * math.sin(phi) + math.cos(phi0) * math.cos(phi) * math.cos(lam - lam0)
    k = math.sqrt(2.0 / (1.0 + cos_c))
    x = EARTH_RADIUS_KM * k * math.cos(phi) * math.sin(lam - lam0)
    y = EARTH_RADIUS_KM * k * (math.cos(phi0) * math.sin(phi) - math.sin(phi0) * math.cos(phi) * math.cos(lam - lam0))
    return (x, y)


def _cross(o, a, b) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _hull(xy: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Convex hull (Andrew's monotone chain), counter-clockwise, no repeated end point."""
    pts = sorted(set(xy))
    if len(pts) <= 2:
        return pts
    lower: list = []
    for p in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list = []
    for p in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def convex_hull_area_km2(points: list[Point]) -> float | None:
    """Minimum convex polygon area (km²) in a local equal-area projection; None below 3 distinct points."""
    unique = distinct_points(points)
    if len(unique) < 3:
        return None
    centre = _centre(unique)
    hull = _hull([_project(p, centre) for p in unique])
    if len(hull) < 3:
        return 0.0  # collinear points enclose nothing
    area = 0.0
    for (x1, y1), (x2, y2) in zip(hull, hull[1:] + hull[:1]):
        area += x1 * y2 - x2 * y1
    return abs(area) / 2.0


def movement_summary(track: list[TrackPoint]) -> MovementSummary:
    """All movement figures of one individual's track."""
    points = [(p.lat, p.lon) for p in track]
    return MovementSummary(
        sightings=len(track),
        distinct_points=len(distinct_points(points)),
        stations_visited=len({p.station for p in track if p.station is not None}),
        max_displacement_km=max_displacement_km(points),
        longest_move=longest_move(track),
        convex_hull_km2=convex_hull_area_km2(points),
    )


def parse_point(lat_text, lon_text) -> tuple[float, float]:
    """(lat, lon) from two texts or numbers; ValueError saying what is wrong (not a number, NaN, out of range).

    Every import parser goes through this, so a row's refusal names its fault the same way everywhere.
    """
    values = []
    for name, text, bound in ((_("latitude"), lat_text, 90.0), (_("longitude"), lon_text, 180.0)):
        if text is None or (isinstance(text, str) and not text.strip()):
            raise ValueError(_("%(name)s is missing") % {"name": name})
        try:
            value = float(text)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(_("%(name)s “%(text)s” is not a number") % {"name": name, "text": str(text)[:40]}) from None
        if not math.isfinite(value):
            raise ValueError(_("%(name)s %(text)s is not a finite number") % {"name": name, "text": str(text)[:40]})
        if not -bound <= value <= bound:
            raise ValueError(_("%(name)s %(value)s is outside −%(bound)s…%(bound)s")
                             % {"name": name, "value": f"{value:g}", "bound": f"{bound:g}"})
        values.append(value)
    return values[0], values[1]
