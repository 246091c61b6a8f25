"""django-filter FilterSets for the API list endpoints."""

import django_filters
from django import forms

from catalog.models import CameraStation, ImportJob, Individual, ReviewDecision, Sighting, SightingImage

# The widest integer a database column here can hold: past it SQLite raises OverflowError while
# binding the parameter (a 500), so a number filter refuses it as invalid input (a 400) instead.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class BoundedNumberField(forms.DecimalField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", INT64_MIN)
        kwargs.setdefault("max_value", INT64_MAX)
        super().__init__(*args, **kwargs)


class FilterSet(django_filters.FilterSet):
    """Base of every API FilterSet: number filters, declared or generated, take only 64-bit values.

    Foreign-key filters need nothing: Django answers an out-of-range id with "no such choice".
    """

    @classmethod
    def get_filters(cls):
        filters = super().get_filters()
        for f in filters.values():
            if isinstance(f, django_filters.NumberFilter) and not issubclass(f.field_class, BoundedNumberField):
                f.field_class = BoundedNumberField
        return filters


class SightingFilter(FilterSet):
    observed_after = django_filters.IsoDateTimeFilter(field_name="observed_at", lookup_expr="gte")
    observed_before = django_filters.IsoDateTimeFilter(field_name="observed_at", lookup_expr="lte")

    class Meta:
        model = Sighting
        fields = ["organization", "location", "station", "status", "individual", "external_id"]


class IndividualFilter(FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    code = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Individual
        fields = ["sex", "status", "code", "name"]


class StationFilter(FilterSet):
    class Meta:
        model = CameraStation
        fields = ["location", "organization", "code"]


class ImageFilter(FilterSet):
    class Meta:
        model = SightingImage
        fields = ["sighting", "body_part", "sha256"]


class RunFilter(FilterSet):
    sighting = django_filters.NumberFilter(field_name="sighting_id")
    state = django_filters.CharFilter(field_name="state")


class DecisionFilter(FilterSet):
    class Meta:
        model = ReviewDecision
        fields = ["sighting", "action", "user"]


class ImportJobFilter(FilterSet):
    class Meta:
        model = ImportJob
        fields = ["organization", "kind", "state"]
