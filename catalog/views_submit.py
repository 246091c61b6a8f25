"""Submission pages: upload photos (or a zip), then boxes, body parts, date, place and notes."""

import json
import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from catalog.forms_submit import DetailsForm, SubmitForm
from catalog.local_time import in_zone
from catalog.models import SUGGESTED_BOX_SOURCES, BodyPart, BoxSource, Role
from catalog.privacy import station_point_for
from catalog.selectors import organizations_for, sightings_for, user_can
from catalog.study_areas import setup_locations_for, submission_stations_for
from catalog.submission import DETAILS_EDITABLE_STATUSES, EDITABLE_STATUSES, image_annotate, sighting_details_update, submission_create
from catalog.withdrawal import sighting_withdraw


def _station_points(user, stations) -> list[dict]:
    """Station markers for the place picker, through the privacy rules."""
    points = []
    for station in stations:
        lat, lon, exact = station_point_for(user, station)
        points.append({"id": station.pk, "label": str(station), "lat": lat, "lon": lon, "exact": exact})
    return points


def _map_context(user) -> dict:
    stations = submission_stations_for(user)
    tiles = settings.LEAFLET_CONFIG.get("TILES") or []
    return {
        "stations_json": _station_points(user, stations),
        "tile_url": tiles[0][1] if tiles else "",
        "tile_attribution": (tiles[0][2] or {}).get("attribution", "") if tiles else "",
        "map_center": json.dumps(list(settings.LEAFLET_CONFIG.get("DEFAULT_CENTER", (40.5, 75.0)))),
    }


@login_required
@require_http_methods(["GET", "POST"])
def submit(request: HttpRequest) -> HttpResponse:
    organizations = organizations_for(request.user, Role.CONTRIBUTOR)
    if not organizations.exists():
        raise PermissionDenied(_("You are not a contributor of any organisation."))
    form = SubmitForm(
        request.POST or None, organizations=organizations, stations=submission_stations_for(request.user),
        locations=setup_locations_for(request.user),
    )
    result = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = submission_create(
                organization=data["organization"], submitted_by=request.user,
                files=request.FILES.getlist("files"), observed_at=data["observed_at"],
                location=data["location"] or (data["station"].location if data["station"] else None),
                station=data["station"], latitude=data["latitude"], longitude=data["longitude"],
                notes=data["notes"], body_part=data["body_part"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if len(result.sightings) == 1 and not result.refused:
                return redirect("sighting_edit", pk=result.sightings[0].pk)
            if not result.sightings:
                messages.error(request, _("None of the files could be kept; see the reasons below."))
    context = {"form": form, "result": result, "body_parts": BodyPart.choices, **_map_context(request.user)}
    return render(request, "catalog/submit.html", context, status=400 if form.errors else 200)


def _local_input_value(sighting) -> str:
    return in_zone(sighting.observed_at, sighting.time_zone).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_box(raw: str) -> tuple[int, int, int, int] | None:
    if not raw.strip():
        return None
    try:
        x, y, w, h = (float(v) for v in raw.split(","))
    except ValueError:
        raise ValidationError(_("The box must be four numbers: x, y, width, height.")) from None
    return (round(x), round(y), round(w), round(h))


@login_required
@require_http_methods(["GET", "POST"])
def sighting_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Step two: box and body part per image, date-time, place and notes; then identify."""
    sighting = get_object_or_404(sightings_for(request.user), pk=pk)
    if not user_can(request.user, sighting.organization_id, Role.CONTRIBUTOR):
        raise PermissionDenied(_("Only contributors of the sighting's organisation may edit it."))
    images = list(sighting.images.all())
    stations = submission_stations_for(request.user)
    initial = {
        "observed_at": _local_input_value(sighting), "station": sighting.station_id, "location": sighting.location_id,
        "latitude": sighting.latitude, "longitude": sighting.longitude, "notes": sighting.notes,
    }
    form = DetailsForm(request.POST or None, initial=initial, stations=stations, locations=setup_locations_for(request.user))
    # Named, because a field team may be in another zone than its study area.
    form.fields["observed_at"].label = _("Date and time, local time of the place (%(zone)s)") % {"zone": sighting.time_zone}
    errors: list[str] = []
    editable = sighting.status in EDITABLE_STATUSES
    details_editable = sighting.status in DETAILS_EDITABLE_STATUSES
    if request.method == "POST" and details_editable and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                sighting_details_update(
                    sighting=sighting, user=request.user, observed_at=data["observed_at"], station=data["station"],
                    location=data["location"],
                    latitude=data["latitude"], longitude=data["longitude"], notes=data["notes"],
                )
                for image in images if editable else []:
                    box = _parse_box(request.POST.get(f"box-{image.pk}", ""))
                    image_annotate(
                        image=image, user=request.user,
                        body_part=request.POST.get(f"body_part-{image.pk}", image.body_part),
                        box=box, box_source=request.POST.get(f"box_source-{image.pk}", BoxSource.USER),
                    )
        except ValidationError as exc:
            errors = exc.messages
        else:
            if "identify" in request.POST and editable:
                return redirect("run_start", pk=sighting.pk)
            messages.success(request, _("Saved."))
            return redirect("sighting_edit", pk=sighting.pk)
    rows = [
        {
            "image": image,
            "box_value": ",".join(str(v) for v in image.box) if image.box else "",
        }
        for image in images
    ]
    latest_run = sighting.match_runs.order_by("-pk").first()
    context = {
        "sighting": sighting, "form": form, "rows": rows, "errors": errors, "editable": editable,
        "details_editable": details_editable,
        "body_parts": BodyPart.choices, "latest_run": latest_run,
        "boxes_url": reverse("boxes_suggest", args=[sighting.pk]),
        **_map_context(request.user),
    }
    return render(request, "catalog/submit_images.html", context, status=400 if errors or form.errors else 200)


def _box_from_json(value, image) -> tuple[int, int, int, int] | None:
    """The editor's box [x, y, w, h] in pixels of the stored image; refused unless it lies inside it."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 4 or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
    ):
        raise ValidationError(_("The box must be four numbers: x, y, width, height."))
    x, y, w, h = (round(v) for v in value)
    if w <= 0 or h <= 0:
        raise ValidationError(_("The box must have a positive width and height."))
    if x < 0 or y < 0 or (image.width and x + w > image.width) or (image.height and y + h > image.height):
        raise ValidationError(_("The box must lie inside the photo."))
    return (x, y, w, h)


@login_required
@require_POST
def image_box_save(request: HttpRequest, pk: int, image_pk: int) -> JsonResponse:
    """Save one photo's box and body part as the editor changes them (JSON), so nothing waits for Save."""
    sighting = get_object_or_404(sightings_for(request.user), pk=pk)
    image = get_object_or_404(sighting.images, pk=image_pk)
    if not user_can(request.user, sighting.organization_id, Role.CONTRIBUTOR):
        return JsonResponse({"error": _("Only contributors of the sighting's organisation may edit it.")}, status=403)
    if sighting.status not in EDITABLE_STATUSES:
        return JsonResponse({"error": _("This sighting is %(status)s and can't be edited now.")
                             % {"status": sighting.get_status_display()}}, status=409)
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        return JsonResponse({"error": _("The request is not a JSON object.")}, status=400)
    source = data.get("source") or BoxSource.USER
    try:
        if source not in (BoxSource.USER, *SUGGESTED_BOX_SOURCES):
            raise ValidationError(_("Unknown box source “%(value)s”.") % {"value": source})
        box = _box_from_json(data.get("box"), image)
        image = image_annotate(
            image=image, user=request.user, body_part=data.get("body_part") or image.body_part, box=box,
            box_source=source,
        )
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    return JsonResponse({"box": list(image.box) if image.box else None, "source": image.box_source,
                         "body_part": image.body_part})


@login_required
@require_POST
def sighting_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw a sighting with a reason (the detail page's form); the audit log keeps it."""
    sighting = get_object_or_404(sightings_for(request.user), pk=pk)
    try:
        sighting_withdraw(sighting=sighting, user=request.user, reason=request.POST.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The sighting is withdrawn; it stays in the audit log."))
    return redirect("sighting_detail", pk=sighting.pk)
