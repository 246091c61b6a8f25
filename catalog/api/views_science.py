"""Bulk imports (queued on the bulk cluster), exports and population estimates over the API."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import filters
from catalog.api import serializers as s
from catalog.api.views import Pagination, django_errors
from catalog.exports.params import ScienceQueryForm
from catalog.exports.population import population_for
from catalog.exports.responses import FORMATS, PERIOD_FORMATS, export_response
from catalog.imports.jobs import import_job_start
from catalog.models import ImportJob
from catalog.selectors import organizations_for

QUERY_PARAMETERS = [
    OpenApiParameter("location", int, description="study area id"),
    OpenApiParameter("start", OpenApiTypes.DATE, description="first day (inclusive)"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="last day (inclusive)"),
    OpenApiParameter("occasion_days", int, description="occasion length in days (SECR, population)"),
    OpenApiParameter("detector", str, enum=["proximity", "count"], description="SECR detector type"),
    OpenApiParameter("media", str, enum=["1", "0"], description="Camtrap DP: include the image files (default 1)"),
]


class ImportJobViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Bulk imports of the user's organisations: POST a zip to start one, GET it to follow progress and the report."""

    serializer_class = s.ImportJobSerializer
    pagination_class = Pagination
    filterset_class = filters.ImportJobFilter
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        return ImportJob.objects.filter(organization__in=organizations_for(self.request.user).values("pk"))

    @extend_schema(request=s.ImportStartSerializer, responses={202: s.ImportJobSerializer})
    def create(self, request, *args, **kwargs):
        data = s.ImportStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = import_job_start(started_by=request.user, **data.validated_data)
        except DjangoValidationError as exc:
            raise django_errors(exc) from exc
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _query(request, fmt: str | None = None, need_period: bool = False) -> ScienceQueryForm | Response:
    form = ScienceQueryForm(request.query_params, need_period=need_period or fmt in PERIOD_FORMATS)
    if not form.is_valid():
        return Response(form.errors.get_json_data(), status=status.HTTP_400_BAD_REQUEST)
    return form


class ExportView(APIView):
    """Download an export of the user's sightings: sightings.csv, individuals.csv, sightings.geojson,
    camtrap-dp.zip or secr.zip (secr needs location, start and end)."""

    @extend_schema(parameters=QUERY_PARAMETERS, responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request, fmt: str):
        if fmt not in FORMATS:
            return Response({"detail": _("Unknown export; one of %(formats)s.") % {"formats": ", ".join(FORMATS)}}, status=status.HTTP_404_NOT_FOUND)
        form = _query(request, fmt)
        if isinstance(form, Response):
            return form
        data = form.cleaned_data
        return export_response(
            request.user, fmt, form.scope(), occasion_days=data["occasion_days"], detector=data["detector"], media=data["media"]
        )


class PopulationView(APIView):
    """Individuals, captures, occasions and closed-population estimates (M0, Chao Mh) for an area and period."""

    @extend_schema(parameters=QUERY_PARAMETERS[:4], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        form = _query(request, need_period=True)
        if isinstance(form, Response):
            return form
        data = form.cleaned_data
        return Response(population_for(
            request.user, location=data["location"], start=data["start"], end=data["end"],
            occasion_days=data["occasion_days"],
        ))
