"""Merges of individuals: list and read them (catalog history), merge, and undo."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from catalog import merge as merge_services
from catalog.api.views import Pagination, django_errors
from catalog.models import Individual, IndividualMerge, ReviewAction
from catalog.selectors import individuals_for, merges_for


class MergeSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    undone_by = serializers.CharField(source="undone_by.username", read_only=True, default=None)
    sightings_moved = serializers.SerializerMethodField()

    class Meta:
        model = IndividualMerge
        fields = ["id", "source", "target", "user", "note", "created_at", "sightings_moved", "undone_at", "undone_by"]

    def get_sightings_moved(self, merge: IndividualMerge) -> int:
        return merge.decisions.filter(action=ReviewAction.MERGE).count()


class MergeInputSerializer(serializers.Serializer):
    source = serializers.PrimaryKeyRelatedField(queryset=Individual.objects.none(), help_text=_("The individual that goes away."))
    target = serializers.PrimaryKeyRelatedField(queryset=Individual.objects.none(), help_text=_("The individual its sightings move to."))
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None:  # drf-spectacular builds one without a user for the schema
            self.fields["source"].queryset = individuals_for(user)
            self.fields["target"].queryset = individuals_for(user)


def _run(service, **kwargs):
    try:
        return service(**kwargs)
    except DjangoPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc
    except DjangoValidationError as exc:
        raise django_errors(exc) from exc


class MergeViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Merges of two catalog individuals that are one animal (see catalog/merge.py for who may)."""

    serializer_class = MergeSerializer
    pagination_class = Pagination

    def get_queryset(self):
        return merges_for(self.request.user)

    @extend_schema(request=MergeInputSerializer, responses={201: MergeSerializer})
    def create(self, request, *args, **kwargs):
        """Merge `source` into `target`: every sighting of the source moves to the target."""
        data = MergeInputSerializer(data=request.data, user=request.user)
        data.is_valid(raise_exception=True)
        merge = _run(merge_services.individual_merge, user=request.user, **data.validated_data)
        return Response(MergeSerializer(merge).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: MergeSerializer})
    @action(detail=True, methods=["post"])
    def undo(self, request, pk=None):
        """Undo the merge: the source comes back with the sightings nobody decided on since."""
        merge = self.get_object()
        _run(merge_services.individual_merge_undo, merge=merge, user=request.user)
        merge.refresh_from_db()
        return Response(MergeSerializer(merge).data)
