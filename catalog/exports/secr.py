"""SECR capture histories: a capthist file (Session ID Occasion Detector) and a traps file.

Read them in R with
    secr::read.capthist("capthist.txt", "traps.txt", detector = "proximity", binary.usage = FALSE)
(or detector = "count"). Coordinates are metres east/north of an origin stated in the header
(local equirectangular projection, good to a few metres over a study area); usage is the number
of days each station operated within each occasion, from its operating periods.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth.models import User
from django.db.models import Q

from catalog.exports.common import ExportScope, sightings_to_export, zone_of
from catalog.models import CameraStation, Location
from catalog.population import Occasion, occasion_of, occasions_for, usage_days
from catalog.privacy import coarsen, station_point_for
from catalog.selectors import organizations_for, stations_for

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQUATOR = 111_320.0
DETECTORS = ("proximity", "count")


def token(text: str) -> str:
    """A whitespace-free label (secr reads the files as whitespace-separated tables)."""
    return re.sub(r"[^\w.-]+", "_", text.strip()) or "_"


@dataclass
class Captures:
    """Detections of identified individuals at stations, by occasion."""

    location: Location
    occasions: list[Occasion]
    # (individual code, occasion index, station pk) per identified sighting with a station
    records: list[tuple[str, int, int]] = field(default_factory=list)
    left_out: int = 0  # identified sightings in the period without a station

    def histories(self) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for code, occ, _station in self.records:
            out.setdefault(code, set()).add(occ)
        return out


def captures_for(user: User, *, location: Location, start: date, end: date, occasion_days: int) -> Captures:
    occasions = occasions_for(start, end, occasion_days)
    result = Captures(location=location, occasions=occasions)
    tz = zone_of(location)
    scope = ExportScope(location=location, start=start, end=end, identified_only=True)
    rows = (
        sightings_to_export(user, scope).exclude(status="unidentifiable")
        .values_list("pk", "observed_at", "station_id", "individual__code")
    )
    for _pk, observed_at, station_id, code in rows:
        occ = occasion_of(observed_at.astimezone(tz).date(), occasions)
        if occ is None:  # the UTC date filter is a day wider than the local period
            continue
        if station_id is None:
            result.left_out += 1
            continue
        result.records.append((code, occ, station_id))
    return result


@dataclass
class SecrFiles:
    capthist: str
    traps: str
    coarsened: bool
    warnings: list[str]


def secr_files(user: User, captures: Captures, *, detector: str = "proximity", left_out_note: str = "") -> SecrFiles:
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {DETECTORS}")
    occasions = captures.occasions
    k = len(occasions)
    used = {pk for _c, _o, pk in captures.records}
    # The effort of the user's own organisations' stations (all of them for site admins), plus any
    # station with one of their detections; other partners' stations would add effort without
    # the detections made there.
    own = organizations_for(user).values("pk")
    candidates = (stations_for(user).filter(location=captures.location).filter(Q(organization__in=own) | Q(pk__in=used))
                  .prefetch_related("operating_periods"))
    stations = {
        st.pk: st for st in candidates
        if st.pk in used or any(usage_days(st.effort_periods(), occasions))
    }
    points = {pk: station_point_for(user, st) for pk, st in stations.items()}
    coarsened = any(not exact for _lat, _lon, exact in points.values())
    warnings: list[str] = []

    usage = {pk: usage_days(st.effort_periods(), occasions) for pk, st in stations.items()}
    raised = 0
    for _code, occ, pk in captures.records:
        if usage[pk][occ] == 0:
            usage[pk][occ] = 1
            raised += 1
    if raised:
        warnings.append(
            f"{raised} detection(s) fall outside their station's operating periods; usage set to 1 day there. "
            "Check the stations' operating periods."
        )
    if captures.left_out:
        warnings.append(f"{captures.left_out} identified sighting(s) without a camera station are left out.")
    else:
        warnings.append("No identified sighting in the period is left out for want of a camera station.")
    if left_out_note:
        warnings.append(left_out_note)

    lat0, lon0 = _origin(points.values(), coarsened)
    labels = _station_labels(stations)
    session = token(captures.location.name)
    period = f"{occasions[0].start} to {occasions[-1].end}" if occasions else ""
    header = [
        f"# Snow leopard capture histories, study area {captures.location.name}, {period}",
        f"# {k} occasions of {occasions[0].days if occasions else 0} day(s); detector type: {detector}",
        "# Read with secr::read.capthist('capthist.txt', 'traps.txt', "
        f"detector = '{detector}', binary.usage = FALSE)",
    ]
    coord_note = [
        f"# x, y: metres east and north of latitude {lat0}, longitude {lon0} (local equirectangular projection)",
    ]
    if coarsened:
        coord_note.append(
            "# COARSENED: some station coordinates are snapped to a grid to protect the sites; "
            "distances between those stations are not exact."
        )
    notes = [f"# NOTE: {w}" for w in warnings]

    rows = sorted(set(captures.records)) if detector == "proximity" else sorted(captures.records)
    cap_lines = [*header, *notes, "# Session ID Occasion Detector"]
    cap_lines += [f"{session} {token(code)} {occ + 1} {labels[pk]}" for code, occ, pk in rows]

    trap_lines = [*header, *coord_note, "# usage: days operated per occasion (from the stations' operating periods)"]
    trap_lines.append("# Detector x y " + " ".join(f"u{o.index + 1}" for o in occasions))
    cos0 = math.cos(math.radians(lat0))
    for pk in sorted(stations, key=lambda p: labels[p]):
        lat, lon, _exact = points[pk]
        x = (lon - lon0) * M_PER_DEG_LON_EQUATOR * cos0
        y = (lat - lat0) * M_PER_DEG_LAT
        trap_lines.append(f"{labels[pk]} {x:.1f} {y:.1f} " + " ".join(str(u) for u in usage[pk]))
    return SecrFiles("\n".join(cap_lines) + "\n", "\n".join(trap_lines) + "\n", coarsened, warnings)


def _origin(points, coarsened: bool) -> tuple[float, float]:
    pts = list(points)
    if not pts:
        return (0.0, 0.0)
    lat = sum(p[0] for p in pts) / len(pts)
    lon = sum(p[1] for p in pts) / len(pts)
    # The origin is printed in the header: never more precise than what the user may see.
    if coarsened:
        return coarsen(lat, lon)
    return (round(lat, 3), round(lon, 3))


def _station_labels(stations: dict[int, CameraStation]) -> dict[int, str]:
    labels: dict[int, str] = {}
    seen: set[str] = set()
    for pk, st in sorted(stations.items()):
        label = token(st.code)
        if label in seen:
            label = f"{label}_{pk}"
        seen.add(label)
        labels[pk] = label
    return labels
