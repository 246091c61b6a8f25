"""Identification pages: start (filters), progress/results, status JSON, overlays, box suggestions."""

import functools
import logging
from collections import defaultdict

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog.models import REFERENCE_STATUSES, BodyPart, Role
from catalog.review import review_state_token
from catalog.submission import EDITABLE_STATUSES
from catalog.selectors import images_for, individuals_for, locations_for, sightings_for, user_can
from catalog.sorting import Sort, chosen_sort
from matching import overlays
from matching.engine import calibration
from matching.forms import RunFiltersForm
from matching.models import MatchRun, RunMode, RunState
from matching.runs import (
    ACTIVE_STATES, STARTABLE_STATUSES, match_run_requeue_stale, match_run_retry, match_run_start, max_attempts,
    run_heartbeat_stale, run_is_stale, run_worker_stopped,
)

logger = logging.getLogger(__name__)
OTHER_REFERENCES_SHOWN = 12


def _runs_for(user):
    """Runs of the sightings the user may see (their organisations'; staff: all)."""
    return MatchRun.objects.filter(sighting__in=sightings_for(user).values("pk")).select_related("sighting")


def _usable_extractors() -> tuple[str, ...]:
    # Imported here: the engine's modules pull in faiss and torch, which most pages never need.
    from matching.services import available_extractors

    return tuple(e["name"] for e in available_extractors() if e["usable"])


def _extractor_choices() -> list[tuple[str, str]]:
    choices = [(name, name) for name in _usable_extractors()]
    if settings.MATCHING_DEFAULT_EXTRACTOR not in [c[0] for c in choices]:
        choices.insert(0, (settings.MATCHING_DEFAULT_EXTRACTOR, settings.MATCHING_DEFAULT_EXTRACTOR))
    return choices


def _url_or_none(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def run_start(request: HttpRequest, pk: int) -> HttpResponse:
    """Choose the filters (study areas, body parts, extractor) and start an identification."""
    sighting = get_object_or_404(sightings_for(request.user), pk=pk)
    if not user_can(request.user, sighting.organization_id, Role.CONTRIBUTOR):
        raise PermissionDenied(_("Only contributors of the sighting's organisation may identify it."))
    previous = sighting.match_runs.order_by("-pk").first()
    initial = {"extractor": settings.MATCHING_DEFAULT_EXTRACTOR, "mode": settings.MATCHING_DEFAULT_MODE,
               "location_prior": settings.MATCHING_LOCATION_PRIOR}
    if previous is not None:
        fast_extractor = previous.extractor if previous.mode == RunMode.FAST else settings.MATCHING_DEFAULT_EXTRACTOR
        initial = {**initial, "extractor": fast_extractor, "mode": previous.mode, **previous.filters}
    form = RunFiltersForm(
        request.POST or None, initial=initial, locations=locations_for(request.user), extractors=_extractor_choices()
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = match_run_start(
                sighting=sighting, requested_by=request.user, extractor=data["extractor"],
                mode=data["mode"] or settings.MATCHING_DEFAULT_MODE,
                filters={"locations": [loc.pk for loc in data["locations"]], "body_parts": data["body_parts"],
                         "location_prior": data["location_prior"]},
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("run_detail", pk=run.pk)
    # A decided sighting can't be re-identified: the page says why instead of offering a start
    # that would be refused.
    return render(request, "matching/run_start.html", {
        "sighting": sighting, "form": form, "previous": previous, "startable": sighting.status in STARTABLE_STATUSES,
    }, status=400 if form.errors else 200)


def _status(run: MatchRun) -> dict:
    worker_stopped = run_worker_stopped(run)
    notice = ""
    if worker_stopped:
        notice = _("The worker stopped; retrying (attempt %(next)d of %(max)d).") % {
            "next": min(run.attempts + 1, max_attempts()), "max": max_attempts()}
    return {
        "id": run.pk,
        "state": run.state,
        "label": run.get_state_display(),
        "done": run.progress_done,
        "total": run.progress_total,
        "error": run.error,
        "finished": run.state in (RunState.DONE, RunState.FAILED),
        "stale": run_is_stale(run),
        "worker_stopped": worker_stopped,
        "notice": notice,
    }


def _requeue_if_silent(run: MatchRun) -> MatchRun:
    # A watched run is taken up again at once; the schedule on the cluster covers unwatched ones.
    if run_heartbeat_stale(run) and match_run_requeue_stale(run_id=run.pk):
        run.refresh_from_db()
    return run


@login_required
@require_GET
def run_status(request: HttpRequest, pk: int) -> JsonResponse:
    """Small JSON polled by results.js while the run is queued or working."""
    run = _requeue_if_silent(get_object_or_404(_runs_for(request.user), pk=pk))
    return JsonResponse(_status(run))


def _references_by_individual(user, candidates) -> dict[int, list]:
    """Other reference images of each candidate individual, in one query."""
    individual_ids = [c.individual_id for c in candidates]
    best = {c.reference_image_id for c in candidates}
    grouped: dict[int, list] = defaultdict(list)
    images = (
        images_for(user)
        .filter(sighting__individual_id__in=individual_ids, sighting__status__in=REFERENCE_STATUSES)
        .exclude(pk__in=best)
        .order_by("-sighting__observed_at", "pk")
    )
    for image in images:
        bucket = grouped[image.sighting.individual_id]
        if len(bucket) < OTHER_REFERENCES_SHOWN:
            bucket.append(image)
    return grouped


@functools.lru_cache(maxsize=8)
def _calibration(version: str) -> calibration.Calibration | None:
    try:
        return calibration.load(version) if version else None
    except FileNotFoundError:
        return None


@login_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress while the run works, then the ranked individuals with overlays and review actions."""
    run = _requeue_if_silent(get_object_or_404(_runs_for(request.user), pk=pk))
    sighting = run.sighting
    candidates = list(
        run.candidates.select_related("individual", "query_image", "reference_image").order_by("rank")
    ) if run.state == RunState.DONE else []
    references = _references_by_individual(request.user, candidates)
    # An individual withdrawn since the run has no page any more: listed, not linked.
    in_catalog = set(
        individuals_for(request.user).filter(pk__in=[c.individual_id for c in candidates]).values_list("pk", flat=True)
    )
    # The overlay URL answers 404 once either photo left the user's sight (a reference withdrawn from the
    # catalog since the run): such a row gets a note instead of a broken image.
    with_overlay = set(
        overlays.overlay_candidates_for(request.user).filter(pk__in=[c.pk for c in candidates]).values_list("pk", flat=True)
    )
    rows = [
        {
            "candidate": c,
            "individual_url": _url_or_none("individual_detail", c.individual_id) if c.individual_id in in_catalog else None,
            "others": references.get(c.individual_id, []),
            "has_overlay": c.pk in with_overlay,
        }
        for c in candidates
    ]
    body_labels = dict(BodyPart.choices)
    latest = sighting.match_runs.order_by("-pk").first()
    context = {
        "run": run,
        "sighting": sighting,
        "rows": rows,
        "status": _status(run),
        "is_latest": latest is not None and latest.pk == run.pk,
        "latest": latest,
        "locations": list(locations_for(request.user).filter(pk__in=run.filters.get("locations", []))),
        "body_parts": [body_labels.get(bp, bp) for bp in run.filters.get("body_parts", [])],
        "query_images": list(sighting.images.all()),
        "can_review": user_can(request.user, sighting.organization_id, Role.REVIEWER),
        "can_contribute": user_can(request.user, sighting.organization_id, Role.CONTRIBUTOR),
        "review_token": review_state_token(sighting),
        "decisions": list(sighting.decisions.select_related("user", "individual", "previous_individual")[:10]),
        "individual_url": _url_or_none("individual_detail", sighting.individual_id) if sighting.individual_id else None,
        "active": run.state in ACTIVE_STATES,
        "can_rerun": sighting.status in STARTABLE_STATUSES,
        "calibration": _calibration(run.calibration_version),
        # Asked for and applied: a sighting with no station or study area is ranked by the photos alone.
        "prior_used": any(c.prior is not None for c in candidates),
    }
    return render(request, "matching/run_detail.html", context)


@login_required
@require_POST
def run_retry(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(_runs_for(request.user), pk=pk)
    if run.state != RunState.FAILED and not run_is_stale(run):
        messages.info(request, _("This identification is not failed; nothing to retry."))
        return redirect("run_detail", pk=run.pk)
    try:
        new = match_run_retry(run=run, requested_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("run_detail", pk=run.pk)
    return redirect("run_detail", pk=new.pk)


@login_required
@require_GET
def candidate_overlay(request: HttpRequest, pk: int) -> HttpResponse:
    """PNG: query | best reference image, verified matches as lines (?lines=0 for the clean pair)."""
    # Served under the photos' own rule: 404 once the user may no longer see either photo.
    candidate = get_object_or_404(overlays.overlay_candidates_for(request.user), pk=pk)
    try:
        png = overlays.candidate_overlay(candidate, lines=request.GET.get("lines", "1") != "0")
    except FileNotFoundError:
        raise Http404(_("This candidate has no image pair to show.")) from None
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=86400"
    return response


@login_required
@require_GET
def boxes_suggest(request: HttpRequest, pk: int) -> JsonResponse:
    """Suggested boxes for a sighting's images (detector + burst motion), to pre-fill the editor."""
    sighting = get_object_or_404(sightings_for(request.user), pk=pk)
    if not user_can(request.user, sighting.organization_id, Role.CONTRIBUTOR):
        raise PermissionDenied(_("Only contributors of the sighting's organisation may edit it."))
    from matching.services import sighting_box_suggestions

    try:
        images, suggestions = sighting_box_suggestions(sighting=sighting)
        reason = ""
    except Exception as exc:  # the editor still works by hand when the detector can't run
        logger.exception("box suggestion failed for sighting %s", sighting.pk)
        images = list(sighting.images.order_by("pk"))
        suggestions = [None] * len(images)
        reason = _("No box suggestion available (%(error)s); draw the boxes by hand.") % {"error": type(exc).__name__}
    boxes = []
    for image, box in zip(images, suggestions):
        boxes.append({
            "image": image.pk,
            "box": None if box is None else {
                "x": int(box["x"]), "y": int(box["y"]), "w": int(box["w"]), "h": int(box["h"]),
                "score": round(float(box.get("score", 0.0)), 3), "source": box.get("source", "detector"),
            },
        })
    return JsonResponse({"boxes": boxes, "message": reason})


SIGHTING_SORTS = {
    "newest": Sort(_lazy("Newest submitted first"), ("-created_at", "-pk")),
    "oldest": Sort(_lazy("Oldest submitted first"), ("created_at", "pk")),
    "observed": Sort(_lazy("Newest observation first"), ("-observed_at", "-pk")),
    "observed_oldest": Sort(_lazy("Oldest observation first"), ("observed_at", "pk")),
}


@login_required
@require_GET
def my_sightings(request: HttpRequest) -> HttpResponse:
    """The sightings of the user's organisations, newest first, with their latest identification."""
    latest = MatchRun.objects.filter(sighting=OuterRef("pk")).order_by("-pk")
    sort, _unknown = chosen_sort(request, SIGHTING_SORTS, "newest")
    qs = (
        sightings_for(request.user)
        .annotate(run_id=Subquery(latest.values("pk")[:1]), run_state=Subquery(latest.values("state")[:1]))
        .order_by(*SIGHTING_SORTS[sort].ordering)
    )
    mine = bool(request.GET.get("mine"))
    if mine:
        qs = qs.filter(submitted_by=request.user)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    for sighting in page:
        # Boxes can be added only while the sighting can still be edited (catalog.submission).
        sighting.can_add_boxes = sighting.status in EDITABLE_STATUSES
    return render(request, "matching/sighting_list.html", {
        "page": page, "mine": mine, "states": dict(RunState.choices), "sort": sort, "sorts": SIGHTING_SORTS,
    })
