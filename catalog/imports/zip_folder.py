"""Import a zip of a camera-trap folder: one folder per station, photos dated by their EXIF.

    <anything>/<STATION CODE>/<photos>   (an optional stations.csv anywhere: code, latitude,
                                          longitude[, operating_from, operating_to])

Photos of a station are grouped into sightings by time: a gap longer than `gap_minutes`
starts a new sighting. A station missing from the study area is created from stations.csv,
else from the GPS EXIF of its photos; without either its photos are refused.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

from catalog.geo import parse_point
from catalog.imaging import image_validate, local_to_aware
from catalog.imports.common import (
    DUPLICATE,
    IMAGE_EXTENSIONS,
    IMPORTED,
    REFUSED,
    SKIPPED,
    Progress,
    Report,
    Source,
    csv_records,
)
from catalog.models import CameraStation, Location, Organization, SightingImage
from catalog.services import image_add, sighting_create

STATIONS_FILE = "stations.csv"


@dataclass
class Photo:
    name: str
    station_code: str
    taken: datetime
    sha256: str
    gps: tuple[float, float] | None


class _NothingImported(Exception):
    pass


@dataclass
class Listed:
    """A stations.csv row: its place in the file, and its position or what is wrong with it."""

    label: str
    row: dict
    point: tuple[float, float] | None
    error: str = ""
    outcome: str = ""  # set once a photo used it; unused rows are reported skipped


STATION_COLUMNS = ("code", "latitude", "longitude", "operating_from", "operating_to")


def _read_stations_csv(source: Source) -> dict[str, Listed]:
    """Rows of stations.csv by code, streamed with a row limit; TableError when it is not such a table."""
    out: dict[str, Listed] = {}
    for name in source.names():
        if posixpath.basename(name).lower() != STATIONS_FILE:
            continue
        with source.open(name) as stream:
            for record in csv_records(stream, name=name, columns=STATION_COLUMNS, required=("code", "latitude", "longitude"),
                                      lower_keys=True):
                row = {c: record.get(c, "") for c in STATION_COLUMNS}
                label = _("%(file)s line %(line)d (station %(code)s)") % {
                    "file": name, "line": record.number, "code": row["code"] or "?"}
                if not row["code"]:
                    out[f"#{name}:{record.number}"] = Listed(label, row, None, _("the code is empty"))
                    continue
                try:
                    out[row["code"]] = Listed(label, row, parse_point(row["latitude"], row["longitude"]))
                except ValueError as exc:
                    out[row["code"]] = Listed(label, row, None, str(exc))
    return out


def _report_listed(report: Report, listed: dict[str, Listed]) -> None:
    for item in listed.values():
        if item.error:
            report.add(item.label, REFUSED, item.error)
        elif item.outcome:
            report.add(item.label, item.outcome, "")
        else:
            report.add(item.label, SKIPPED, _("no photo in the zip is in this station's folder"))


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _station(location: Location, organization: Organization, code: str, listed: dict[str, Listed],
             photos: list[Photo]) -> CameraStation | str:
    item = listed.get(code)
    station = CameraStation.objects.filter(location=location, code=code).first()
    if station is not None:
        if item is not None and not item.error:
            item.outcome = DUPLICATE
        return station
    row = item.row if item else None
    if item is not None:
        if item.error:
            return _("%(row)s: %(error)s") % {"row": item.label, "error": item.error}
        lat, lon = item.point
    else:
        gps = next((p.gps for p in photos if p.gps), None)
        if gps is None:
            return _(
                "unknown station “%(code)s” in %(location)s: create it first, or add it to stations.csv, "
                "or use photos with GPS EXIF"
            ) % {"code": code, "location": location.name}
        lat, lon = gps
    station = CameraStation(
        location=location, organization=organization, code=code[:100], latitude=lat, longitude=lon,
        operating_from=_date((row or {}).get("operating_from")) or min(p.taken for p in photos).date(),
        operating_to=_date((row or {}).get("operating_to")) or max(p.taken for p in photos).date(),
    )
    try:
        station.full_clean()
    except ValidationError as exc:
        if item is not None:
            item.error = "; ".join(exc.messages)
        return "; ".join(exc.messages)
    station.save()
    if item is not None:
        item.outcome = IMPORTED
    return station


def import_camera_zip(*, source: Source, organization: Organization, user: User | None, location: Location,
                      gap_minutes: int = 30, progress: Progress | None = None, report: Report | None = None) -> Report:
    report = report if report is not None else Report()
    for name in source.unsafe:
        report.add(name, REFUSED, _("unsafe path in the zip"))
    listed = _read_stations_csv(source)
    names = source.names()
    total = len(names)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    # Pass 1: read and validate every photo once (EXIF time, sha256), report what can't go in.
    photos: dict[str, list[Photo]] = {}
    known = set(
        SightingImage.objects.filter(sighting__organization=organization).values_list("sha256", flat=True)
    )
    for name in names:
        base = posixpath.basename(name)
        folder = posixpath.basename(posixpath.dirname(name))
        ext = posixpath.splitext(base)[1].lower()
        if base.lower() == STATIONS_FILE:
            step()
            continue
        if base.startswith(".") or "__MACOSX" in name or ext not in IMAGE_EXTENSIONS:
            report.add(name, SKIPPED, _("not an image file"))
            step()
            continue
        if not folder:
            report.add(name, REFUSED, _("not inside a station folder"))
            step()
            continue
        try:
            _image, info = image_validate(source.read(name))
        except (ValidationError, ValueError) as exc:
            report.add(name, REFUSED, " ".join(getattr(exc, "messages", [str(exc)])))
            step()
            continue
        if info.sha256 in known:
            report.add(name, DUPLICATE, _("the same photo is already in your organisation's catalog"))
            step()
            continue
        if info.exif_datetime is None:
            report.add(name, REFUSED, _("no EXIF date-time: the photo can't be placed in time"))
            step()
            continue
        known.add(info.sha256)
        gps = (info.exif_latitude, info.exif_longitude) if info.exif_latitude is not None else None
        taken = local_to_aware(info.exif_datetime, location.time_zone)
        photos.setdefault(folder, []).append(Photo(name, folder, taken, info.sha256, gps))

    # Pass 2: per station, group by time gap; one transaction per sighting.
    gap = timedelta(minutes=gap_minutes)
    for code, station_photos in sorted(photos.items()):
        station = _station(location, organization, code, listed, station_photos)
        station_photos.sort(key=lambda p: (p.taken, p.name))
        if isinstance(station, str):
            for p in station_photos:
                report.add(p.name, REFUSED, station)
                step()
            continue
        groups: list[list[Photo]] = []
        for p in station_photos:
            if groups and p.taken - groups[-1][-1].taken <= gap:
                groups[-1].append(p)
            else:
                groups.append([p])
        for group in groups:
            _import_group(source, report, organization, user, station, group)
            for _p in group:
                step()
    _report_listed(report, listed)
    return report


def _import_group(source: Source, report: Report, organization: Organization, user: User | None,
                  station: CameraStation, group: list[Photo]) -> None:
    rows_before = len(report.rows)
    try:
        with transaction.atomic():
            sighting = sighting_create(
                organization=organization, submitted_by=user, observed_at=group[0].taken,
                location=station.location, station=station, external_id=f"zip:{station.code}:{group[0].sha256[:16]}",
            )
            added = 0
            for p in group:
                try:
                    image_add(sighting=sighting, file=ContentFile(source.read(p.name), name=posixpath.basename(p.name)),
                              body_part="unknown", added_by=user, original_filename=posixpath.basename(p.name))
                except ValidationError as exc:
                    outcome = DUPLICATE if getattr(exc, "code", None) == "duplicate" else REFUSED
                    report.add(p.name, outcome, " ".join(exc.messages))
                    continue
                report.add(p.name, IMPORTED, "", str(sighting.uuid))
                added += 1
            if not added:
                raise _NothingImported
    except _NothingImported:
        return  # the empty sighting is rolled back; the photos' rows say why
    except Exception as exc:  # noqa: BLE001 - any failure rolls the whole sighting back, the next one goes on
        del report.rows[rows_before:]
        reason = _("import of this sighting failed, nothing of it was kept: %(error)s") % {"error": exc}
        for p in group:
            report.add(p.name, REFUSED, reason)
