"""django-filter FilterSets for the API list endpoints."""

import django_filters

from catalog.models import CameraStation, ImportJob, Individual, ReviewDecision, Sighting, SightingImage


class SightingFilter(django_filters.FilterSet):
    observed_after = django_filters.IsoDateTimeFilter(field_name="observed_at", lookup_expr="gte")
    observed_before = django_filters.IsoDateTimeFilter(field_name="observed_at", lookup_expr="lte")

    class Meta:
        model = Sighting
        fields = ["organization", "location", "station", "status", "individual", "external_id"]


class IndividualFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    code = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Individual
        fields = ["sex", "status", "code", "name"]


class StationFilter(django_filters.FilterSet):
    class Meta:
        model = CameraStation
        fields = ["location", "organization", "code"]


class ImageFilter(django_filters.FilterSet):
    class Meta:
        model = SightingImage
        fields = ["sighting", "body_part", "sha256"]


class RunFilter(django_filters.FilterSet):
    sighting = django_filters.NumberFilter(field_name="sighting_id")
    state = django_filters.CharFilter(field_name="state")


class DecisionFilter(django_filters.FilterSet):
    class Meta:
        model = ReviewDecision
        fields = ["sighting", "action", "user"]


class ImportJobFilter(django_filters.FilterSet):
    class Meta:
        model = ImportJob
        fields = ["organization", "kind", "state"]
