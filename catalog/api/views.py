"""Catalog resources: organisations, locations, stations, individuals, sightings, images."""

import mimetypes

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Count
from django.http import Http404
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, pagination, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from catalog.api import filters
from catalog.api import serializers as s
from catalog.api.permissions import require_role
from catalog.stored_files import stored_file_response
from catalog.study_areas import station_single_period_set
from catalog.models import BoxSource, Role
from catalog.selectors import (
    images_for,
    individuals_for,
    locations_for,
    memberships_for,
    organizations_for,
    sightings_for,
    stations_for,
)


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def django_errors(exc: DjangoValidationError) -> serializers.ValidationError:
    """A service's ValidationError as a 400 with its (translated) messages."""
    if hasattr(exc, "message_dict"):
        return serializers.ValidationError(exc.message_dict)
    return serializers.ValidationError(exc.messages)


class OrganizationViewSet(viewsets.ReadOnlyModelViewSet):
    """Organisations the user belongs to, with the user's role in each."""

    serializer_class = s.OrganizationSerializer
    pagination_class = Pagination

    def get_queryset(self):
        return organizations_for(self.request.user).order_by("name")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["roles"] = {m.organization_id: m.role for m in memberships_for(self.request.user)}
        return context


class LocationViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Study areas. Everyone signed in reads them; only site admins create or change them."""

    serializer_class = s.LocationSerializer
    pagination_class = Pagination
    filterset_fields = ["country", "name"]

    def get_queryset(self):
        return locations_for(self.request.user)

    def _require_staff(self):
        if not self.request.user.is_staff:
            raise PermissionDenied(_("Only site admins may create or change study areas."))

    def perform_create(self, serializer):
        self._require_staff()
        serializer.save()

    def perform_update(self, serializer):
        self._require_staff()
        serializer.save()


class StationViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Camera stations; exact coordinates only for the owning organisation (catalog.privacy)."""

    pagination_class = Pagination
    filterset_class = filters.StationFilter

    def get_queryset(self):
        return stations_for(self.request.user).prefetch_related("operating_periods")

    def get_serializer_class(self):
        if self.action in {"create", "update", "partial_update"}:
            return s.StationWriteSerializer
        return s.StationSerializer

    def perform_create(self, serializer):
        require_role(self.request.user, serializer.validated_data["organization"].pk, Role.ORG_ADMIN)
        with transaction.atomic():
            station_single_period_set(station=serializer.save())

    def perform_update(self, serializer):
        require_role(self.request.user, serializer.instance.organization_id, Role.ORG_ADMIN)
        new_org = serializer.validated_data.get("organization")
        if new_org is not None:
            require_role(self.request.user, new_org.pk, Role.ORG_ADMIN)
        with transaction.atomic():
            station = serializer.save()
            if {"operating_from", "operating_to"} & set(serializer.validated_data):
                # Refused by the serializer for a station with several periods; else they are its one period.
                station_single_period_set(station=station)

    def create(self, request, *args, **kwargs):
        response = super().create(request, *args, **kwargs)
        response.data = s.StationSerializer(
            stations_for(request.user).get(pk=response.data["id"]), context=self.get_serializer_context()
        ).data
        return response


class IndividualViewSet(viewsets.ReadOnlyModelViewSet):
    """The shared catalog of individuals (new ones are made by review decisions)."""

    serializer_class = s.IndividualSerializer
    pagination_class = Pagination
    filterset_class = filters.IndividualFilter

    def get_queryset(self):
        return individuals_for(self.request.user)


class SightingViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Sightings of the user's organisations."""

    pagination_class = Pagination
    filterset_class = filters.SightingFilter

    def get_queryset(self):
        qs = sightings_for(self.request.user).annotate(image_count=Count("images", distinct=True))
        return qs.order_by("-observed_at", "-pk")

    def get_serializer_class(self):
        if self.action == "create":
            return s.SightingCreateSerializer
        return s.SightingDetailSerializer if self.action == "retrieve" else s.SightingSerializer

    @extend_schema(request=s.SightingCreateSerializer, responses={201: s.SightingDetailSerializer})
    def create(self, request, *args, **kwargs):
        data = s.SightingCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        require_role(request.user, data.validated_data["organization"].pk, Role.CONTRIBUTOR)
        sighting_create = import_string("catalog.services.sighting_create")
        try:
            sighting = sighting_create(submitted_by=request.user, **data.validated_data)
        except DjangoValidationError as exc:
            raise django_errors(exc) from exc
        sighting = self.get_queryset().get(pk=sighting.pk)
        body = s.SightingDetailSerializer(sighting, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ImageUploadSerializer, responses={201: s.ImageSerializer, 200: s.ImageSerializer(many=True)})
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser, FormParser])
    def images(self, request, pk=None):
        """GET: the sighting's images. POST (multipart): upload one image (file, body_part, optional box).

        An upload leaves the boxes of the sighting's images that have no confirmed box to the queue, which
        stores a suggested one (box_source "detector" or "motion", box_confirmed false) to be confirmed.
        """
        sighting = self.get_object()
        if request.method == "GET":
            images = images_for(request.user).filter(sighting=sighting)
            return Response(s.ImageSerializer(images, many=True, context=self.get_serializer_context()).data)
        require_role(request.user, sighting.organization_id, Role.CONTRIBUTOR)
        data = s.ImageUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        box = data.validated_data.get("box")
        image_add = import_string("catalog.services.image_add")
        try:
            image = image_add(
                sighting=sighting,
                file=data.validated_data["file"],
                body_part=data.validated_data["body_part"],
                added_by=request.user,
                box=tuple(box) if box else None,
                box_source=BoxSource.USER if box else "",
                original_filename=data.validated_data["file"].name,
                # No box editor follows an API upload: the queue suggests one, as the submit page does.
                suggest_boxes=True,
            )
        except DjangoValidationError as exc:
            raise django_errors(exc) from exc
        return Response(s.ImageSerializer(image, context=self.get_serializer_context()).data, status=status.HTTP_201_CREATED)


class ImageViewSet(viewsets.ReadOnlyModelViewSet):
    """Images of the user's sightings plus the shared catalog's reference images."""

    serializer_class = s.ImageSerializer
    pagination_class = Pagination
    filterset_class = filters.ImageFilter

    def get_queryset(self):
        return images_for(self.request.user)

    @extend_schema(request=s.BoxConfirmSerializer, responses={200: s.ImageSerializer})
    @action(detail=True, methods=["post"])
    def box(self, request, pk=None):
        """Confirm the image's box (a suggestion as it is, or the given one), or remove it."""
        image = self.get_object()
        require_role(request.user, image.sighting.organization_id, Role.CONTRIBUTOR)
        data = s.BoxConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        box = data.validated_data["box"] if "box" in data.validated_data else image.box
        image_annotate = import_string("catalog.submission.image_annotate")
        try:
            image = image_annotate(image=image, user=request.user, body_part=image.body_part,
                                   box=tuple(box) if box else None, box_source=BoxSource.USER)
        except DjangoValidationError as exc:
            raise django_errors(exc) from exc
        return Response(s.ImageSerializer(image, context=self.get_serializer_context()).data)

    @extend_schema(responses={(200, "image/*"): bytes})
    @action(detail=True, methods=["get"])
    def file(self, request, pk=None):
        image = self.get_object()
        content_type = mimetypes.guess_type(image.file.name)[0] or "application/octet-stream"
        try:
            return stored_file_response(storage=image.file.storage, name=image.file.name, content_type=content_type)
        except FileNotFoundError:
            raise Http404("image file missing") from None
