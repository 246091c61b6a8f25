"""A partner's upload: files (or a zip of a trigger/folder) → one sighting per camera trigger.

Good files are kept and bad ones refused with their reason, file by file: each image is added
in its own savepoint, so one bad file never takes the others down. Burst frames of one trigger
(same folder, taken within BURST_GAP of each other) become one sighting.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePosixPath

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.template.defaultfilters import filesizeformat
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image

from catalog.imaging import THUMB_SIZES, exif_fields, local_to_aware, thumbnail_name
from catalog.imports.common import TooLarge, zip_member_spool
from catalog.models import BodyPart, BoxSource, CameraStation, Location, Organization, Role, Sighting, SightingImage, SightingStatus
from catalog.selectors import user_can
from catalog.services import image_add, sighting_create

# Frames further apart than this belong to different triggers (camera traps fire bursts of 3-10
# frames within a few seconds; the next trigger is usually minutes away).
BURST_GAP = timedelta(seconds=60)
ZIP_SUFFIXES = (".zip",)
EDITABLE_STATUSES = (SightingStatus.SUBMITTED, SightingStatus.AWAITING_REVIEW)
# Date, place and notes don't change what a reviewer decided, so a decided (or imported) sighting
# can still get its station or its local time set right; not while a run reads it, nor once withdrawn.
DETAILS_EDITABLE_STATUSES = (
    *EDITABLE_STATUSES, SightingStatus.IDENTIFIED, SightingStatus.NEW_INDIVIDUAL, SightingStatus.UNIDENTIFIABLE,
)


@dataclass
class FileOutcome:
    name: str
    ok: bool
    reason: str = ""
    image: SightingImage | None = None


@dataclass
class SubmissionResult:
    sightings: list[Sighting] = field(default_factory=list)
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def accepted(self) -> list[FileOutcome]:
        return [f for f in self.files if f.ok]

    @property
    def refused(self) -> list[FileOutcome]:
        return [f for f in self.files if not f.ok]


@dataclass
class _Item:
    name: str  # what the user called it, for the report (zip members keep their folder)
    folder: str
    file: object
    taken: datetime | None = None


def _exif_taken(file) -> datetime | None:
    """Camera time of a photo (naive, camera clock), only to group bursts; None when unreadable."""
    try:
        file.seek(0)
        with Image.open(file) as img:
            taken = exif_fields(img.getexif())[0]
        file.seek(0)
        # The camera's clock as written, offset dropped: bursts are grouped by clock differences.
        return taken.replace(tzinfo=None) if taken else None
    except Exception:  # any unreadable file is refused, with its reason, by image_add later
        try:
            file.seek(0)
        except Exception:
            pass
        return None


def _expand_zip(upload, outcomes: list[FileOutcome]) -> list[_Item]:
    """The archive's photos as seekable spooled files (memory only for the small ones).

    Members are inflated through a counting stream: a header that understates a member's size
    does not make it any bigger in memory than UPLOAD_MAX_BYTES.
    """
    name = getattr(upload, "name", "upload.zip")
    if getattr(upload, "size", 0) > settings.UPLOAD_ARCHIVE_MAX_BYTES:
        outcomes.append(FileOutcome(name, False, _("The archive is too large (%(size)s); the limit is %(limit)s.") % {
            "size": filesizeformat(upload.size), "limit": filesizeformat(settings.UPLOAD_ARCHIVE_MAX_BYTES)}))
        return []
    try:
        archive = zipfile.ZipFile(upload)
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError):
        outcomes.append(FileOutcome(name, False, _("Not a readable zip archive.")))
        return []
    items = []
    total = 0
    for member in members:
        path = PurePosixPath(member.filename.replace("\\", "/"))
        shown = f"{name}/{path}"
        if path.name.startswith(".") or "__MACOSX" in path.parts:
            continue  # OS metadata, not a user's file
        if len(items) >= settings.DATA_UPLOAD_MAX_NUMBER_FILES:
            outcomes.append(FileOutcome(shown, False, _("Too many files in one archive.")))
            continue
        if total + member.file_size > settings.UPLOAD_ARCHIVE_MAX_BYTES:
            outcomes.append(FileOutcome(shown, False, _("The archive is too large in total.")))
            continue
        try:
            spool = zip_member_spool(archive, member, settings.UPLOAD_MAX_BYTES)
        except TooLarge:
            outcomes.append(FileOutcome(shown, False, _("File too large (the limit is %(limit)s).") % {
                "limit": filesizeformat(settings.UPLOAD_MAX_BYTES)}))
            continue
        except Exception:  # noqa: BLE001 - CRC errors, unsupported compression, truncated members
            outcomes.append(FileOutcome(shown, False, _("This file in the archive is damaged.")))
            continue
        spool.seek(0, 2)
        total += spool.tell()
        spool.seek(0)
        items.append(_Item(shown, str(path.parent), File(spool, name=path.name)))
    return items


def _triggers(items: list[_Item]) -> list[list[_Item]]:
    """Group items into camera triggers: per folder, split where the EXIF times jump > BURST_GAP."""
    groups: list[list[_Item]] = []
    by_folder: dict[str, list[_Item]] = {}
    for item in items:
        by_folder.setdefault(item.folder, []).append(item)
    for folder_items in by_folder.values():
        timed = sorted((i for i in folder_items if i.taken), key=lambda i: i.taken)
        untimed = [i for i in folder_items if not i.taken]
        current: list[_Item] = []
        for item in timed:
            if current and item.taken - current[-1].taken > BURST_GAP:
                groups.append(current)
                current = []
            current.append(item)
        # Frames without a camera time can't be placed in a burst: they stay with the folder's first.
        if groups and not current:
            groups[-1].extend(untimed)
        else:
            current.extend(untimed)
        if current:
            groups.append(current)
    return groups


class _NothingKept(Exception):
    pass


def submission_create(
    *,
    organization: Organization,
    submitted_by: User,
    files: list,
    observed_at: datetime | None = None,
    location: Location | None = None,
    station: CameraStation | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    notes: str = "",
    body_part: str = BodyPart.UNKNOWN,
) -> SubmissionResult:
    """Store the good files as sightings (one per trigger); report every file as kept or refused."""
    if not user_can(submitted_by, organization.pk, Role.CONTRIBUTOR):
        raise PermissionDenied(_("Only contributors of an organisation may submit sightings for it."))
    result = SubmissionResult()
    items: list[_Item] = []
    for upload in files:
        name = getattr(upload, "name", "") or "upload"
        if name.lower().endswith(ZIP_SUFFIXES):
            items.extend(_expand_zip(upload, result.files))
        else:
            items.append(_Item(name, "", upload))
    for item in items:
        item.taken = _exif_taken(item.file)
    if not items and not result.files:
        raise ValidationError(_("Choose at least one photo or a zip archive."))

    for group in _triggers(items):
        outcomes: list[FileOutcome] = []
        try:
            with transaction.atomic():
                sighting = sighting_create(
                    organization=organization, submitted_by=submitted_by,
                    # Provisional when not given: replaced by the frames' EXIF time below.
                    observed_at=observed_at or group[0].taken or timezone.now(),
                    location=location, station=station, latitude=latitude, longitude=longitude, notes=notes,
                )
                for item in group:
                    try:
                        with transaction.atomic():
                            image = image_add(
                                sighting=sighting, file=item.file, body_part=body_part, added_by=submitted_by,
                                original_filename=PurePosixPath(item.name).name,
                            )
                        outcomes.append(FileOutcome(item.name, True, image=image))
                    except ValidationError as exc:
                        outcomes.append(FileOutcome(item.name, False, " ".join(exc.messages)))
                kept = [o.image for o in outcomes if o.ok]
                if not kept:
                    raise _NothingKept()
                _fill_from_exif(sighting, kept, observed_at_given=observed_at is not None,
                                place_given=station is not None or latitude is not None)
        except _NothingKept:
            pass
        else:
            result.sightings.append(sighting)
        result.files.extend(outcomes)
    return result


def _fill_from_exif(sighting: Sighting, images: list[SightingImage], *, observed_at_given: bool, place_given: bool) -> None:
    fields = []
    times = [i.exif_datetime for i in images if i.exif_datetime]
    if not observed_at_given and times:
        sighting.observed_at = min(times)
        fields.append("observed_at")
    gps = next(((i.exif_latitude, i.exif_longitude) for i in images if i.exif_latitude is not None), None)
    if not place_given and gps and gps[1] is not None:
        sighting.latitude, sighting.longitude = gps
        fields += ["latitude", "longitude"]
    if fields:
        sighting.save(update_fields=[*fields, "updated_at"])


def _check_editable(sighting: Sighting, user: User, statuses: tuple = EDITABLE_STATUSES) -> None:
    if not user_can(user, sighting.organization_id, Role.CONTRIBUTOR):
        raise PermissionDenied(_("Only contributors of the sighting's organisation may edit it."))
    if sighting.status not in statuses:
        raise ValidationError(
            _("This sighting is %(status)s and can't be edited now.") % {"status": sighting.get_status_display()}
        )


@transaction.atomic
def sighting_details_update(
    *,
    sighting: Sighting,
    user: User,
    observed_at: datetime,
    station: CameraStation | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    notes: str = "",
    location: Location | None = None,
) -> Sighting:
    """Date-time (local time of the place when naive), place and notes of a sighting being submitted."""
    sighting = Sighting.objects.select_for_update().get(pk=sighting.pk)
    _check_editable(sighting, user, DETAILS_EDITABLE_STATUSES)
    if (latitude is None) != (longitude is None):
        raise ValidationError(_("Give both latitude and longitude, or neither."))
    if station is not None and location is not None and station.location_id != location.pk:
        raise ValidationError(_("The station is not in the chosen study area."))
    sighting.station = station
    if station is not None:
        sighting.location = station.location
    elif location is not None:
        sighting.location = location
    sighting.observed_at = local_to_aware(observed_at, sighting.time_zone)
    sighting.latitude, sighting.longitude = latitude, longitude
    sighting.notes = notes
    sighting.full_clean()
    sighting.save()
    return sighting


@transaction.atomic
def image_annotate(
    *, image: SightingImage, user: User, body_part: str, box: tuple[int, int, int, int] | None, box_source: str
) -> SightingImage:
    """Body part and the box around the animal (pixels of the stored, upright image) of one image."""
    image = SightingImage.objects.select_related("sighting").select_for_update().get(pk=image.pk)
    _check_editable(image.sighting, user)
    old_thumbnails = [thumbnail_name(image, size) for size in THUMB_SIZES]
    if body_part not in BodyPart.values:
        raise ValidationError(_("Unknown body part “%(value)s”.") % {"value": body_part})
    if box is None:
        image.box_x = image.box_y = image.box_w = image.box_h = None
        image.box_source = BoxSource.NONE
    else:
        x, y, w, h = (int(round(v)) for v in box)
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(image.width or x + w, x + w), min(image.height or y + h, y + h)
        if x1 - x0 < 4 or y1 - y0 < 4:
            raise ValidationError(_("The box lies outside the image or is too small."))
        image.box_x, image.box_y, image.box_w, image.box_h = x0, y0, x1 - x0, y1 - y0
        image.box_source = box_source if box_source in BoxSource.values and box_source else BoxSource.USER
    image.body_part = body_part
    image.save(update_fields=["body_part", "box_x", "box_y", "box_w", "box_h", "box_source"])
    if thumbnail_name(image, THUMB_SIZES[0]) != old_thumbnails[0]:
        # Thumbnails are cut to the box: the old box's ones are never served again.
        transaction.on_commit(lambda: [default_storage.delete(name) for name in old_thumbnails])
    return image
