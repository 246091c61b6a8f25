"""GeoJSON FeatureCollection of the user's sightings, points protected by catalog.privacy."""

from django.contrib.auth.models import User

from catalog.exports.common import ExportScope, iso, point_for_sighting, sightings_to_export


def sightings_geojson(user: User, scope: ExportScope) -> dict:
    features = []
    for s in sightings_to_export(user, scope):
        lat, lon, exact = point_for_sighting(user, s)
        features.append({
            "type": "Feature",
            "geometry": None if lat is None else {"type": "Point", "coordinates": [lon, lat]},
            "properties": {
                "uuid": str(s.uuid),
                "organisation": s.organization.name,
                "observed_at": iso(s.observed_at, s.time_zone),
                "time_zone": s.time_zone,
                "location": s.location.name if s.location else None,
                "station": s.station.code if s.station else None,
                "status": s.status,
                "individual": s.individual.code if s.individual else None,
                "coordinates_exact": exact,
            },
        })
    return {"type": "FeatureCollection", "features": features}
