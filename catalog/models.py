import math
import uuid
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy



def validate_finite(value) -> None:
    """Refuse NaN and infinities: NaN slips past min/max comparisons, and neither is a place."""
    if value is not None and not math.isfinite(value):
        raise ValidationError(_("Enter a finite number."), code="not_finite")


LATITUDE_VALIDATORS = [validate_finite, MinValueValidator(-90.0), MaxValueValidator(90.0)]
LONGITUDE_VALIDATORS = [validate_finite, MinValueValidator(-180.0), MaxValueValidator(180.0)]


def coordinate_constraints(prefix: str, lat: str, lon: str, *, nullable: bool) -> list[models.CheckConstraint]:
    """Database checks that `lat`/`lon` are in range, so no path that skips full_clean stores a bad point.

    A range test also excludes NaN on both backends: PostgreSQL orders NaN above every number (so
    NaN <= 90 is false) and SQLite stores NaN as NULL; the infinities fail the range on both.
    """
    out = []
    for field, bound in ((lat, 90.0), (lon, 180.0)):
        in_range = Q(**{f"{field}__gte": -bound}) & Q(**{f"{field}__lte": bound})
        out.append(models.CheckConstraint(
            condition=(Q(**{f"{field}__isnull": True}) | in_range) if nullable else in_range,
            name=f"{prefix}_{field}_in_range",
        ))
    return out


class Role(models.TextChoices):
    VIEWER = "viewer", _("Viewer")
    CONTRIBUTOR = "contributor", _("Contributor")
    REVIEWER = "reviewer", _("Reviewer")
    ORG_ADMIN = "org_admin", _("Organisation admin")


# Roles in rising order of power: each one may do what the ones before it may.
ROLE_RANK = {Role.VIEWER: 0, Role.CONTRIBUTOR: 1, Role.REVIEWER: 2, Role.ORG_ADMIN: 3}


class Organization(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    country = models.CharField(_("country"), max_length=100, blank=True)
    is_demo = models.BooleanField(_("synthetic demo data"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_org")]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.get_role_display()})"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class Location(models.Model):
    """A study area. Camera clocks and EXIF times are local: they are read in `time_zone`."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    # Who may change the area in the web UI (its org admins); areas without one are the site admins'.
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="locations", null=True, blank=True,
        verbose_name=_("organisation"),
    )
    country = models.CharField(_("country"), max_length=100, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")
    latitude = models.FloatField(_("centroid latitude"), null=True, blank=True, validators=LATITUDE_VALIDATORS)
    longitude = models.FloatField(_("centroid longitude"), null=True, blank=True, validators=LONGITUDE_VALIDATORS)
    boundary_geojson = models.TextField(_("boundary (GeoJSON)"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = coordinate_constraints("location", "latitude", "longitude", nullable=True)
        verbose_name = _("location")
        verbose_name_plural = _("locations")

    def __str__(self) -> str:
        return self.name


class CameraStation(models.Model):
    """A camera station; its operating dates are the survey effort."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="stations")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="stations", null=True, blank=True,
        help_text=_("Owner of the station's exact coordinates."),
    )
    code = models.CharField(_("code"), max_length=100)
    latitude = models.FloatField(_("latitude"), validators=LATITUDE_VALIDATORS)
    longitude = models.FloatField(_("longitude"), validators=LONGITUDE_VALIDATORS)
    operating_from = models.DateField(_("operating from"), null=True, blank=True)
    operating_to = models.DateField(_("operating to"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["location__name", "code"]
        constraints = [
            models.UniqueConstraint(fields=["location", "code"], name="station_unique_code_per_location"),
            models.CheckConstraint(
                condition=Q(operating_to__isnull=True) | Q(operating_from__isnull=True) | Q(operating_to__gte=models.F("operating_from")),
                name="station_operating_dates_ordered",
            ),
            *coordinate_constraints("station", "latitude", "longitude", nullable=False),
        ]
        verbose_name = _("camera station")
        verbose_name_plural = _("camera stations")

    def __str__(self) -> str:
        return f"{self.location.name} / {self.code}"

    def effort_periods(self) -> list[tuple[date | None, date | None]]:
        """(start, end) of each time the station operated, in order; None is an open end.

        Its StationOperatingPeriod rows (prefetch `operating_periods` to read them without a query);
        a station saved without any (an import, an API client that sends only operating_from and
        operating_to) operated over its single period, or all the time when that is empty too.
        """
        periods = sorted(self.operating_periods.all(), key=lambda p: p.start)
        if periods:
            return [(p.start, p.end) for p in periods]
        return [(self.operating_from, self.operating_to)]


class StationOperatingPeriod(models.Model):
    """One time a camera station was set up and working: stations go down (snow, batteries, theft)
    and are set up again, and the survey effort is the sum of these periods.

    The station's operating_from and operating_to hold the span of its periods (the first start,
    the last end), for the API's and the lists' readers."""

    station = models.ForeignKey(CameraStation, on_delete=models.CASCADE, related_name="operating_periods")
    start = models.DateField(_("operating from"))
    end = models.DateField(_("operating to"), null=True, blank=True, help_text=_("Empty while it still operates."))
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["station", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__isnull=True) | Q(end__gte=models.F("start")),
                                   name="station_period_dates_ordered"),
            models.UniqueConstraint(fields=["station", "start"], name="station_period_unique_start"),
        ]
        verbose_name = _("operating period")
        verbose_name_plural = _("operating periods")

    def __str__(self) -> str:
        return f"{self.station_id}: {self.start} – {self.end or '…'}"


class Sex(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")


class IndividualStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    DEAD = "dead", _("Dead")
    MERGED = "merged", _("Merged")
    # Founded by a "new individual" decision that was undone, with no sighting left: kept for the
    # audit log, out of the catalog.
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Individual(models.Model):
    code = models.CharField(_("catalog code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    sex = models.CharField(_("sex"), max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    status = models.CharField(_("status"), max_length=10, choices=IndividualStatus.choices, default=IndividualStatus.ACTIVE)
    notes = models.TextField(_("notes"), blank=True)
    first_seen = models.DateTimeField(_("first seen"), null=True, blank=True)
    last_seen = models.DateTimeField(_("last seen"), null=True, blank=True)
    is_demo = models.BooleanField(_("synthetic demo data"), default=False)
    # Set while status is MERGED: the individual this one turned out to be (catalog.merge).
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="merged_from",
        verbose_name=_("merged into"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("individual")
        verbose_name_plural = _("individuals")

    def __str__(self) -> str:
        return f"{self.code} {self.name}".strip()

    @property
    def accepts_sightings(self) -> bool:
        """Whether a reviewer may confirm a sighting as this individual (catalog.review.review_confirm
        refuses the others; the results page offers no confirm button for them)."""
        return self.status not in (IndividualStatus.MERGED, IndividualStatus.WITHDRAWN)


class SightingStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    IDENTIFYING = "identifying", _("Identifying")
    AWAITING_REVIEW = "awaiting_review", _("Awaiting review")
    IDENTIFIED = "identified", _("Identified")
    NEW_INDIVIDUAL = "new_individual", _("New individual")
    UNIDENTIFIABLE = "unidentifiable", _("Unidentifiable")
    # Taken back by its organisation (duplicate, empty, wrong upload): kept for the audit log,
    # out of every open count, queue and export.
    # Its own context: a withdrawn individual and a withdrawn sighting differ in gender in Russian.
    WITHDRAWN = "withdrawn", pgettext_lazy("sighting status", "Withdrawn")


# Sightings whose images are catalog references.
REFERENCE_STATUSES = (SightingStatus.IDENTIFIED, SightingStatus.NEW_INDIVIDUAL)


class Sighting(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="sightings")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="sightings"
    )
    observed_at = models.DateTimeField(_("date and time"), db_index=True)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="sightings", null=True, blank=True)
    station = models.ForeignKey(CameraStation, on_delete=models.PROTECT, related_name="sightings", null=True, blank=True)
    latitude = models.FloatField(_("latitude"), null=True, blank=True, validators=LATITUDE_VALIDATORS)
    longitude = models.FloatField(_("longitude"), null=True, blank=True, validators=LONGITUDE_VALIDATORS)
    notes = models.TextField(_("notes"), blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=SightingStatus.choices, default=SightingStatus.SUBMITTED, db_index=True
    )
    individual = models.ForeignKey(
        Individual, on_delete=models.PROTECT, related_name="sightings", null=True, blank=True
    )
    external_id = models.CharField(
        _("external id"), max_length=200, blank=True, db_index=True,
        help_text=_("Identifier in the source system (import), used to skip re-imports."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-observed_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(latitude__isnull=True) & Q(longitude__isnull=True))
                | (Q(latitude__isnull=False) & Q(longitude__isnull=False)),
                name="sighting_lat_lon_together",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["identified", "new_individual"]) | Q(individual__isnull=False),
                name="sighting_identified_has_individual",
            ),
            *coordinate_constraints("sighting", "latitude", "longitude", nullable=True),
        ]
        verbose_name = _("sighting")
        verbose_name_plural = _("sightings")

    def __str__(self) -> str:
        return f"{self.organization} {self.observed_local:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def time_zone(self) -> str:
        """IANA name of the zone its times are shown and entered in: its study area's, else its station's."""
        location = self.location if self.location_id else (self.station.location if self.station_id else None)
        return location.time_zone if location is not None and location.time_zone else "UTC"

    @property
    def observed_local(self):
        from catalog.local_time import in_zone

        return in_zone(self.observed_at, self.time_zone)

    @property
    def point(self) -> tuple[float, float] | None:
        """Exact (lat, lon): the sighting's own point, else its station's. Never show it unscoped."""
        if self.latitude is not None and self.longitude is not None:
            return (self.latitude, self.longitude)
        if self.station_id is not None:
            return (self.station.latitude, self.station.longitude)
        return None


class BodyPart(models.TextChoices):
    HEAD = "head", _("Head")
    LEFT_FLANK = "left_flank", _("Left flank")
    RIGHT_FLANK = "right_flank", _("Right flank")
    TAIL = "tail", _("Tail")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Unknown")


class BoxSource(models.TextChoices):
    NONE = "", _("No box")
    USER = "user", _("Drawn or confirmed by a user")
    DETECTOR = "detector", _("Suggested by the detector, unconfirmed")
    MOTION = "motion", _("Suggested from burst motion, unconfirmed")
    IMPORT = "import", _("Imported")


# A box nobody has accepted yet: the detector's or the burst motion's suggestion.
SUGGESTED_BOX_SOURCES = (BoxSource.DETECTOR, BoxSource.MOTION)


def sighting_image_path(instance: "SightingImage", filename: str) -> str:
    # Never trust the client's filename: only its (normalised) extension survives.
    ext = Path(filename).suffix.lower()
    if ext not in {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"}:
        ext = ".jpg"
    return f"images/{instance.sighting.uuid}/{uuid.uuid4().hex}{ext}"


class SightingImage(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sighting = models.ForeignKey(Sighting, on_delete=models.CASCADE, related_name="images")
    file = models.ImageField(_("image"), upload_to=sighting_image_path, width_field="width", height_field="height")
    width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    body_part = models.CharField(_("body part"), max_length=20, choices=BodyPart.choices, default=BodyPart.UNKNOWN)
    box_x = models.PositiveIntegerField(null=True, blank=True)
    box_y = models.PositiveIntegerField(null=True, blank=True)
    box_w = models.PositiveIntegerField(null=True, blank=True)
    box_h = models.PositiveIntegerField(null=True, blank=True)
    box_source = models.CharField(_("box source"), max_length=10, choices=BoxSource.choices, default=BoxSource.NONE, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True, editable=False)
    original_filename = models.CharField(_("original file name"), max_length=255, blank=True)
    exif_datetime = models.DateTimeField(_("EXIF date and time"), null=True, blank=True)
    exif_latitude = models.FloatField(null=True, blank=True, validators=LATITUDE_VALIDATORS)
    exif_longitude = models.FloatField(null=True, blank=True, validators=LONGITUDE_VALIDATORS)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sighting", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(box_x__isnull=True) & Q(box_y__isnull=True) & Q(box_w__isnull=True) & Q(box_h__isnull=True))
                | (Q(box_x__isnull=False) & Q(box_y__isnull=False) & Q(box_w__gt=0) & Q(box_h__gt=0)),
                name="image_box_complete",
            ),
            *coordinate_constraints("image", "exif_latitude", "exif_longitude", nullable=True),
        ]
        verbose_name = _("sighting image")
        verbose_name_plural = _("sighting images")

    def __str__(self) -> str:
        return f"{self.sighting_id}/{self.pk} {self.get_body_part_display()}"

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        if self.box_x is None:
            return None
        return (self.box_x, self.box_y, self.box_w, self.box_h)

    @property
    def box_confirmed(self) -> bool:
        """Drawn or accepted by a user, or imported with the photo; not a suggestion, not no box."""
        return self.box_source in (BoxSource.USER, BoxSource.IMPORT)


class ReviewAction(models.TextChoices):
    CONFIRM = "confirm", _("Confirmed a match")
    NEW_INDIVIDUAL = "new_individual", _("Created a new individual")
    UNIDENTIFIABLE = "unidentifiable", _("Marked unidentifiable")
    UNDO = "undo", _("Undid a decision")
    # One row per sighting a merge moved (catalog.merge); undone by an UNDO row like any decision.
    MERGE = "merge", _("Moved by a merge of individuals")
    WITHDRAW = "withdraw", _("Withdrew the sighting")


class ReviewDecision(models.Model):
    """Audit log of review decisions: who, when, what, and the state before."""

    sighting = models.ForeignKey(Sighting, on_delete=models.CASCADE, related_name="decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_decisions")
    action = models.CharField(max_length=20, choices=ReviewAction.choices)
    individual = models.ForeignKey(Individual, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    previous_status = models.CharField(max_length=20, choices=SightingStatus.choices)
    previous_individual = models.ForeignKey(
        Individual, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    new_status = models.CharField(max_length=20, choices=SightingStatus.choices)
    note = models.TextField(blank=True)
    undoes = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True, related_name="undone_by")
    merge = models.ForeignKey(
        "IndividualMerge", on_delete=models.PROTECT, null=True, blank=True, related_name="decisions"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("review decision")
        verbose_name_plural = _("review decisions")

    def __str__(self) -> str:
        return f"{self.user} {self.get_action_display()} #{self.sighting_id}"


class IndividualMerge(models.Model):
    """Audit log of merges: `source` turned out to be `target`; its sightings moved there.

    The sightings moved are the MERGE rows in `decisions`; undoing moves back those that nobody
    decided on since (catalog.merge.individual_merge_undo).
    """

    target = models.ForeignKey(Individual, on_delete=models.PROTECT, related_name="merges_in", verbose_name=_("kept individual"))
    source = models.ForeignKey(Individual, on_delete=models.PROTECT, related_name="merges_out", verbose_name=_("merged individual"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(_("note"), blank=True)
    # The source's status before the merge (active or dead), restored by an undo.
    source_previous_status = models.CharField(max_length=10, choices=IndividualStatus.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(target=models.F("source")), name="merge_source_is_not_target"),
        ]
        verbose_name = _("merge of individuals")
        verbose_name_plural = _("merges of individuals")

    def __str__(self) -> str:
        return f"{self.source.code} → {self.target.code}"


def import_file_path(instance: "ImportJob", filename: str) -> str:
    ext = ".zip" if filename.lower().endswith(".zip") else Path(filename).suffix.lower()[:10]
    return f"imports/{uuid.uuid4().hex}{ext}"


class ImportKind(models.TextChoices):
    ZIP = "zip", _("Zip of a camera-trap folder")
    CAMTRAP_DP = "camtrap_dp", _("Camtrap DP package")


class ImportState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ImportJob(models.Model):
    """A bulk import run on the bulk queue; `report` lists the outcome of every file."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="import_jobs")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=ImportKind.choices)
    file = models.FileField(_("file"), upload_to=import_file_path, blank=True)
    location = models.ForeignKey(Location, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    options = models.JSONField(default=dict, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=ImportState.choices, default=ImportState.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # [{"file": ..., "outcome": "imported"|"duplicate"|"refused"|"skipped", "reason": ..., "sighting": uuid}]
    report = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.get_state_display()})"

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {"imported": 0, "duplicate": 0, "refused": 0, "skipped": 0}
        for row in self.report:
            out[row.get("outcome", "refused")] = out.get(row.get("outcome", "refused"), 0) + 1
        return out
