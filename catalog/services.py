"""Writes that cross rows, storage or the queue. Keyword-only, one transaction each."""

from __future__ import annotations

import logging
import weakref
from datetime import datetime

from django.apps import apps
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from catalog.imaging import THUMB_SIZES, encode_normalised, image_validate, local_to_aware, thumbnail_name
from catalog.models import (
    BodyPart,
    BoxSource,
    CameraStation,
    Individual,
    IndividualStatus,
    Location,
    Organization,
    Sighting,
    SightingImage,
    SightingStatus,
)

logger = logging.getLogger(__name__)


def _delete_unless_committed(storage: Storage, name: str) -> None:
    """Delete `name` from storage if the surrounding transaction rolls back.

    Django has no on_rollback hook. An on_commit callback is dropped (and garbage-collected)
    when its transaction or savepoint rolls back, and run then dropped when it commits; a
    finalizer on the callback tells the two apart by a flag the callback sets, so a file
    written inside a transaction that later fails (even the caller's) does not stay behind.
    """
    state = {"committed": False}

    def committed() -> None:
        state["committed"] = True

    def cleanup() -> None:
        if not state["committed"]:
            try:
                storage.delete(name)
            except Exception:  # cleanup must never mask the error that caused the rollback
                logger.warning("could not delete %s after rollback", name, exc_info=True)

    weakref.finalize(committed, cleanup)
    transaction.on_commit(committed)


def sighting_create(
    *,
    organization: Organization,
    submitted_by: User | None,
    observed_at: datetime,
    location: Location | None = None,
    station: CameraStation | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    notes: str = "",
    external_id: str = "",
) -> Sighting:
    """Create a submitted sighting. A naive `observed_at` is local time of the location."""
    errors: dict[str, list[str]] = {}
    if station is not None:
        if location is None:
            location = station.location
        elif station.location_id != location.pk:
            errors.setdefault("station", []).append(
                _("Station %(station)s is not in %(location)s.") % {"station": station.code, "location": location.name}
            )
    if (latitude is None) != (longitude is None):
        errors.setdefault("latitude", []).append(_("Give both latitude and longitude, or neither."))
    if errors:
        raise ValidationError(errors)
    if observed_at is not None and timezone.is_naive(observed_at):
        observed_at = local_to_aware(observed_at, location.time_zone if location else None)
    sighting = Sighting(
        organization=organization,
        submitted_by=submitted_by,
        observed_at=observed_at,
        location=location,
        station=station,
        latitude=latitude,
        longitude=longitude,
        notes=notes or "",
        external_id=external_id or "",
        status=SightingStatus.SUBMITTED,
    )
    sighting.full_clean()
    with transaction.atomic():
        sighting.save()
    return sighting


def _box_fields(box, width: int, height: int) -> dict:
    if box is None:
        return {}
    if isinstance(box, dict):
        values = [box.get(k) for k in ("x", "y", "w", "h")]
    else:
        values = list(box)
    try:
        x, y, w, h = (int(round(float(v))) for v in values)
    except (TypeError, ValueError):
        raise ValidationError({"box": _("The box must be four numbers: x, y, width, height.")}, code="bad_box") from None
    # Clip to the image: boxes drawn in a browser can spill over the edge by a pixel or two.
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        raise ValidationError({"box": _("The box lies outside the image or is too small.")}, code="bad_box")
    return {"box_x": x0, "box_y": y0, "box_w": x1 - x0, "box_h": y1 - y0}


def individual_get_or_create(*, code: str, defaults: dict) -> tuple[Individual, bool]:
    """The catalog individual with this code, created when new (imports). One that was withdrawn
    (review.review_undo) returns to the catalog, since sightings are joining it."""
    individual, created = Individual.objects.get_or_create(code=code, defaults=defaults)
    if individual.status == IndividualStatus.WITHDRAWN:
        individual.status = IndividualStatus.ACTIVE
        individual.save(update_fields=["status"])
    return individual, created


def image_add(
    *,
    sighting: Sighting,
    file,
    body_part: str,
    added_by: User | None,
    box=None,
    box_source: str = "",
    original_filename: str | None = None,
    suggest_boxes: bool = False,
) -> SightingImage:
    """Validate, normalise and store one image of a sighting; refuses exact duplicates in the organisation.

    `box` is (x, y, w, h) or {"x","y","w","h"} in pixels of the upright (EXIF-applied) image.
    Stores nothing when it raises ValidationError. Does not enqueue identification. With
    `suggest_boxes` (uploads that no box editor follows, as through the API), the queue then stores
    suggested, unconfirmed boxes on the sighting's images that have no confirmed one.
    """
    if body_part not in BodyPart.values:
        raise ValidationError({"body_part": _("Unknown body part “%(value)s”.") % {"value": body_part}}, code="body_part")
    if box_source not in BoxSource.values:
        raise ValidationError({"box_source": _("Unknown box source “%(value)s”.") % {"value": box_source}})
    if original_filename is None:
        original_filename = getattr(file, "name", "") or ""
    original_filename = str(original_filename).replace("\\", "/").rsplit("/", 1)[-1][:255]

    image, info = image_validate(file)
    box_fields = _box_fields(box, info.width, info.height)
    if box_fields and not box_source:
        box_source = BoxSource.USER
    if not box_fields:
        box_source = BoxSource.NONE

    location = sighting.location or (sighting.station.location if sighting.station_id else None)
    data, ext = encode_normalised(image, info)

    with transaction.atomic():
        # Uploads to one organisation take its row lock for the duplicate check and the insert, so two
        # simultaneous uploads of one photo store it once (on SQLite the write transaction itself
        # serialises them). NO KEY UPDATE: it does not wait for, nor block, the key-share locks that
        # inserting sightings of the organisation takes, so an import's transaction cannot deadlock on it.
        # The decoding and encoding above stay outside the lock.
        list(Organization.objects.select_for_update(no_key=True).filter(pk=sighting.organization_id).values_list("pk", flat=True))
        duplicate = (
            SightingImage.objects.filter(sighting__organization_id=sighting.organization_id, sha256=info.sha256)
            .select_related("sighting")
            .first()
        )
        if duplicate is not None:
            raise ValidationError(
                _("This photo is already in your organisation's catalog (sighting of %(date)s, image %(name)s).")
                % {
                    "date": timezone.localtime(duplicate.sighting.observed_at).strftime("%Y-%m-%d %H:%M"),
                    "name": duplicate.original_filename or duplicate.uuid,
                },
                code="duplicate",
            )
        obj = SightingImage(
            sighting=sighting,
            body_part=body_part,
            box_source=box_source,
            sha256=info.sha256,
            original_filename=original_filename,
            exif_datetime=local_to_aware(info.exif_datetime, location.time_zone if location else None),
            exif_latitude=info.exif_latitude,
            exif_longitude=info.exif_longitude,
            added_by=added_by,
            **box_fields,
        )
        obj.file.save(f"upload{ext}", ContentFile(data), save=False)
        stored_name = obj.file.name
        try:
            obj.full_clean()
            obj.save()
        except BaseException:
            obj.file.storage.delete(stored_name)
            raise
        _delete_unless_committed(obj.file.storage, stored_name)
        if suggest_boxes:
            # Interactive cluster: the uploader waits for it. A dotted path keeps catalog free of matching imports.
            transaction.on_commit(lambda: async_task("matching.tasks.suggest_boxes", obj.sighting_id, obj.pk))
    return obj


def _stored_names(image: SightingImage) -> list[str]:
    # Feature files are matching's rows, reached through the reverse relation (catalog imports nothing from matching).
    features = [fs.file.name for fs in image.feature_sets.all()]
    return [image.file.name, *(thumbnail_name(image, size) for size in THUMB_SIZES), *features]


def _overlay_folders(images: list[SightingImage]) -> list[str]:
    """Storage folders of the cached overlays of every run that showed one of `images`."""
    candidates = apps.get_model("matching", "MatchCandidate").objects
    runs = candidates.filter(Q(query_image__in=images) | Q(reference_image__in=images)).values_list("run_id", flat=True)
    return [f"overlays/{run_id}" for run_id in sorted(set(runs))]


def _delete_stored(storage: Storage, names: list[str], folders: list[str]) -> None:
    for name in names:
        storage.delete(name)
    # Overlays are a cache drawn from both photos of a pair: the whole run's folder goes, and the
    # pairs that remain are drawn again when next viewed.
    for folder in folders:
        try:
            files = storage.listdir(folder)[1]
        except FileNotFoundError:
            continue
        for name in files:
            storage.delete(f"{folder}/{name}")


def images_delete(*, images) -> int:
    """Delete images (rows and, once that commits, their files, thumbnails, features and overlays); returns how many."""
    images = list(images)
    storage = SightingImage._meta.get_field("file").storage
    names = [name for image in images for name in _stored_names(image) if name]
    folders = _overlay_folders(images)
    with transaction.atomic():
        for image in images:
            image.delete()
        # Files go only after the commit: a rolled-back delete must still find its photos.
        transaction.on_commit(lambda: _delete_stored(storage, names, folders))
    return len(images)
