"""Import a Camtrap DP package: deployments -> stations, observations -> sightings, media -> images.

One sighting per event (eventID) and individualID among the event's animal observations;
individualID becomes a catalog individual (the sighting is then identified). Media are the
files named by media-level observations of the event, else the deployment's media within the
event's time range. Remote media (URLs) are reported as skipped and never fetched.
"""

from __future__ import annotations

import io
import json
import math
import posixpath
import uuid as uuid_mod
from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django_q.tasks import async_task
from PIL import Image

from catalog.exports.camtrap_dp import STUDY_AREA_TAG
from catalog.geo import parse_point
from catalog.imports.common import (
    DUPLICATE,
    IMPORTED,
    MAX_TABLE_BYTES,
    REFUSED,
    SKIPPED,
    ImportRefused,
    Progress,
    Record,
    Report,
    Source,
    TableError,
    csv_records,
)
from catalog.models import (
    REFERENCE_STATUSES,
    BodyPart,
    BoxSource,
    CameraStation,
    Location,
    Organization,
    ReviewAction,
    ReviewDecision,
    Role,
    Sex,
    Sighting,
    SightingStatus,
    StationOperatingPeriod,
)
from catalog.review import individual_refresh_seen
from catalog.selectors import user_can
from catalog.services import image_add, individual_get_or_create, sighting_create
from catalog.study_areas import station_period_add

RESOURCES = ("deployments", "media", "observations")
DESCRIPTOR_MAX_BYTES = 10 * 1024 * 1024
# The columns each table must have, and the only ones kept in memory (see csv_records).
REQUIRED_COLUMNS = {
    "deployments": ("deploymentID", "latitude", "longitude"),
    "media": ("mediaID", "deploymentID", "filePath"),
    "observations": ("observationID", "deploymentID", "observationType"),
}
KEPT_COLUMNS = {
    "deployments": ("deploymentID", "locationID", "locationName", "latitude", "longitude", "deploymentStart",
                    "deploymentEnd", "deploymentGroups"),
    "media": ("mediaID", "deploymentID", "timestamp", "filePath", "fileName"),
    "observations": ("observationID", "deploymentID", "mediaID", "eventID", "eventStart", "eventEnd",
                     "observationLevel", "observationType", "scientificName", "individualID", "observationTags",
                     "observationComments", "bboxX", "bboxY", "bboxWidth", "bboxHeight"),
}


def _parse_time(value: str) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _tags(value: str) -> dict[str, str]:
    out = {}
    for part in (value or "").split("|"):
        if ":" in part:
            key, val = part.split(":", 1)
            out[key.strip()] = val.strip()
    return out


def _is_url(path: str) -> bool:
    return "://" in (path or "")


class _SightingFailed(Exception):
    pass


class _NoPhotoKept(Exception):
    """The event's photos were all refused, skipped or duplicates: its sighting is rolled back."""

    def __init__(self, outcome: str, reason: str):
        super().__init__(reason)
        self.outcome = outcome


class CamtrapDpImporter:
    def __init__(self, *, source: Source, organization: Organization, user: User | None, location: Location | None = None):
        self.source, self.org, self.user, self.location = source, organization, user, location
        self.report = Report()
        self.root = self._find_root()
        try:
            # A descriptor is a few kB; 10 MB bounds the memory its parsed form can take.
            self.descriptor = json.loads(
                self.source.read(self._join("datapackage.json"), limit=DESCRIPTOR_MAX_BYTES).decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportRefused(_("datapackage.json can't be read: %(error)s") % {"error": exc}) from None
        if not isinstance(self.descriptor, dict):
            raise ImportRefused(_("datapackage.json is not a JSON object."))
        self.tables = {name: self._table(name) for name in RESOURCES}
        self.individual_info = self._individuals_resource()
        self._check_study_areas()

    def _find_root(self) -> str:
        candidates = sorted((n for n in self.source.names() if posixpath.basename(n) == "datapackage.json"), key=len)
        if not candidates:
            raise ImportRefused(_("No datapackage.json in the package: is this a Camtrap DP package?"))
        return posixpath.dirname(candidates[0])

    def _join(self, rel: str) -> str:
        return posixpath.normpath(posixpath.join(self.root, rel)) if self.root else posixpath.normpath(rel)

    def _table(self, name: str) -> list[Record]:
        resources = self.descriptor.get("resources", [])
        resource = next((r for r in resources if isinstance(r, dict) and r.get("name") == name), None) \
            if isinstance(resources, list) else None
        if resource is None:
            raise ImportRefused(_("The package has no “%(name)s” resource.") % {"name": name})
        path = resource.get("path")
        if isinstance(path, list):
            path = path[0] if len(path) == 1 else None
        if not path or _is_url(path):
            raise ImportRefused(_("The “%(name)s” table is not a file in the package (URLs are not fetched).") % {"name": name})
        # Streamed row by row with a row limit: a small zip may hold a table of gigabytes.
        try:
            with self.source.open(self._join(str(path)), limit=MAX_TABLE_BYTES) as stream:
                return list(csv_records(stream, name=posixpath.basename(str(path)), columns=KEPT_COLUMNS[name],
                                        required=REQUIRED_COLUMNS[name]))
        except FileNotFoundError:
            raise ImportRefused(_("The package lacks its file %(path)s.") % {"path": path}) from None
        except TableError:
            raise
        except ValueError as exc:
            raise ImportRefused(_("The “%(name)s” table can't be read: %(error)s") % {"name": name, "error": exc}) from None

    def _individuals_resource(self) -> dict[str, dict]:
        resources = self.descriptor.get("resources", [])
        resource = next((r for r in resources if isinstance(r, dict) and r.get("name") == "individuals"), None) \
            if isinstance(resources, list) else None
        rows = resource.get("data", []) if resource and isinstance(resource.get("data"), list) else []
        return {str(r.get("individualID") or r.get("id")): r for r in rows if isinstance(r, dict)}

    # Deployments -> stations

    def _area_name(self, deployment: Record) -> str:
        name = _tags(deployment.get("deploymentGroups", "")).get(STUDY_AREA_TAG.rstrip(":"))
        return str(name or self.descriptor.get("title") or self.descriptor.get("name") or "Imported")[:200]

    def _check_study_areas(self) -> None:
        """Only an organisation admin may create study areas (as over the API): checked before anything is written."""
        if self.location is not None:
            return
        missing = sorted({self._area_name(d) for d in self.tables["deployments"]}
                         - set(Location.objects.values_list("name", flat=True)))
        if missing and not (self.user is not None and (self.user.is_staff or user_can(self.user, self.org.pk, Role.ORG_ADMIN))):
            raise ImportRefused(
                _("The package's study area(s) %(names)s do not exist yet, and only an organisation admin may "
                  "create study areas: choose an existing study area for this import, or ask an admin.")
                % {"names": ", ".join(f"“{n}”" for n in missing)}
            )

    def _location_for(self, deployment: Record) -> Location:
        if self.location is not None:
            return self.location
        location, _created = Location.objects.get_or_create(name=self._area_name(deployment), defaults={"time_zone": "UTC"})
        return location

    def _stations(self) -> dict[str, CameraStation | str]:
        """deploymentID -> station, or the reason it was refused."""
        out: dict[str, CameraStation | str] = {}
        for dep in self.tables["deployments"]:
            dep_id = dep.get("deploymentID", "")
            label = _("deployments line %(line)d (deployment %(id)s)") % {"line": dep.number, "id": dep_id or "?"}
            start, end = _parse_time(dep.get("deploymentStart")), _parse_time(dep.get("deploymentEnd"))
            try:
                lat, lon = parse_point(dep.get("latitude"), dep.get("longitude"))
            except ValueError as exc:
                out[dep_id] = _("deployment %(id)s (line %(line)d) has no valid position: %(error)s") % {
                    "id": dep_id, "line": dep.number, "error": exc}
                self.report.add(label, REFUSED, out[dep_id])
                continue
            code = (dep.get("locationName") or dep.get("locationID") or dep_id)[:100]
            try:
                with transaction.atomic():
                    location = self._location_for(dep)
                    station = CameraStation.objects.filter(location=location, code=code).first()
                    if station is None:
                        station = CameraStation(
                            location=location, organization=self.org, code=code, latitude=lat, longitude=lon,
                            operating_from=start.date() if start else None,
                            operating_to=end.date() if end and (not start or end >= start) else None,
                        )
                        station.full_clean()
                        station.save()
                        if station.operating_from:
                            StationOperatingPeriod.objects.create(station=station, start=station.operating_from,
                                                                  end=station.operating_to)
                        self.report.add(label, IMPORTED, _("station %(code)s created") % {"code": code})
                    elif (station.organization_id == self.org.pk and start
                          and station_period_add(station=station, start=start.date(),
                                                 end=end.date() if end and end >= start else None)):
                        # Camtrap DP has one deployment per operating period of a station.
                        self.report.add(label, IMPORTED, _("operating period %(start)s added to station %(code)s")
                                        % {"start": start.date().isoformat(), "code": code})
                    else:
                        self.report.add(label, DUPLICATE, _("station %(code)s is already in %(area)s")
                                        % {"code": code, "area": location.name})
            except ValidationError as exc:
                out[dep_id] = _("deployment %(id)s (line %(line)d): %(error)s") % {
                    "id": dep_id, "line": dep.number, "error": "; ".join(exc.messages)}
                self.report.add(label, REFUSED, out[dep_id])
                continue
            out[dep_id] = station
        return out

    # Observations -> sightings

    def _groups(self) -> list[dict]:
        media = {m.get("mediaID"): m for m in self.tables["media"]}
        by_event: dict[str, list[dict]] = defaultdict(list)
        for obs in self.tables["observations"]:
            by_event[obs.get("eventID") or obs.get("observationID")].append(obs)
        claimed: set[str] = set()
        groups: list[dict] = []
        media_by_deployment: dict[str, list[dict]] = defaultdict(list)
        for m in self.tables["media"]:
            media_by_deployment[m.get("deploymentID")].append(m)

        for event_id, rows in by_event.items():
            animal = [r for r in rows if r.get("observationType") == "animal"]
            event_rows = [r for r in rows if r.get("observationLevel") == "event"]
            media_rows = [r for r in rows if r.get("observationLevel") == "media" and r.get("mediaID")]
            if not animal:
                types = sorted({r.get("observationType") or "?" for r in rows})
                reason = _("no animal in this event (%(types)s)") % {"types": ", ".join(types)}
                for r in media_rows:
                    if r["mediaID"] in media and r["mediaID"] not in claimed:
                        claimed.add(r["mediaID"])
                        self.report.add(self._media_label(media[r["mediaID"]]), SKIPPED, reason)
                self.report.add(f"event {event_id}", SKIPPED, reason)
                continue
            per_individual: dict[str, dict] = {}
            for r in animal:
                key = (r.get("individualID") or "").strip()
                group = per_individual.setdefault(key, {
                    "event": event_id, "individual": key, "rows": [], "media": [], "deployment": r.get("deploymentID"),
                })
                group["rows"].append(r)
                if r.get("observationLevel") == "media" and r.get("mediaID") in media and r["mediaID"] not in claimed:
                    claimed.add(r["mediaID"])
                    group["media"].append((media[r["mediaID"]], r))
            if not media_rows:
                # Event-level only: the event's media are the deployment's files within its time range.
                first = next(iter(per_individual.values()))
                start = min((_parse_time(r.get("eventStart")) for r in event_rows if _parse_time(r.get("eventStart"))), default=None)
                end = max((_parse_time(r.get("eventEnd")) for r in event_rows if _parse_time(r.get("eventEnd"))), default=None)
                if start and end:
                    for m in media_by_deployment.get(first["deployment"], []):
                        ts = _parse_time(m.get("timestamp"))
                        if ts and start <= ts <= end and m.get("mediaID") not in claimed:
                            claimed.add(m["mediaID"])
                            first["media"].append((m, None))
            groups.extend(per_individual.values())
        for m in self.tables["media"]:
            if m.get("mediaID") not in claimed:
                self.report.add(self._media_label(m), SKIPPED, _("no observation refers to this file"))
        return groups

    @staticmethod
    def _media_label(m: dict) -> str:
        return m.get("filePath") or m.get("fileName") or m.get("mediaID") or "?"

    def run(self, progress: Progress | None = None) -> Report:
        stations = self._stations()
        groups = self._groups()
        for i, group in enumerate(groups, start=1):
            self._import_group(group, stations)
            if progress:
                progress(i, len(groups))
        return self.report

    def _import_group(self, group: dict, stations: dict) -> None:
        event_label = f"event {group['event']}" + (f" / {group['individual']}" if group["individual"] else "")
        station = stations.get(group["deployment"])
        if not isinstance(station, CameraStation):
            reason = station or _("unknown deployment %(id)s") % {"id": group["deployment"]}
            self.report.add(event_label, REFUSED, reason)
            for m, _obs in group["media"]:
                self.report.add(self._media_label(m), REFUSED, reason)
            return
        external_id = f"camtrap-dp:{group['event']}" + (f":{group['individual']}" if group["individual"] else "")
        existing = Sighting.objects.filter(organization=self.org).filter(self._same_sighting(group, external_id)).first()
        if existing is not None:
            self.report.add(event_label, DUPLICATE, _("this sighting is already in"), str(existing.uuid))
            for m, _obs in group["media"]:
                self.report.add(self._media_label(m), DUPLICATE, _("its sighting is already in"), str(existing.uuid))
            return
        rows_before = len(self.report.rows)
        try:
            with transaction.atomic():
                self._create(group, station, external_id, event_label)
        except _NoPhotoKept as exc:
            # The photos' rows keep their own reasons; the rolled-back sighting is named by none of them.
            for row in self.report.rows[rows_before:]:
                row["sighting"] = None
            self.report.add(event_label, exc.outcome, str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure rolls the whole sighting back, then the next one goes on
            # Roll back the report with the data: nothing of this sighting was kept.
            files = [r["file"] for r in self.report.rows[rows_before:]] or [event_label]
            del self.report.rows[rows_before:]
            reason = _("import of this sighting failed, nothing of it was kept: %(error)s") % {"error": exc}
            for name in files:
                self.report.add(name, REFUSED, reason)

    @staticmethod
    def _same_sighting(group: dict, external_id: str) -> Q:
        query = Q(external_id=external_id)
        try:
            # Our own exports use the sighting's uuid as eventID: re-importing them finds the original.
            query |= Q(uuid=uuid_mod.UUID(str(group["event"])))
        except ValueError:
            pass
        return query

    def _create(self, group: dict, station: CameraStation, external_id: str, event_label: str) -> None:
        rows = group["rows"]
        event_rows = [r for r in rows if r.get("observationLevel") == "event"] or rows
        times = [t for r in event_rows for t in (_parse_time(r.get("eventStart")),) if t]
        times += [t for m, _o in group["media"] for t in (_parse_time(m.get("timestamp")),) if t]
        if not times:
            raise _SightingFailed(_("no valid eventStart or media timestamp"))
        tags = _tags(event_rows[0].get("observationTags", ""))
        names = sorted({r.get("scientificName") for r in rows if r.get("scientificName")})
        comments = [r.get("observationComments") for r in event_rows if r.get("observationComments")]
        notes = " ".join(comments)
        if names and names != ["Panthera uncia"]:
            notes = (_("Imported from Camtrap DP; scientificName: %(names)s.") % {"names": ", ".join(names)} + " " + notes).strip()
        sighting = sighting_create(
            organization=self.org, submitted_by=self.user, observed_at=min(times),
            location=station.location, station=station, notes=notes, external_id=external_id,
        )
        outcomes = [self._add_media(sighting, m, obs) for m, obs in group["media"]]
        # An event whose photos are all remote (never fetched) stays a record of a detection; one whose
        # photos were refused or are already in would become a sighting nobody can see or identify.
        if IMPORTED not in outcomes and REFUSED in outcomes:
            raise _NoPhotoKept(REFUSED, _("none of this event's photos could be imported (see their rows)"))
        if outcomes and all(o == DUPLICATE for o in outcomes):
            raise _NoPhotoKept(DUPLICATE, _("its photos are already in your organisation's catalog"))
        self.report.add(event_label, IMPORTED, "", str(sighting.uuid))
        self._decide(sighting, group["individual"], tags.get("status", ""))

    def _add_media(self, sighting: Sighting, m: Record, obs: Record | None) -> str:
        """Add one photo; report it and return its outcome."""
        label = self._media_label(m)
        path = m.get("filePath", "")
        if _is_url(path):
            self.report.add(label, SKIPPED, _("remote file (URL), not fetched"), str(sighting.uuid))
            return SKIPPED
        try:
            data = self.source.read(self._join(path))
        except FileNotFoundError:
            self.report.add(label, REFUSED, _("the file is not in the package"), str(sighting.uuid))
            return REFUSED
        except ValueError as exc:
            self.report.add(label, REFUSED, str(exc), str(sighting.uuid))
            return REFUSED
        tags = _tags((obs or {}).get("observationTags", ""))
        body_part = tags.get("bodyPart", BodyPart.UNKNOWN)
        if body_part not in BodyPart.values:
            body_part = BodyPart.UNKNOWN
        box = self._box(obs, data)
        try:
            image_add(
                sighting=sighting, file=ContentFile(data, name=m.get("fileName") or posixpath.basename(path)),
                body_part=body_part, added_by=self.user, box=box, box_source=BoxSource.IMPORT if box else "",
                original_filename=m.get("fileName") or posixpath.basename(path),
            )
        except ValidationError as exc:
            outcome = DUPLICATE if getattr(exc, "code", None) == "duplicate" else REFUSED
            self.report.add(label, outcome, " ".join(exc.messages), str(sighting.uuid))
            return outcome
        self.report.add(label, IMPORTED, "", str(sighting.uuid))
        return IMPORTED

    @staticmethod
    def _box(obs: dict | None, data: bytes):
        if not obs:
            return None
        values = [_float(obs.get(k)) for k in ("bboxX", "bboxY", "bboxWidth", "bboxHeight")]
        if any(v is None for v in values):
            return None
        try:
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                    width, height = height, width
        except Exception:  # noqa: BLE001 - image_add reports the unreadable file itself
            return None
        x, y, w, h = values
        return (x * width, y * height, w * width, h * height)

    def _decide(self, sighting: Sighting, individual_id: str, status_tag: str) -> None:
        if individual_id:
            info = self.individual_info.get(individual_id, {})
            sex = info.get("sex") if info.get("sex") in Sex.values else Sex.UNKNOWN
            individual, _created = individual_get_or_create(
                code=individual_id[:32],
                defaults={"name": str(info.get("individualName") or "")[:100], "sex": sex},
            )
            status = status_tag if status_tag in REFERENCE_STATUSES else SightingStatus.IDENTIFIED
        else:
            individual = None
            status = SightingStatus.UNIDENTIFIABLE if status_tag == SightingStatus.UNIDENTIFIABLE else SightingStatus.SUBMITTED
        if status == SightingStatus.SUBMITTED:
            return
        previous = sighting.status
        Sighting.objects.filter(pk=sighting.pk).update(status=status, individual=individual)
        if self.user is not None:
            action = {
                SightingStatus.IDENTIFIED: ReviewAction.CONFIRM,
                SightingStatus.NEW_INDIVIDUAL: ReviewAction.NEW_INDIVIDUAL,
            }.get(status, ReviewAction.UNIDENTIFIABLE)
            ReviewDecision.objects.create(
                sighting=sighting, user=self.user, action=action, individual=individual,
                previous_status=previous, new_status=status, note=_("Imported from a Camtrap DP package."),
            )
        if individual is not None:
            individual_refresh_seen(individual)
            pk = sighting.pk
            # Reference images join the index on the bulk queue: imports never delay identifications.
            transaction.on_commit(
                lambda: async_task("matching.tasks.index_sighting", pk, cluster=settings.QUEUE_BULK)
            )


def import_camtrap_dp(*, source: Source, organization: Organization, user: User | None,
                      location: Location | None = None, progress: Progress | None = None,
                      report: Report | None = None) -> Report:
    importer = CamtrapDpImporter(source=source, organization=organization, user=user, location=location)
    if report is not None:  # the caller keeps what was reported even if the run stops part-way
        report.rows.extend(importer.report.rows)
        importer.report = report
    return importer.run(progress)
