"""Review pages: the queue of sightings awaiting review, and the decision endpoint."""

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_POST

from catalog import review
from catalog.models import BodyPart, CameraStation, Location, ReviewAction, Role, SightingImage, SightingStatus
from catalog.selectors import individuals_for, organizations_for, sightings_for, user_can
from catalog.sorting import Sort, chosen_sort
from matching.models import Confidence, MatchCandidate, MatchRun, RunState


QUEUE_SORTS = {
    "oldest": Sort(_lazy("Oldest submitted first"), ("created_at", "pk")),
    "newest": Sort(_lazy("Newest submitted first"), ("-created_at", "-pk")),
    "observed": Sort(_lazy("Newest observation first"), ("-observed_at", "-pk")),
    "observed_oldest": Sort(_lazy("Oldest observation first"), ("observed_at", "pk")),
    "score": Sort(_lazy("Top score first"), (F("top_score").desc(nulls_last=True), "created_at", "pk")),
}


def _int_or_none(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def _queue_filters(request: HttpRequest, pending):
    """The queue narrowed by ?level, station, area, body_part, observed_from/_to; errors name bad values."""
    get = request.GET
    chosen = {key: get.get(key, "").strip() for key in ("level", "station", "area", "body_part", "observed_from", "observed_to")}
    errors = []
    if chosen["level"] in Confidence.values:
        pending = pending.filter(top_confidence=chosen["level"])
    elif chosen["level"] == "likely_new":
        pending = pending.filter(likely_new=True)
    elif chosen["level"]:
        errors.append(_("Unknown level “%(value)s”.") % {"value": chosen["level"]})
    station, area = _int_or_none(chosen["station"]), _int_or_none(chosen["area"])
    if station is not None:
        pending = pending.filter(station_id=station)
    if area is not None:
        pending = pending.filter(Q(location_id=area) | Q(station__location_id=area))
    for key, value in (("station", station), ("area", area)):
        if chosen[key] and value is None:
            errors.append(_("Unknown station or study area “%(value)s”.") % {"value": chosen[key]})
    if chosen["body_part"] in BodyPart.values:
        pending = pending.filter(pk__in=SightingImage.objects.filter(body_part=chosen["body_part"]).values("sighting"))
    elif chosen["body_part"]:
        errors.append(_("Unknown body part “%(value)s”.") % {"value": chosen["body_part"]})
    for key, lookup in (("observed_from", "observed_at__date__gte"), ("observed_to", "observed_at__date__lte")):
        if not chosen[key]:
            continue
        try:
            day = date.fromisoformat(chosen[key])
        except ValueError:
            errors.append(_("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": chosen[key]})
        else:
            pending = pending.filter(**{lookup: day})
    return pending, chosen, errors


@login_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    """Sightings awaiting review in the reviewer's organisations (filtered, sorted; oldest first), and failed runs."""
    orgs = organizations_for(request.user, Role.REVIEWER)
    latest_done = MatchRun.objects.filter(sighting=OuterRef("pk"), state=RunState.DONE).order_by("-pk")
    top = MatchCandidate.objects.filter(run=OuterRef("run_id"), rank=1)
    awaiting = sightings_for(request.user).filter(organization__in=orgs, status=SightingStatus.AWAITING_REVIEW)
    pending = (
        awaiting
        .annotate(run_id=Subquery(latest_done.values("pk")[:1]), likely_new=Subquery(latest_done.values("likely_new")[:1]))
        .annotate(
            top_confidence=Subquery(top.values("confidence")[:1]),
            top_code=Subquery(top.values("individual__code")[:1]),
            top_score=Subquery(top.values("score")[:1]),
        )
        .select_related("organization", "station")
        .prefetch_related("images")
    )
    pending, chosen, errors = _queue_filters(request, pending)
    sort, unknown = chosen_sort(request, QUEUE_SORTS, "oldest")
    if unknown:
        errors.append(_("Unknown order “%(value)s”.") % {"value": unknown})
    pending = list(pending.order_by(*QUEUE_SORTS[sort].ordering))
    for sighting in pending:
        # The thumbnail view cuts it to the box; the first photo stands for the sighting.
        sighting.first_image = next(iter(sighting.images.all()), None)
    # The filters offer only what the queue holds, so they name no other organisation's places.
    stations = CameraStation.objects.filter(pk__in=awaiting.values("station")).order_by("code")
    areas = Location.objects.filter(Q(pk__in=awaiting.values("location")) | Q(pk__in=awaiting.values("station__location"))).order_by("name")
    latest = MatchRun.objects.filter(sighting=OuterRef("sighting_id")).order_by("-pk").values("pk")[:1]
    failed = (
        MatchRun.objects.filter(sighting__organization__in=orgs, state=RunState.FAILED, pk=Subquery(latest))
        .select_related("sighting", "sighting__organization")
        .order_by("-finished_at")[:50]
    )
    context = {
        "pending": pending, "failed": failed, "is_reviewer": orgs.exists(), "chosen": chosen, "sort": sort,
        "sorts": QUEUE_SORTS, "levels": Confidence.choices, "body_parts": BodyPart.choices,
        "stations": stations, "areas": areas, "errors": errors,
    }
    return render(request, "matching/review_queue.html", context, status=400 if errors else 200)


# Decisions that change the catalog: the first POST shows what will happen, a second one
# (confirmed=yes, from that page's form) decides. No script needed, so it works under a strict CSP.
CONFIRMED_ACTIONS = ("confirm", "new_individual", "undo")


def _review_confirmation(request: HttpRequest, sighting, action: str) -> HttpResponse:
    if not user_can(request.user, sighting.organization_id, Role.REVIEWER):
        raise PermissionDenied(_("Only reviewers of the sighting's organisation may decide on it."))
    individual = None
    if action == "confirm":
        individual = get_object_or_404(individuals_for(request.user), pk=request.POST.get("individual"))
    undoing = None
    if action == "undo":
        undoing = sighting.decisions.exclude(action__in=(ReviewAction.UNDO, ReviewAction.MERGE)).filter(
            undone_by__isnull=True).select_related("individual").order_by("-pk").first()
    run = sighting.match_runs.order_by("-pk").first()
    return render(request, "matching/review_confirm.html", {
        "sighting": sighting, "action": action, "individual": individual, "undoing": undoing,
        "fields": {key: request.POST.get(key, "") for key in ("expected", "individual", "name", "note", "next")},
        "cancel_url": reverse("run_detail", args=[run.pk]) if run else reverse("review_queue"),
    })


@login_required
@require_POST
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm a candidate, found a new individual, mark unidentifiable, or undo."""
    sighting = get_object_or_404(sightings_for(request.user), pk=pk)
    action = request.POST.get("action", "")
    if action in CONFIRMED_ACTIONS and request.POST.get("confirmed") != "yes":
        return _review_confirmation(request, sighting, action)
    expected = request.POST.get("expected") or None
    note = request.POST.get("note", "")[:2000]
    back = request.POST.get("next") or ""
    try:
        if action == "confirm":
            individual = get_object_or_404(individuals_for(request.user), pk=request.POST.get("individual"))
            decision = review.review_confirm(
                sighting=sighting, individual=individual, reviewer=request.user, expected=expected, note=note
            )
            messages.success(request, _("Confirmed: this sighting is %(ind)s.") % {"ind": decision.individual})
        elif action == "new_individual":
            decision = review.review_new_individual(
                sighting=sighting, reviewer=request.user, name=request.POST.get("name", "")[:100],
                expected=expected, note=note,
            )
            messages.success(request, _("New individual %(ind)s created.") % {"ind": decision.individual})
        elif action == "unidentifiable":
            review.review_unidentifiable(sighting=sighting, reviewer=request.user, expected=expected, note=note)
            messages.success(request, _("Marked unidentifiable."))
        elif action == "undo":
            review.review_undo(sighting=sighting, reviewer=request.user, expected=expected, note=note)
            messages.success(request, _("Decision undone."))
        else:
            messages.error(request, _("Unknown review action."))
    except PermissionDenied:
        raise
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    run = sighting.match_runs.order_by("-pk").first()
    return redirect("run_detail", pk=run.pk) if run else redirect("review_queue")
