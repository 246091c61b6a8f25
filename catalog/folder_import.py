"""Import a labelled catalog from a folder (manage.py import_catalog).

Two layouts are read:
- labelled folder: `labels.csv` (path, individual_id, body_part, encounter_id, station, datetime,
  latitude, longitude, bbox_x, bbox_y, bbox_w, bbox_h) beside the images, one sighting per encounter;
- nested folders: `<location>/<individual>/<body_part>/*.jpg`, one sighting per photo.
Everything happens in one transaction: with a bad row nothing is imported (unless skip_bad), and
the files already written are removed with the rollback.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import Max, Min
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from catalog.imaging import image_validate, local_to_aware
from catalog.models import (
    BodyPart,
    BoxSource,
    Individual,
    Location,
    Organization,
    Sighting,
    SightingStatus,
)
from catalog.services import image_add, individual_get_or_create, sighting_create

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif"}
LABEL_COLUMNS = ("path", "individual_id", "body_part", "encounter_id", "station", "datetime", "latitude", "longitude",
                 "bbox_x", "bbox_y", "bbox_w", "bbox_h")
_BODY_PART_ALIASES = {"": BodyPart.UNKNOWN, "left": BodyPart.LEFT_FLANK, "right": BodyPart.RIGHT_FLANK,
                      "leftflank": BodyPart.LEFT_FLANK, "rightflank": BodyPart.RIGHT_FLANK, "face": BodyPart.HEAD}


class ImportRefused(Exception):
    """The import was rolled back; `report.refused` says which rows and why."""

    def __init__(self, report: "ImportReport"):
        super().__init__(_("%(n)s row(s) refused; nothing was imported.") % {"n": len(report.refused)})
        self.report = report


@dataclass
class Row:
    number: int  # line in labels.csv (header is line 1), or running number of a file in nested folders
    path: Path
    individual: str
    body_part: str
    encounter: str
    location: str
    station_label: str
    observed_at: datetime | None
    latitude: float | None
    longitude: float | None
    box: tuple[int, int, int, int] | None


@dataclass
class ImportReport:
    layout: str = ""
    sightings: int = 0
    images: int = 0
    individuals_created: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (row, path, reason)
    sighting_ids: list[int] = field(default_factory=list)


def normalise_body_part(value: str) -> str:
    key = value.strip().lower().replace(" ", "_").replace("-", "_")
    if key in BodyPart.values:
        return key
    squashed = key.replace("_", "")
    if squashed in _BODY_PART_ALIASES:
        return _BODY_PART_ALIASES[squashed]
    raise ValueError(_("unknown body part “%(value)s” (use %(choices)s)") % {"value": value, "choices": ", ".join(BodyPart.values)})


def _float(value: str, low: float, high: float, name: str) -> float | None:
    if not value.strip():
        return None
    number = float(value)
    if not low <= number <= high:
        raise ValueError(_("%(name)s %(value)s is out of range") % {"name": name, "value": value})
    return number


def _inside(root: Path, relative: str) -> Path:
    # Lexical check: the operator may link images in from elsewhere, but a row can't point out.
    path = Path(os.path.normpath(root.absolute() / relative))
    if root.absolute() not in path.parents:
        raise ValueError(_("path “%(path)s” leaves the import folder") % {"path": relative})
    if not path.is_file():
        raise ValueError(_("file “%(path)s” does not exist") % {"path": relative})
    return path


def read_labels(root: Path, location_name: str | None) -> tuple[list[Row], list[tuple[int, str, str]]]:
    rows, refused = [], []
    with open(root / "labels.csv", newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("path", "individual_id") if c not in (reader.fieldnames or [])]
        if missing:
            refused.append((1, "labels.csv", _("missing column(s): %(cols)s") % {"cols": ", ".join(missing)}))
            return rows, refused
        for number, record in enumerate(reader, start=2):
            get = lambda key: (record.get(key) or "").strip()  # noqa: E731
            try:
                if not get("individual_id"):
                    raise ValueError(_("individual_id is empty"))
                path = _inside(root, get("path"))
                station = get("station")
                location = location_name or (station.split("/", 1)[0] if station else "") or root.name
                when = datetime.fromisoformat(get("datetime")) if get("datetime") else None
                box_values = [get(k) for k in ("bbox_x", "bbox_y", "bbox_w", "bbox_h")]
                if any(box_values) and not all(box_values):
                    raise ValueError(_("the box needs all four of bbox_x, bbox_y, bbox_w, bbox_h"))
                box = tuple(int(float(v)) for v in box_values) if all(box_values) else None
                latitude = _float(get("latitude"), -90, 90, "latitude")
                longitude = _float(get("longitude"), -180, 180, "longitude")
                if (latitude is None) != (longitude is None):
                    raise ValueError(_("give both latitude and longitude, or neither"))
                rows.append(Row(number, path, get("individual_id"), normalise_body_part(get("body_part")),
                                get("encounter_id") or get("path"), location, station, when, latitude, longitude, box))
            except ValueError as exc:
                refused.append((number, get("path"), str(exc)))
    return rows, refused


def read_nested(root: Path, location_name: str | None) -> tuple[list[Row], list[tuple[int, str, str]]]:
    rows, refused = [], []
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    for number, path in enumerate(files, start=1):
        parts = path.relative_to(root).parts
        try:
            if len(parts) == 3:  # no body-part folder: unknown
                parts = (parts[0], parts[1], "", parts[2])
            if len(parts) != 4:
                raise ValueError(_("expected <location>/<individual>/<body_part>/<file>"))
            location, individual, body_part, _name = parts
            rows.append(Row(number, path, individual, normalise_body_part(body_part), str(path.relative_to(root)),
                            location_name or location, "", None, None, None, None))
        except ValueError as exc:
            refused.append((number, str(path.relative_to(root)), str(exc)))
    return rows, refused


def catalog_folder_import(
    *,
    directory: Path,
    organization: Organization,
    location_name: str | None = None,
    time_zone: str = "UTC",
    added_by: User | None = None,
    skip_bad: bool = False,
    index: bool = True,
    code_prefix: str = "",
    default_date: datetime | None = None,
) -> ImportReport:
    """Import every labelled image under `directory` as identified reference sightings."""
    root = Path(directory)
    report = ImportReport()
    if not root.is_dir():
        raise ValidationError(_("%(dir)s is not a folder.") % {"dir": root})
    if (root / "labels.csv").is_file():
        report.layout = "labels.csv"
        rows, refused = read_labels(root, location_name)
    else:
        report.layout = "<location>/<individual>/<body_part>/"
        rows, refused = read_nested(root, location_name)
    report.refused.extend(refused)
    if not rows and not report.refused:
        raise ValidationError(_("No images found in %(dir)s.") % {"dir": root})

    source = root.name
    encounters: dict[str, list[Row]] = {}
    for row in rows:
        encounters.setdefault(row.encounter, []).append(row)

    with transaction.atomic():
        touched: set[int] = set()
        for encounter, group in encounters.items():
            individual_codes = {code_prefix + row.individual for row in group}
            if len(individual_codes) > 1:
                for row in group:
                    report.refused.append((row.number, str(row.path.relative_to(root)),
                                           _("encounter %(enc)s mixes individuals %(ids)s")
                                           % {"enc": encounter, "ids": ", ".join(sorted(individual_codes))}))
                continue
            _import_encounter(report, root, source, encounter, group, organization, time_zone, added_by,
                              code_prefix, touched, default_date)
        if report.refused and not skip_bad:
            transaction.set_rollback(True)
            raise ImportRefused(report)
        for individual in Individual.objects.filter(pk__in=touched):
            dates = individual.sightings.filter(status=SightingStatus.IDENTIFIED).aggregate(
                first=Min("observed_at"), last=Max("observed_at"))
            individual.first_seen, individual.last_seen = dates["first"], dates["last"]
            individual.save(update_fields=["first_seen", "last_seen"])
        if index:
            for pk in report.sighting_ids:
                # Dotted path: catalog does not import matching.
                transaction.on_commit(lambda pk=pk: async_task("matching.tasks.index_sighting", pk,
                                                               cluster=settings.QUEUE_BULK))
    return report


def _observed_at(group: list[Row], location: Location, default: datetime | None) -> datetime:
    when = next((row.observed_at for row in group if row.observed_at), None)
    if when is None:  # fall back on the camera's EXIF clock
        for row in group:
            with open(row.path, "rb") as fh:
                try:
                    when = image_validate(File(fh))[1].exif_datetime
                except ValidationError:
                    continue
            if when is not None:
                break
    if when is None:
        when = default
    if when is None:
        raise ValidationError(_("no date-time: the datetime column is empty and the photos have no EXIF date"))
    return local_to_aware(when, location.time_zone)


def _import_encounter(report, root, source, encounter, group, organization, time_zone, added_by, code_prefix, touched,
                      default_date):
    first = group[0]
    relative = lambda row: str(row.path.relative_to(root))  # noqa: E731
    location, _created = Location.objects.get_or_create(name=first.location[:200], defaults={"time_zone": time_zone})
    external_id = f"import:{source}:{encounter}"[:200]
    sighting = Sighting.objects.filter(organization=organization, external_id=external_id).first()
    created_now = False
    if sighting is None:
        try:
            with transaction.atomic():
                station = first.station_label
                sighting = sighting_create(
                    organization=organization, submitted_by=added_by, observed_at=_observed_at(group, location, default_date),
                    location=location, latitude=first.latitude, longitude=first.longitude,
                    notes=(_("Imported from %(source)s, station %(station)s.") % {"source": source, "station": station})
                    if station else _("Imported from %(source)s.") % {"source": source},
                    external_id=external_id,
                )
                created_now = True
        except ValidationError as exc:
            for row in group:
                report.refused.append((row.number, relative(row), " ".join(exc.messages)))
            return
    new_images = 0
    for row in group:
        try:
            with open(row.path, "rb") as fh:
                image_add(sighting=sighting, file=File(fh, name=row.path.name), body_part=row.body_part,
                          added_by=added_by, box=row.box, box_source=BoxSource.IMPORT if row.box else "",
                          original_filename=row.path.name)
            new_images += 1
        except ValidationError as exc:
            if getattr(exc, "error_list", None) and exc.error_list[0].code == "duplicate":
                report.duplicates.append(relative(row))
            else:
                report.refused.append((row.number, relative(row), " ".join(exc.messages)))
    if not new_images:
        if created_now:  # every photo was refused or a duplicate: no empty sighting stays behind
            sighting.delete()
        return
    report.sightings += int(created_now)
    report.images += new_images
    code = (code_prefix + first.individual)[:32]
    individual, created = individual_get_or_create(code=code, defaults={"name": first.individual[:100]})
    if created:
        report.individuals_created.append(individual.code)
    touched.add(individual.pk)
    if sighting.status != SightingStatus.IDENTIFIED or sighting.individual_id != individual.pk:
        sighting.individual = individual
        sighting.status = SightingStatus.IDENTIFIED
        sighting.save(update_fields=["individual", "status", "updated_at"])
    report.sighting_ids.append(sighting.pk)
