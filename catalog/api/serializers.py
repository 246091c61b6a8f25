"""API serializers. Coordinates always pass through catalog.privacy for the requesting user."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import (
    BodyPart,
    CameraStation,
    ImportJob,
    ImportKind,
    Individual,
    Location,
    Organization,
    ReviewAction,
    ReviewDecision,
    Sighting,
    SightingImage,
)
from catalog.review import review_state_token
from catalog.exports.common import iso, point_for_sighting
from catalog.privacy import coarsen, sees_exact, station_point_for


def _user(serializer: serializers.Serializer):
    return serializer.context["request"].user


class OrganizationSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "country", "is_demo", "role"]

    def get_role(self, obj: Organization) -> str | None:
        return self.context.get("roles", {}).get(obj.pk)


class LocationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Location
        fields = ["id", "name", "country", "time_zone", "latitude", "longitude"]


class StationSerializer(serializers.ModelSerializer):
    coordinates_exact = serializers.SerializerMethodField()
    operating_periods = serializers.SerializerMethodField()

    class Meta:
        model = CameraStation
        fields = [
            "id", "location", "organization", "code", "latitude", "longitude",
            "coordinates_exact", "operating_from", "operating_to", "operating_periods",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_operating_periods(self, obj: CameraStation) -> list[dict]:
        """Each time the station operated; operating_from and operating_to are their span."""
        return [{"start": p.start.isoformat(), "end": p.end.isoformat() if p.end else None, "note": p.note}
                for p in obj.operating_periods.all()]

    def get_coordinates_exact(self, obj: CameraStation) -> bool:
        return station_point_for(_user(self), obj)[2]

    def to_representation(self, obj: CameraStation) -> dict:
        data = super().to_representation(obj)
        data["latitude"], data["longitude"], _exact = station_point_for(_user(self), obj)
        return data


class IndividualSerializer(serializers.ModelSerializer):
    class Meta:
        model = Individual
        fields = ["id", "code", "name", "sex", "status", "merged_into", "first_seen", "last_seen", "is_demo"]


class ImageSerializer(serializers.ModelSerializer):
    sighting = serializers.SlugRelatedField(slug_field="uuid", read_only=True)
    sighting_id = serializers.IntegerField(read_only=True)
    box = serializers.SerializerMethodField()
    box_confirmed = serializers.BooleanField(read_only=True)  # SightingImage.box_confirmed
    file_url = serializers.SerializerMethodField()

    class Meta:
        model = SightingImage
        fields = [
            "id", "uuid", "sighting_id", "sighting", "body_part", "width", "height", "box", "box_source", "box_confirmed",
            "sha256", "original_filename", "exif_datetime", "exif_latitude", "exif_longitude", "created_at",
            "file_url",
        ]

    def get_box(self, obj: SightingImage) -> list[int] | None:
        return list(obj.box) if obj.box else None

    def get_file_url(self, obj: SightingImage) -> str:
        request = self.context["request"]
        return request.build_absolute_uri(f"/api/images/{obj.pk}/file/")

    def to_representation(self, obj: SightingImage) -> dict:
        data = super().to_representation(obj)
        # EXIF GPS is as sensitive as the sighting's own point.
        if not sees_exact(_user(self), obj.sighting.organization_id):
            data["exif_latitude"], data["exif_longitude"] = coarsen(obj.exif_latitude, obj.exif_longitude)
        data["exif_datetime"] = iso(obj.exif_datetime, obj.sighting.time_zone) or None
        return data


class LocalDateTimeField(serializers.DateTimeField):
    """Aware values are kept; a naive one stays naive, to be read in the study area's zone."""

    def enforce_timezone(self, value):
        return value if timezone.is_naive(value) else super().enforce_timezone(value)


class SightingSerializer(serializers.ModelSerializer):
    individual_code = serializers.CharField(source="individual.code", read_only=True, default=None)
    coordinates_exact = serializers.SerializerMethodField()
    time_zone = serializers.CharField(
        read_only=True, help_text=_("IANA zone of the study area; observed_at is given with its offset."),
    )
    image_count = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = Sighting
        fields = [
            "id", "uuid", "organization", "submitted_by", "observed_at", "time_zone", "location", "station",
            "latitude", "longitude", "coordinates_exact", "notes", "status", "individual", "individual_code",
            "external_id", "image_count", "created_at", "updated_at",
        ]
        read_only_fields = fields

    def get_coordinates_exact(self, obj: Sighting) -> bool:
        return point_for_sighting(_user(self), obj)[2]

    def to_representation(self, obj: Sighting) -> dict:
        data = super().to_representation(obj)
        data["latitude"], data["longitude"], _exact = point_for_sighting(_user(self), obj)
        # Local time of the study area with its offset, as on the pages and in the exports.
        data["observed_at"] = iso(obj.observed_at, obj.time_zone)
        return data


class SightingDetailSerializer(SightingSerializer):
    review_state = serializers.SerializerMethodField(
        help_text=_("Send it back as 'expected' with a review decision to detect concurrent decisions.")
    )

    class Meta(SightingSerializer.Meta):
        fields = [*SightingSerializer.Meta.fields, "review_state"]
        read_only_fields = fields

    def get_review_state(self, obj: Sighting) -> str:
        return review_state_token(obj)


class SightingCreateSerializer(serializers.Serializer):
    organization = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all())
    observed_at = LocalDateTimeField(
        help_text=_("With an offset, or without one for local time of the station's (or location's) study area."),
    )
    location = serializers.PrimaryKeyRelatedField(queryset=Location.objects.all(), required=False, allow_null=True)
    station = serializers.PrimaryKeyRelatedField(queryset=CameraStation.objects.all(), required=False, allow_null=True)
    latitude = serializers.FloatField(required=False, allow_null=True, min_value=-90, max_value=90)
    longitude = serializers.FloatField(required=False, allow_null=True, min_value=-180, max_value=180)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    external_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)

    def validate(self, attrs: dict) -> dict:
        if (attrs.get("latitude") is None) != (attrs.get("longitude") is None):
            raise serializers.ValidationError(_("Give both latitude and longitude, or neither."))
        station, location = attrs.get("station"), attrs.get("location")
        if station is not None and location is not None and station.location_id != location.pk:
            raise serializers.ValidationError(_("The station is not in the chosen location."))
        return attrs


class WithdrawInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text=_("Why the sighting is withdrawn; kept in the audit log."))


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    body_part = serializers.ChoiceField(choices=BodyPart.choices, default=BodyPart.UNKNOWN)
    box = serializers.ListField(
        child=serializers.IntegerField(min_value=0), min_length=4, max_length=4, required=False,
        help_text=_("[x, y, w, h] in pixels of the image as uploaded (after EXIF orientation)."),
    )


class BoxConfirmSerializer(serializers.Serializer):
    box = serializers.ListField(
        child=serializers.IntegerField(min_value=0), min_length=4, max_length=4, required=False, allow_null=True,
        help_text=_("[x, y, w, h] to set and confirm, null for no box (the whole frame is matched); "
                    "left out, the current box, a suggestion perhaps, is confirmed as it is."),
    )


class StationWriteSerializer(serializers.ModelSerializer):
    class Meta:
        model = CameraStation
        fields = ["id", "location", "organization", "code", "latitude", "longitude", "operating_from", "operating_to"]
        extra_kwargs = {"organization": {"required": True, "allow_null": False}}

    def validate(self, attrs: dict) -> dict:
        start = attrs.get("operating_from", getattr(self.instance, "operating_from", None))
        end = attrs.get("operating_to", getattr(self.instance, "operating_to", None))
        if start and end and end < start:
            raise serializers.ValidationError({"operating_to": _("The station stops operating before it starts.")})
        changed = self.instance is not None and any(
            key in attrs and attrs[key] != getattr(self.instance, key) for key in ("operating_from", "operating_to"))
        if changed and self.instance.operating_periods.count() > 1:
            # Two dates cannot say which of the periods they change.
            raise serializers.ValidationError({"operating_from": _(
                "This station has several operating periods: change them on its setup page.")})
        return attrs


class IdentifyInputSerializer(serializers.Serializer):
    # "fast" or "accurate"; empty: the site's default mode (MATCHING_DEFAULT_MODE).
    mode = serializers.ChoiceField(choices=["fast", "accurate"], required=False, allow_blank=True, default="")
    extractor = serializers.CharField(required=False, allow_blank=True, default="")
    locations = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    body_parts = serializers.ListField(child=serializers.ChoiceField(choices=BodyPart.choices), required=False, default=list)
    location_prior = serializers.BooleanField(
        required=False, allow_null=True, default=None,
        help_text=_("Also rank by where each cat has been seen (default: the site's MATCHING_LOCATION_PRIOR)."))


class CandidateSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    individual = serializers.IntegerField(source="individual_id")
    individual_code = serializers.CharField(source="individual.code")
    individual_name = serializers.CharField(source="individual.name")
    individual_status = serializers.CharField(source="individual.status")
    score = serializers.FloatField()
    confidence = serializers.CharField()
    num_inliers = serializers.IntegerField()
    body_parts = serializers.ListField(child=serializers.CharField())
    query_image = serializers.IntegerField(source="query_image_id", allow_null=True)
    reference_image = serializers.IntegerField(source="reference_image_id", allow_null=True)
    # Set when the run ranked by the location prior too: P(individual | station) and the
    # individual's catalog sightings at the sighting's station.
    prior = serializers.FloatField(allow_null=True)
    station_sightings = serializers.IntegerField()


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sighting = serializers.IntegerField(source="sighting_id")
    mode = serializers.CharField()
    extractor = serializers.CharField()
    filters = serializers.JSONField()
    state = serializers.CharField()
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    error = serializers.CharField()
    likely_new = serializers.BooleanField()
    top_score = serializers.FloatField(allow_null=True)
    calibration_version = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class RunDetailSerializer(RunSerializer):
    candidates = CandidateSerializer(many=True, source="ranked_candidates")


class DecisionSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ReviewDecision
        fields = [
            "id", "sighting", "user", "action", "individual", "previous_status", "previous_individual",
            "new_status", "note", "undoes", "merge", "created_at",
        ]


class ReviewInputSerializer(serializers.Serializer):
    # A merge's rows are written and undone by /api/merges/, not one sighting at a time.
    action = serializers.ChoiceField(choices=[c for c in ReviewAction.choices if c[0] != ReviewAction.MERGE])
    individual = serializers.PrimaryKeyRelatedField(
        queryset=Individual.objects.all(), required=False, allow_null=True,
        help_text=_("For 'confirm': the individual the sighting shows."),
    )
    name = serializers.CharField(required=False, allow_blank=True, default="", help_text=_("For 'new_individual'."))
    note = serializers.CharField(required=False, allow_blank=True, default="")
    expected = serializers.CharField(
        required=False, allow_blank=True, default="",
        help_text=_("Optional review_state of the sighting as you last read it; a 409 tells you someone decided since."),
    )

    def validate(self, attrs: dict) -> dict:
        if attrs["action"] == ReviewAction.CONFIRM and attrs.get("individual") is None:
            raise serializers.ValidationError({"individual": _("Choose the individual to confirm.")})
        return attrs


class ImportJobSerializer(serializers.ModelSerializer):
    counts = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id", "organization", "kind", "location", "options", "state", "progress_done", "progress_total",
            "counts", "report", "error", "created_at", "started_at", "finished_at",
        ]
        read_only_fields = fields

    def get_counts(self, obj: ImportJob) -> dict[str, int]:
        return obj.counts()


class ImportStartSerializer(serializers.Serializer):
    organization = serializers.PrimaryKeyRelatedField(queryset=Organization.objects.all())
    kind = serializers.ChoiceField(choices=ImportKind.choices)
    file = serializers.FileField()
    location = serializers.PrimaryKeyRelatedField(queryset=Location.objects.all(), required=False, allow_null=True)
    gap_minutes = serializers.IntegerField(required=False, min_value=1, max_value=24 * 60, default=30)
