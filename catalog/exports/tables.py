"""CSV exports of sightings and individuals."""

import io

from django.contrib.auth.models import User
from django.db.models import Count, Max, Min, Q

from catalog.exports.common import ExportScope, iso, point_for_sighting, sightings_to_export
from catalog.exports.csv_safe import SafeWriter
from catalog.models import IndividualStatus
from catalog.selectors import individuals_for

SIGHTING_COLUMNS = [
    "sighting_uuid", "organisation", "observed_at", "time_zone", "location", "station", "latitude", "longitude",
    "coordinates_exact", "status", "individual_code", "individual_name", "images", "external_id", "notes",
]
INDIVIDUAL_COLUMNS = [
    "code", "name", "sex", "status", "first_seen", "last_seen", "sightings_visible_to_you",
    "first_sighting_visible_to_you", "last_sighting_visible_to_you",
]


def sightings_csv(user: User, scope: ExportScope) -> str:
    buf = io.StringIO()
    writer = SafeWriter(buf)
    writer.writerow(SIGHTING_COLUMNS)
    for s in sightings_to_export(user, scope):
        lat, lon, exact = point_for_sighting(user, s)
        writer.writerow([
            s.uuid, s.organization.name, iso(s.observed_at, s.time_zone), s.time_zone, s.location.name if s.location else "",
            s.station.code if s.station else "", "" if lat is None else lat, "" if lon is None else lon,
            str(exact).lower(), s.status, s.individual.code if s.individual else "",
            s.individual.name if s.individual else "", len(s.images.all()), s.external_id, s.notes,
        ])
    return buf.getvalue()


def individuals_csv(user: User, scope: ExportScope) -> str:
    """Every catalog individual, with counts over the sightings this user may see (no coordinates)."""
    visible = sightings_to_export(user, scope).values("pk")
    in_scope = Q(sightings__pk__in=visible)
    # A merged individual is the same animal as the one it was merged into: one row, not two.
    rows = individuals_for(user).exclude(status=IndividualStatus.MERGED).annotate(
        n=Count("sightings", filter=in_scope, distinct=True),
        first=Min("sightings__observed_at", filter=in_scope),
        last=Max("sightings__observed_at", filter=in_scope),
    )
    buf = io.StringIO()
    writer = SafeWriter(buf)
    writer.writerow(INDIVIDUAL_COLUMNS)
    for ind in rows.order_by("code"):
        writer.writerow([
            ind.code, ind.name, ind.sex, ind.status, iso(ind.first_seen), iso(ind.last_seen), ind.n,
            iso(ind.first), iso(ind.last),
        ])
    return buf.getvalue()
