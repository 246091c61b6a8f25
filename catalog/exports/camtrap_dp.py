"""Camtrap DP 1.0.2 export (deployments, media, observations with individualID) and offline validation.

Mapping: each operating period of a camera station with sightings in the export is a deployment
(its dates, widened to cover its sightings; a sighting outside every period joins the nearest);
a sighting is an event-level observation (eventID = observationID = sighting uuid) and each of its
images is a media row plus a media-level observation carrying the body part and box. Sightings
with no station but a point get a deployment of their own. Individuals travel as the extra
`individuals` resource, as in the official example.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import tempfile
import uuid
import zipfile
from datetime import datetime, time
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from catalog.exports.common import (
    SCIENTIFIC_NAME,
    ExportScope,
    grid_uncertainty_m,
    iso,
    point_for_sighting,
    sightings_to_export,
    zone_of,
)
from catalog.exports.csv_safe import SafeDictWriter
from catalog.models import REFERENCE_STATUSES, CameraStation, Sighting
from catalog.privacy import station_point_for

VERSION = "1.0.2"
SCHEMA_URL = "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0.2/{name}-table-schema.json"
PROFILE_URL = "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0.2/camtrap-dp-profile.json"
STANDARD_DIR = Path(settings.BASE_DIR).parent / "shared" / "standards" / "camtrap-dp-1.0.2"

DEPLOYMENT_COLUMNS = [
    "deploymentID", "locationID", "locationName", "latitude", "longitude", "coordinateUncertainty",
    "deploymentStart", "deploymentEnd", "setupBy", "cameraID", "cameraModel", "cameraDelay", "cameraHeight",
    "cameraDepth", "cameraTilt", "cameraHeading", "detectionDistance", "timestampIssues", "baitUse",
    "featureType", "habitat", "deploymentGroups", "deploymentTags", "deploymentComments",
]
MEDIA_COLUMNS = [
    "mediaID", "deploymentID", "captureMethod", "timestamp", "filePath", "filePublic", "fileName",
    "fileMediatype", "exifData", "favorite", "mediaComments",
]
OBSERVATION_COLUMNS = [
    "observationID", "deploymentID", "mediaID", "eventID", "eventStart", "eventEnd", "observationLevel",
    "observationType", "cameraSetupType", "scientificName", "count", "lifeStage", "sex", "behavior",
    "individualID", "individualPositionRadius", "individualPositionAngle", "individualSpeed", "bboxX", "bboxY",
    "bboxWidth", "bboxHeight", "classificationMethod", "classifiedBy", "classificationTimestamp",
    "classificationProbability", "observationTags", "observationComments",
]
STUDY_AREA_TAG = "studyArea:"


def standard_dir() -> Path:
    """The Camtrap DP 1.0.2 schemas (CAMTRAP_DP_SCHEMA_DIR, else ../shared/standards/camtrap-dp-1.0.2)."""
    configured = getattr(settings, "CAMTRAP_DP_SCHEMA_DIR", "")
    return Path(configured) if configured else STANDARD_DIR


def _station_period(station: CameraStation, day) -> tuple[str, tuple]:
    """(deploymentID, (start, end)) of the operating period holding `day`, or of the nearest one when
    none does (its deployment is then widened to the sighting). One deployment per operating period,
    as Camtrap DP has it; a station with a single period keeps its old ID, station-<pk>."""
    periods = station.effort_periods()

    def distance(period) -> int:
        start, end = period
        if start and day < start:
            return (start - day).days
        if end and day > end:
            return (day - end).days
        return 0

    period = min(periods, key=distance)
    if len(periods) == 1:
        return f"station-{station.pk}", period
    return f"station-{station.pk}-{period[0].isoformat()}", period


def _sighting_deployment_id(sighting: Sighting) -> str:
    return f"sighting-{sighting.uuid}"


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = SafeDictWriter(fh, fieldnames=columns, extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in columns})


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _media_ext(name: str) -> tuple[str, str]:
    ext = Path(name).suffix.lower() or ".jpg"
    return ext, "image/png" if ext == ".png" else "image/jpeg"


def camtrap_dp_write(*, user: User, scope: ExportScope, directory: Path, include_media: bool = True, note: str = "") -> dict:
    """Write datapackage.json + the three CSVs (+ media/ files) into `directory`; returns a summary."""
    directory.mkdir(parents=True, exist_ok=True)
    sightings = list(sightings_to_export(user, scope))
    deployments: dict[str, dict] = {}
    media_rows, observation_rows, left_out = [], [], []
    coarsened = False
    individuals: dict[int, dict] = {}

    def widen(dep: dict, when: datetime) -> None:
        dep["_start"] = min(dep["_start"], when)
        dep["_end"] = max(dep["_end"], when)

    for s in sightings:
        if s.station_id is not None:
            tz = zone_of(s.station.location)
            dep_id, (operating_from, operating_to) = _station_period(s.station, s.observed_at.astimezone(tz).date())
            if dep_id not in deployments:
                lat, lon, exact = station_point_for(user, s.station)
                start = datetime.combine(operating_from, time.min, tzinfo=tz) if operating_from else s.observed_at
                end = datetime.combine(operating_to, time(23, 59, 59), tzinfo=tz) if operating_to else s.observed_at
                deployments[dep_id] = {
                    "deploymentID": dep_id, "locationID": s.station.code, "locationName": s.station.code,
                    "latitude": lat, "longitude": lon, "_exact": exact, "_start": start, "_end": end,
                    "_location": s.station.location,
                    "deploymentGroups": f"{STUDY_AREA_TAG}{s.station.location.name}",
                }
        else:
            lat, lon, exact = point_for_sighting(user, s)
            if lat is None:
                left_out.append(str(s.uuid))
                continue
            dep_id = _sighting_deployment_id(s)
            deployments[dep_id] = {
                "deploymentID": dep_id, "locationID": "", "locationName": "", "latitude": lat, "longitude": lon,
                "_exact": exact, "_start": s.observed_at, "_end": s.observed_at, "_location": s.location,
                "deploymentGroups": f"{STUDY_AREA_TAG}{s.location.name}" if s.location else "",
            }
        dep = deployments[dep_id]
        images = list(s.images.all())
        times = [s.observed_at] + [img.exif_datetime for img in images if img.exif_datetime]
        event_start, event_end = min(times), max(times)
        widen(dep, event_start)
        widen(dep, event_end)
        decided = s.status in REFERENCE_STATUSES
        individual_id = s.individual.code if s.individual else ""
        if s.individual:
            individuals[s.individual.pk] = {
                "individualID": s.individual.code, "individualName": s.individual.name,
                "sex": s.individual.sex, "scientificName": SCIENTIFIC_NAME,
            }
        observation_rows.append({
            "observationID": str(s.uuid), "deploymentID": dep_id, "eventID": str(s.uuid),
            "eventStart": iso(event_start, dep["_location"]), "eventEnd": iso(event_end, dep["_location"]),
            "observationLevel": "event", "observationType": "animal", "scientificName": SCIENTIFIC_NAME, "count": 1,
            "individualID": individual_id, "classificationMethod": "human" if decided else "",
            "observationTags": f"status:{s.status}", "observationComments": s.notes.replace("\n", " "),
        })
        for img in images:
            ext, mediatype = _media_ext(img.file.name)
            path = f"media/{img.uuid}{ext}"
            when = img.exif_datetime or s.observed_at
            media_rows.append({
                "mediaID": str(img.uuid), "deploymentID": dep_id, "captureMethod": "activityDetection",
                "timestamp": iso(when, dep["_location"]), "filePath": path, "filePublic": _bool(False),
                "fileName": img.original_filename or f"{img.uuid}{ext}", "fileMediatype": mediatype,
            })
            box = {}
            if img.box and img.width and img.height:
                box = {
                    "bboxX": round(img.box_x / img.width, 6), "bboxY": round(img.box_y / img.height, 6),
                    "bboxWidth": round(img.box_w / img.width, 6), "bboxHeight": round(img.box_h / img.height, 6),
                }
            observation_rows.append({
                "observationID": f"{img.uuid}", "deploymentID": dep_id, "mediaID": str(img.uuid),
                "eventID": str(s.uuid), "eventStart": iso(when, dep["_location"]), "eventEnd": iso(when, dep["_location"]),
                "observationLevel": "media", "observationType": "animal", "scientificName": SCIENTIFIC_NAME, "count": 1,
                "individualID": individual_id, "classificationMethod": "human" if decided else "",
                "observationTags": f"bodyPart:{img.body_part}", **box,
            })
            if include_media:
                target = directory / path
                target.parent.mkdir(parents=True, exist_ok=True)
                with img.file.open("rb") as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)

    deployment_rows = []
    for dep in deployments.values():
        coarsened = coarsened or not dep["_exact"]
        row = {k: v for k, v in dep.items() if not k.startswith("_")}
        row["deploymentStart"] = iso(dep["_start"], dep["_location"])
        row["deploymentEnd"] = iso(dep["_end"], dep["_location"])
        row["coordinateUncertainty"] = None if dep["_exact"] else grid_uncertainty_m()
        row["timestampIssues"] = "false"
        row["deploymentComments"] = "" if dep["_exact"] else "Coordinates coarsened to protect the site."
        deployment_rows.append(row)

    _write_csv(directory / "deployments.csv", DEPLOYMENT_COLUMNS, deployment_rows)
    _write_csv(directory / "media.csv", MEDIA_COLUMNS, media_rows)
    _write_csv(directory / "observations.csv", OBSERVATION_COLUMNS, observation_rows)
    descriptor = _descriptor(deployments, list(individuals.values()), coarsened, scope, user)
    # What was left out, and why, in the package itself (a sighting needs a station or a point).
    left = note or (
        f"Left out: {len(left_out)} sighting(s) without a camera station or a point." if left_out
        else "No sighting in the chosen area and period is left out."
    )
    descriptor["description"] = " ".join(filter(None, [descriptor.get("description", ""), left]))
    (directory / "datapackage.json").write_text(json.dumps(descriptor, indent=2, ensure_ascii=False), encoding="utf-8")
    return {
        "deployments": len(deployment_rows), "media": len(media_rows), "observations": len(observation_rows),
        "sightings": len(sightings) - len(left_out), "left_out_without_position": left_out, "coarsened": coarsened,
    }


def _descriptor(deployments: dict, individuals: list[dict], coarsened: bool, scope: ExportScope, user: User) -> dict:
    lats = [d["latitude"] for d in deployments.values()] or [0.0]
    lons = [d["longitude"] for d in deployments.values()] or [0.0]
    starts = [d["_start"] for d in deployments.values()] or [timezone.now()]
    ends = [d["_end"] for d in deployments.values()] or [timezone.now()]
    w, e, s, n = min(lons), max(lons), min(lats), max(lats)
    title = "Snow leopard camera-trap sightings" + (f": {scope.location.name}" if scope.location else "")
    orgs = sorted({o.name for o in user.memberships.all().select_related("organization") for o in [o.organization]})
    descriptor = {
        "resources": [
            {"name": name, "path": f"{name}.csv", "profile": "tabular-data-resource", "format": "csv",
             "mediatype": "text/csv", "encoding": "utf-8", "schema": SCHEMA_URL.format(name=name)}
            for name in ("deployments", "media", "observations")
        ] + [{
            "name": "individuals",
            "description": "Catalog individuals referenced by observations.individualID (not part of Camtrap DP).",
            "data": individuals,
        }],
        "profile": PROFILE_URL,
        "name": "snow-leopard-sightings",
        "id": str(uuid.uuid4()),
        "created": timezone.now().astimezone(timezone.get_fixed_timezone(0)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "title": title,
        "contributors": [{"title": name, "role": "rightsHolder"} for name in orgs] or [{"title": user.get_username(), "role": "contact"}],
        "version": VERSION,
        "project": {
            "title": "Snow leopard individual identification",
            "samplingDesign": "targeted",
            "captureMethod": ["activityDetection"],
            "individualAnimals": True,
            "observationLevel": ["media", "event"],
        },
        "spatial": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "temporal": {"start": min(starts).date().isoformat(), "end": max(ends).date().isoformat()},
        "taxonomic": [{"scientificName": SCIENTIFIC_NAME, "taxonRank": "species", "kingdom": "Animalia"}],
        # Camtrap DP wants a data and a media licence; the deployment chooses them.
        "licenses": [
            {"name": getattr(settings, "CAMTRAP_DP_DATA_LICENSE", "CC-BY-4.0"), "scope": "data"},
            {"name": getattr(settings, "CAMTRAP_DP_MEDIA_LICENSE", "CC-BY-NC-4.0"), "scope": "media"},
        ],
    }
    if coarsened:
        descriptor["coordinatePrecision"] = settings.COORDINATE_GRID_DEGREES
        descriptor["description"] = (
            "Some deployment coordinates are coarsened to a %s degree grid to protect the sites." % settings.COORDINATE_GRID_DEGREES
        )
    return descriptor


def camtrap_dp_zip(*, user: User, scope: ExportScope, include_media: bool = True, note: str = "") -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "package"
        camtrap_dp_write(user=user, scope=scope, directory=root, include_media=include_media, note=note)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(root).as_posix())
        return buf.getvalue()


def _strip_remote_refs(node):
    """The profile's $refs to remote schemas (Data Package, GeoJSON) can't be fetched offline: drop them."""
    if isinstance(node, dict):
        return {k: _strip_remote_refs(v) for k, v in node.items() if not (k == "$ref" and str(v).startswith("http"))}
    if isinstance(node, list):
        return [_strip_remote_refs(v) for v in node]
    return node


def camtrap_dp_validate(directory: Path) -> list[str]:
    """Errors of a Camtrap DP package, validated offline ([] when valid).

    Two checks: datapackage.json against the Camtrap DP profile (remote $refs dropped), then
    frictionless on a copy of the descriptor whose table schemas point at local copies of the
    official 1.0.2 schemas (relative paths: frictionless refuses absolute ones) and without profile.
    """
    import frictionless
    import jsonschema

    std = standard_dir()
    descriptor = json.loads((directory / "datapackage.json").read_text(encoding="utf-8"))
    errors: list[str] = []
    profile = _strip_remote_refs(json.loads((std / "camtrap-dp-profile.json").read_text(encoding="utf-8")))
    validator = jsonschema.Draft4Validator(profile, format_checker=jsonschema.FormatChecker())
    for err in sorted(validator.iter_errors(descriptor), key=lambda e: list(e.path)):
        errors.append(f"datapackage.json {'/'.join(map(str, err.path))}: {err.message}")

    local = copy.deepcopy(descriptor)
    local.pop("profile", None)
    local["resources"] = [r for r in local["resources"] if "path" in r]
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        # Schemas go next to the package and the descriptor copy names them by relative path:
        # frictionless refuses absolute paths as unsafe.
        tmp_name = Path(tmp).name
        for resource in local["resources"]:
            if resource.get("name") in {"deployments", "media", "observations"}:
                schema_name = f"{resource['name']}-table-schema.json"
                shutil.copy(std / schema_name, Path(tmp) / schema_name)
                resource["schema"] = f"{tmp_name}/{schema_name}"
        local_path = directory / f"{tmp_name}.datapackage.json"
        local_path.write_text(json.dumps(local), encoding="utf-8")
        try:
            report = frictionless.validate(str(local_path))
        finally:
            local_path.unlink()
        if not report.valid:
            for task in report.tasks:
                for err in task.errors:
                    errors.append(f"{task.name}: {err.message}")
            for err in report.errors:
                errors.append(err.message)
    return errors
