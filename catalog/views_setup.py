"""Set-up pages: an organisation's study areas (boundary drawn on the map) and camera stations.

Org admins create and change them; the other members read them. Only the user's own
organisations' stations are listed here, with their exact positions; nobody else's.
"""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from catalog.forms_setup import LocationForm, OperatingPeriodFormSet, StationForm
from catalog.models import Organization, Role
from catalog.selectors import organizations_for
from catalog.study_areas import (
    can_edit_location,
    can_edit_station,
    location_create,
    location_update,
    setup_locations_for,
    setup_stations_for,
    station_create,
    station_update,
)


def _map_settings() -> dict:
    tiles = settings.LEAFLET_CONFIG.get("TILES") or []
    return {
        "tile_url": tiles[0][1] if tiles else "",
        "tile_attribution": (tiles[0][2] or {}).get("attribution", "") if tiles else "",
        "map_center": json.dumps(list(settings.LEAFLET_CONFIG.get("DEFAULT_CENTER", (40.5, 75.0)))),
    }


def _admin_orgs(user):
    return organizations_for(user, Role.ORG_ADMIN)


def _apply_errors(form, exc: ValidationError) -> None:
    for field, errors in getattr(exc, "message_dict", {None: exc.messages}).items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)


def _station_points(stations) -> list[dict]:
    # Only the user's own organisations' stations reach this (setup_stations_for): exact is fine.
    return [{"id": st.pk, "label": st.code, "lat": st.latitude, "lon": st.longitude} for st in stations]


@login_required
def setup_home(request: HttpRequest) -> HttpResponse:
    locations = list(setup_locations_for(request.user).order_by("name"))
    stations = setup_stations_for(request.user).order_by("location__name", "code")
    by_location: dict[int, list] = {}
    for station in stations:
        by_location.setdefault(station.location_id, []).append(station)
    rows = [
        {"location": loc, "stations": by_location.get(loc.pk, []), "can_edit": can_edit_location(request.user, loc)}
        for loc in locations
    ]
    return render(request, "catalog/setup_home.html", {
        "rows": rows, "can_create": _admin_orgs(request.user).exists(),
    })


def _location_form_page(request, form, location=None, *, status=200) -> HttpResponse:
    stations = setup_stations_for(request.user).filter(location=location) if location else []
    return render(request, "catalog/setup_location.html", {
        "form": form, "location": location, "editable": form is not None,
        "stations": stations, "stations_json": _station_points(stations), **_map_settings(),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def location_new(request: HttpRequest) -> HttpResponse:
    organizations = _admin_orgs(request.user)
    if not organizations.exists():
        raise PermissionDenied(_("Only organisation admins may create study areas."))
    form = LocationForm(request.POST or None, organizations=organizations)
    if request.method == "POST" and form.is_valid():
        try:
            location = location_create(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Study area “%(name)s” created; now add its camera stations.") % {"name": location.name})
            return redirect("setup_location", pk=location.pk)
    return _location_form_page(request, form, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def location_edit(request: HttpRequest, pk: int) -> HttpResponse:
    location = get_object_or_404(setup_locations_for(request.user), pk=pk)
    if not can_edit_location(request.user, location):
        if request.method == "POST":
            raise PermissionDenied(_("Only admins of the study area's organisation may change it."))
        return _location_form_page(request, None, location)
    organizations = (
        Organization.objects.filter(pk=location.organization_id) if location.organization_id else _admin_orgs(request.user)
    )
    initial = {
        "organization": location.organization_id, "name": location.name, "country": location.country,
        "time_zone": location.time_zone, "boundary_geojson": location.boundary_geojson,
    }
    form = LocationForm(request.POST or None, initial=initial, organizations=organizations)
    # An area does not change owner here (a shared one, edited by a site admin, has none).
    form.fields["organization"].disabled = True
    form.fields["organization"].required = False
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "organization"}
        try:
            location_update(user=request.user, location=location, **data)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("setup_location", pk=location.pk)
    return _location_form_page(request, form, location, status=400 if form.errors else 200)


def _station_page(request, form, station=None, *, periods=None, location=None, status=200) -> HttpResponse:
    location = location or (station.location if station else None)
    others = setup_stations_for(request.user).filter(location=location) if location else []
    if station is not None:
        others = others.exclude(pk=station.pk)
    return render(request, "catalog/setup_station.html", {
        "form": form, "periods": periods, "station": station, "location": location, "editable": form is not None,
        "saved_periods": list(station.operating_periods.all()) if station else [],
        "stations_json": _station_points(others),
        "boundary": location.boundary_geojson if location else "",
        **_map_settings(),
    }, status=status)


def _station_locations(user):
    """Areas a station may be placed in: the admin's organisations' own and the shared ones."""
    qs = setup_locations_for(user)
    return qs.filter(organization__isnull=True) | qs.filter(organization__in=_admin_orgs(user).values("pk"))


@login_required
@require_http_methods(["GET", "POST"])
def station_new(request: HttpRequest, pk: int) -> HttpResponse:
    location = get_object_or_404(setup_locations_for(request.user), pk=pk)
    organizations = _admin_orgs(request.user)
    if location.organization_id:
        organizations = organizations.filter(pk=location.organization_id)
    if not organizations.exists():
        raise PermissionDenied(_("Only organisation admins may set up camera stations."))
    form = StationForm(
        request.POST or None, initial={"location": location.pk}, organizations=organizations,
        locations=_station_locations(request.user),
    )
    periods = OperatingPeriodFormSet(request.POST or None, prefix="periods")
    if request.method == "POST" and form.is_valid() and periods.is_valid():
        try:
            station = station_create(user=request.user, periods=periods.periods(), **form.cleaned_data)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Camera station %(code)s created.") % {"code": station.code})
            return redirect("setup_location", pk=station.location_id)
    failed = form.errors or (request.method == "POST" and not periods.is_valid())
    return _station_page(request, form, periods=periods, location=location, status=400 if failed else 200)


@login_required
@require_http_methods(["GET", "POST"])
def station_edit(request: HttpRequest, pk: int) -> HttpResponse:
    station = get_object_or_404(setup_stations_for(request.user), pk=pk)
    if not can_edit_station(request.user, station):
        if request.method == "POST":
            raise PermissionDenied(_("Only admins of the station's organisation may change it."))
        return _station_page(request, None, station)
    initial = {
        "organization": station.organization_id, "location": station.location_id, "code": station.code,
        "latitude": station.latitude, "longitude": station.longitude,
    }
    periods = OperatingPeriodFormSet(request.POST or None, prefix="periods", initial=[
        {"start": start, "end": end, "note": note}
        for start, end, note in station.operating_periods.values_list("start", "end", "note")
    ] or ([{"start": station.operating_from, "end": station.operating_to}] if station.operating_from else []))
    form = StationForm(
        request.POST or None, initial=initial, organizations=Organization.objects.filter(pk=station.organization_id),
        locations=_station_locations(request.user),
    )
    form.fields["organization"].disabled = True
    if request.method == "POST" and form.is_valid() and periods.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "organization"}
        try:
            station_update(user=request.user, station=station, periods=periods.periods(), **data)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("setup_location", pk=station.location_id)
    failed = form.errors or (request.method == "POST" and not periods.is_valid())
    return _station_page(request, form, station, periods=periods, status=400 if failed else 200)
