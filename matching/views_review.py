"""Review pages: the queue of sightings awaiting review, and the decision endpoint."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from catalog import review
from catalog.models import ReviewAction, Role, SightingStatus
from catalog.selectors import individuals_for, organizations_for, sightings_for, user_can
from matching.models import MatchCandidate, MatchRun, RunState


@login_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    """Sightings awaiting review in the reviewer's organisations, oldest first, and failed runs."""
    orgs = organizations_for(request.user, Role.REVIEWER)
    latest_done = MatchRun.objects.filter(sighting=OuterRef("pk"), state=RunState.DONE).order_by("-pk")
    top = MatchCandidate.objects.filter(run=OuterRef("run_id"), rank=1)
    pending = (
        sightings_for(request.user)
        .filter(organization__in=orgs, status=SightingStatus.AWAITING_REVIEW)
        .annotate(run_id=Subquery(latest_done.values("pk")[:1]), likely_new=Subquery(latest_done.values("likely_new")[:1]))
        .annotate(
            top_confidence=Subquery(top.values("confidence")[:1]),
            top_code=Subquery(top.values("individual__code")[:1]),
            top_score=Subquery(top.values("score")[:1]),
        )
        .prefetch_related("images")
        .order_by("created_at", "pk")
    )
    latest = MatchRun.objects.filter(sighting=OuterRef("sighting_id")).order_by("-pk").values("pk")[:1]
    failed = (
        MatchRun.objects.filter(sighting__organization__in=orgs, state=RunState.FAILED, pk=Subquery(latest))
        .select_related("sighting", "sighting__organization")
        .order_by("-finished_at")[:50]
    )
    return render(request, "matching/review_queue.html", {"pending": pending, "failed": failed, "is_reviewer": orgs.exists()})


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
