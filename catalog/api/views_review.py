"""Identification runs, ranked candidates and review decisions.

catalog must not import matching (dependencies point matching -> catalog), so the matching
models and services are named by app label and dotted path.
"""

from django.apps import apps
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.utils.module_loading import import_string
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog.api import filters
from catalog.api import serializers as s
from catalog.api.permissions import require_role
from catalog.api.views import Pagination, SightingViewSet, django_errors
from catalog.models import ReviewAction, ReviewDecision, Role
from catalog.selectors import sightings_for

# The review services of catalog/review.py, one per action.
REVIEW_SERVICES = {
    ReviewAction.CONFIRM: "catalog.review.review_confirm",
    ReviewAction.NEW_INDIVIDUAL: "catalog.review.review_new_individual",
    ReviewAction.UNIDENTIFIABLE: "catalog.review.review_unidentifiable",
    ReviewAction.UNDO: "catalog.review.review_undo",
}


def runs_for(user):
    MatchRun = apps.get_model("matching", "MatchRun")
    MatchCandidate = apps.get_model("matching", "MatchCandidate")
    candidates = MatchCandidate.objects.select_related("individual").order_by("rank")
    return MatchRun.objects.filter(sighting__in=sightings_for(user).values("pk")).prefetch_related(
        Prefetch("candidates", queryset=candidates, to_attr="ranked_candidates")
    )


class RunViewSet(viewsets.ReadOnlyModelViewSet):
    """Identification runs of the user's sightings: state, progress and (detail) ranked candidates."""

    pagination_class = Pagination
    filterset_class = filters.RunFilter

    def get_queryset(self):
        return runs_for(self.request.user)

    def get_serializer_class(self):
        return s.RunDetailSerializer if self.action == "retrieve" else s.RunSerializer

    # A run has a short, ranked list: returned whole, and the schema says so (no pagination).
    @extend_schema(responses={200: s.CandidateSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)
    def candidates(self, request, pk=None):
        run = self.get_object()
        return Response(s.CandidateSerializer(run.ranked_candidates, many=True).data)


class DecisionViewSet(viewsets.ReadOnlyModelViewSet):
    """The review audit log of the user's sightings."""

    serializer_class = s.DecisionSerializer
    pagination_class = Pagination
    filterset_class = filters.DecisionFilter

    def get_queryset(self):
        return ReviewDecision.objects.filter(sighting__in=sightings_for(self.request.user).values("pk")).select_related("user")


class SightingWorkflowViewSet(SightingViewSet):
    """Sightings plus the identification and review actions."""

    @extend_schema(request=s.IdentifyInputSerializer, responses={202: s.RunSerializer})
    @action(detail=True, methods=["post"])
    def identify(self, request, pk=None):
        """Start an identification run (queued on the interactive cluster); poll /api/runs/<id>/."""
        sighting = self.get_object()
        require_role(request.user, sighting.organization_id, Role.CONTRIBUTOR)
        data = s.IdentifyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        match_run_start = import_string("matching.runs.match_run_start")
        filters_ = {"locations": data.validated_data["locations"], "body_parts": data.validated_data["body_parts"],
                    "location_prior": data.validated_data["location_prior"]}
        try:
            run = match_run_start(
                sighting=sighting, requested_by=request.user,
                extractor=data.validated_data["extractor"] or None, filters=filters_,
                mode=data.validated_data["mode"] or None,
            )
        except DjangoValidationError as exc:
            raise django_errors(exc) from exc
        return Response(s.RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={200: s.RunSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        sighting = self.get_object()
        return Response(s.RunSerializer(runs_for(request.user).filter(sighting=sighting), many=True).data)

    @extend_schema(request=s.ReviewInputSerializer, responses={201: s.DecisionSerializer})
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        """Record a review decision: confirm (with individual), new_individual, unidentifiable, or undo."""
        sighting = self.get_object()
        require_role(request.user, sighting.organization_id, Role.REVIEWER)
        data = s.ReviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        act = data.validated_data["action"]
        service = import_string(REVIEW_SERVICES[act])
        kwargs = {
            "sighting": sighting, "reviewer": request.user, "note": data.validated_data["note"],
            "expected": data.validated_data["expected"] or None,
        }
        if act == ReviewAction.CONFIRM:
            kwargs["individual"] = data.validated_data["individual"]
        elif act == ReviewAction.NEW_INDIVIDUAL and data.validated_data["name"]:
            kwargs["name"] = data.validated_data["name"]
        try:
            decision = service(**kwargs)
        except DjangoValidationError as exc:
            if getattr(exc, "code", None) == "conflict":
                return Response({"detail": exc.messages[0]}, status=status.HTTP_409_CONFLICT)
            raise django_errors(exc) from exc
        return Response(s.DecisionSerializer(decision).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.WithdrawInputSerializer, responses={200: s.SightingDetailSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """Withdraw the sighting with a reason (out of open counts, queues and exports; audited)."""
        sighting = self.get_object()
        data = s.WithdrawInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sighting_withdraw = import_string("catalog.withdrawal.sighting_withdraw")
        try:
            sighting_withdraw(sighting=sighting, user=request.user, reason=data.validated_data["reason"])
        except DjangoValidationError as exc:
            raise django_errors(exc) from exc
        sighting = self.get_queryset().get(pk=sighting.pk)
        return Response(s.SightingDetailSerializer(sighting, context=self.get_serializer_context()).data)
