"""Sighting map, GeoJSON, individual profiles, stations and the sighting detail page.

Every coordinate that leaves here goes through catalog.privacy: exact for members of the owning
organisation and site admins, snapped to the COORDINATE_GRID_DEGREES grid for everyone else.
"""

import uuid
from collections import defaultdict

import django_filters
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from catalog import geo
from catalog.local_time import local_date, sightings_on_local_days
from catalog.models import (
    REFERENCE_STATUSES,
    BodyPart,
    Individual,
    IndividualStatus,
    Organization,
    ReviewAction,
    Role,
    ReviewDecision,
    Sighting,
    SightingImage,
    SightingStatus,
)
from catalog.privacy import sighting_point_for, station_point_for
from catalog.selectors import (
    catalog_sightings_for,
    images_for,
    individuals_for,
    locations_for,
    organizations_for,
    sightings_for,
    stations_for,
    user_can,
)
from catalog.sorting import Sort, chosen_sort
from catalog.submission import DETAILS_EDITABLE_STATUSES, EDITABLE_STATUSES
from catalog.withdrawal import sighting_can_withdraw

GEOJSON = "application/geo+json"


def _url_or_none(name: str, *args) -> str | None:
    # Some targets (image thumbnails) live in other helpers' modules; a page must still
    # render while one of them is missing.
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


class _MemberScope:
    """Which organisations' sightings the user may open (members and site admins)."""

    def __init__(self, user):
        self.all = user.is_staff
        self.org_ids = set() if self.all else set(organizations_for(user).values_list("pk", flat=True))

    def __contains__(self, organization_id: int) -> bool:
        return self.all or organization_id in self.org_ids


class SightingMapFilter(django_filters.FilterSet):
    individual = django_filters.ModelChoiceFilter(queryset=Individual.objects.none(), label=_("Individual"))
    # Local dates of the study area, not UTC ones (catalog.local_time).
    date_from = django_filters.DateFilter(
        method="filter_date_from", label=_("From"), widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = django_filters.DateFilter(
        method="filter_date_to", label=_("To"), widget=forms.DateInput(attrs={"type": "date"}),
    )
    location = django_filters.ModelChoiceFilter(queryset=None, label=_("Location"))
    organization = django_filters.ModelChoiceFilter(queryset=None, label=_("Organisation"))
    status = django_filters.ChoiceFilter(choices=SightingStatus.choices, label=_("Status"))
    body_part = django_filters.ChoiceFilter(
        field_name="images__body_part", choices=BodyPart.choices, label=_("Body part"), distinct=True
    )

    class Meta:
        model = Sighting
        fields: list[str] = []

    def __init__(self, data=None, *, user, **kwargs):
        # Withdrawn sightings are out of the map, as out of every export.
        super().__init__(data, queryset=catalog_sightings_for(user).exclude(status=SightingStatus.WITHDRAWN), **kwargs)
        self.filters["individual"].queryset = individuals_for(user)
        self.filters["location"].queryset = locations_for(user)
        # Partner names are not sensitive: outsiders see every partner's catalog sightings.
        self.filters["organization"].queryset = Organization.objects.all() if user.is_authenticated else Organization.objects.none()


    def filter_date_from(self, queryset, name, value):
        return sightings_on_local_days(queryset, start=value, end=None)

    def filter_date_to(self, queryset, name, value):
        return sightings_on_local_days(queryset, start=None, end=value)


def _url_builder(name: str, sample):
    """f(value) -> URL of `name` for one argument, resolved once: reverse() per feature is slow."""
    try:
        url = reverse(name, args=[sample])
    except NoReverseMatch:
        return lambda value: None
    head, found, tail = url.rpartition(str(sample))
    if not found:
        return lambda value: _url_or_none(name, value)
    return lambda value: f"{head}{value}{tail}"


class _Features:
    """Turns sightings into GeoJSON properties for one viewer; coordinates via catalog.privacy."""

    def __init__(self, user):
        self.user = user
        self.members = _MemberScope(user)
        self.sighting_url = _url_builder("sighting_detail", 987654321)
        self.individual_url = _url_builder("individual_detail", 987654321)
        self.thumb_url = _url_builder("image_thumb", uuid.UUID(int=0xFEDCBA9876543210))
        # get_status_display() translates every choice on each call; once per request is enough.
        self.status_labels = {value: str(label) for value, label in SightingStatus.choices}
        self.images: dict[int, list[tuple[uuid.UUID, str]]] = defaultdict(list)

    def load_images(self, sightings: QuerySet[Sighting]) -> None:
        """(uuid, body part) of the images of these sightings, in one query without model instances."""
        rows = (
            SightingImage.objects.filter(sighting_id__in=sightings.values("pk"))
            .order_by("pk").values_list("sighting_id", "uuid", "body_part")
        )
        for sighting_id, image_uuid, body_part in rows:
            self.images[sighting_id].append((image_uuid, body_part))

    def thumb(self, sighting_id: int, body_part: str = "") -> str | None:
        images = self.images.get(sighting_id, [])
        preferred = [im for im in images if im[1] == body_part] or images
        return self.thumb_url(preferred[0][0]) if preferred else None

    def properties(self, sighting: Sighting, body_part: str = "") -> dict:
        lat, lon, exact = sighting_point_for(self.user, sighting)
        individual = sighting.individual
        individual_url = self.individual_url(individual.pk) if individual else None
        # Outsiders can't open another organisation's sighting: their link goes to the individual.
        url = self.sighting_url(sighting.pk) if sighting.organization_id in self.members else individual_url
        props = {
            "id": sighting.pk,
            "date": sighting.observed_local.date().isoformat(),
            "observed_at": sighting.observed_local.isoformat(),
            "time_zone": sighting.time_zone,
            "status": sighting.status,
            "status_label": self.status_labels.get(sighting.status, sighting.status),
            "individual": individual.code if individual else None,
            "individual_name": individual.name if individual else "",
            "individual_url": individual_url,
            "organization": sighting.organization.name,
            "location": sighting.location.name if sighting.location else "",
            "station": sighting.station.code if sighting.station else "",
            "thumb": self.thumb(sighting.pk, body_part),
            "url": url,
            "exact": exact,
            "lat": lat,
            "lon": lon,
        }
        if not exact:
            props["grid"] = settings.COORDINATE_GRID_DEGREES
        return props


def _feature(props: dict) -> dict | None:
    if props["lat"] is None:
        return None
    geometry = {"type": "Point", "coordinates": [props["lon"], props["lat"]]}
    properties = {k: v for k, v in props.items() if k not in ("lat", "lon")}  # the geometry has them
    return {"type": "Feature", "id": props["id"], "geometry": geometry, "properties": properties}


@login_required
def map_page(request: HttpRequest) -> HttpResponse:
    filterset = SightingMapFilter(request.GET or None, user=request.user)
    return render(request, "catalog/map.html", {
        "filter_form": filterset.form,
        "grid": settings.COORDINATE_GRID_DEGREES,
    })


@login_required
@require_GET
def sightings_geojson(request: HttpRequest) -> HttpResponse:
    filterset = SightingMapFilter(request.GET or None, user=request.user)
    if filterset.is_bound and not filterset.is_valid():
        return JsonResponse({"errors": filterset.errors.get_json_data()}, status=400)
    builder = _Features(request.user)
    body_part = filterset.form.cleaned_data.get("body_part", "") if filterset.is_bound else ""
    sightings = filterset.qs.order_by("observed_at", "pk")
    builder.load_images(sightings)
    features, without_point = [], 0
    for sighting in sightings:
        feature = _feature(builder.properties(sighting, body_part))
        if feature is None:
            without_point += 1
        else:
            features.append(feature)
    return JsonResponse(
        {"type": "FeatureCollection", "features": features, "without_coordinates": without_point},
        content_type=GEOJSON,
    )


def _detections_by_station(user) -> dict[int, list[Individual]]:
    """Individuals seen at each station, from the sightings the user may see."""
    visible = Sighting.objects.filter(pk__in=catalog_sightings_for(user).values("pk"))
    rows = (
        visible.filter(station__isnull=False, individual__isnull=False)
        .values_list("station_id", "individual_id").order_by().distinct()  # no ordering columns in DISTINCT
    )
    pairs = list(rows)
    individuals = Individual.objects.in_bulk({i for _, i in pairs})
    by_station: dict[int, list[Individual]] = defaultdict(list)
    for station_id, individual_id in pairs:
        by_station[station_id].append(individuals[individual_id])
    for found in by_station.values():
        found.sort(key=lambda i: i.code)
    return by_station


def _stations_with_points(user, location_id: int | None = None) -> list[dict]:
    stations = stations_for(user)
    if location_id is not None:
        stations = stations.filter(location_id=location_id)
    detections = _detections_by_station(user)
    rows = []
    for station in stations:
        lat, lon, exact = station_point_for(user, station)
        rows.append({
            "station": station, "lat": lat, "lon": lon, "exact": exact,
            "individuals": detections.get(station.pk, []),
        })
    return rows


@login_required
@require_GET
def stations_geojson(request: HttpRequest) -> HttpResponse:
    location = request.GET.get("location", "")
    location_id = int(location) if location.isdigit() else None
    features = []
    for row in _stations_with_points(request.user, location_id):
        station = row["station"]
        props = {
            "id": station.pk,
            "code": station.code,
            "location": station.location.name,
            "organization": station.organization.name if station.organization else "",
            "operating_from": station.operating_from.isoformat() if station.operating_from else None,
            "operating_to": station.operating_to.isoformat() if station.operating_to else None,
            "individuals": [{"code": i.code, "url": _url_or_none("individual_detail", i.pk)} for i in row["individuals"]],
            "exact": row["exact"],
        }
        if not row["exact"]:
            props["grid"] = settings.COORDINATE_GRID_DEGREES
        features.append({
            "type": "Feature", "id": station.pk,
            "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
            "properties": props,
        })
    return JsonResponse({"type": "FeatureCollection", "features": features}, content_type=GEOJSON)


@login_required
def station_list(request: HttpRequest) -> HttpResponse:
    return render(request, "catalog/stations.html", {
        "rows": _stations_with_points(request.user),
        "grid": settings.COORDINATE_GRID_DEGREES,
    })


INDIVIDUAL_SORTS = {
    "code": Sort(_("Code, A to Z"), ("code",)),
    "code_desc": Sort(_("Code, Z to A"), ("-code",)),
    "name": Sort(_("Name"), ("name", "code")),
    "newest": Sort(_("Newest in the catalog first"), ("-created_at", "-pk")),
}


@login_required
def individual_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    sort, _unknown = chosen_sort(request, INDIVIDUAL_SORTS, "code")
    individuals = individuals_for(request.user).order_by(*INDIVIDUAL_SORTS[sort].ordering)
    if query:
        individuals = individuals.filter(Q(code__icontains=query) | Q(name__icontains=query))
    # Reference images are visible to every partner, so the cover image needs no further scope.
    cover = SightingImage.objects.filter(
        sighting__individual=OuterRef("pk"), sighting__status__in=REFERENCE_STATUSES
    ).order_by("-sighting__observed_at", "pk").values("uuid")[:1]
    page = Paginator(individuals.annotate(cover_uuid=Subquery(cover)), 48).get_page(request.GET.get("page"))
    stats = _local_stats(request.user, [i.pk for i in page])
    for individual in page:
        individual.stats = stats.get(individual.pk)
        individual.cover_url = _url_or_none("image_thumb", individual.cover_uuid) if individual.cover_uuid else None
    return render(request, "catalog/individual_list.html", {
        "page": page, "query": query, "sort": sort, "sorts": INDIVIDUAL_SORTS,
    })


def _local_stats(user, individual_ids: list[int]) -> dict[int, dict]:
    """Count and first/last local dates of each individual's visible sightings.

    Dates are those of each sighting's own zone: a night capture at 03:22 local time must not
    show as the day before, which Min/Max in UTC would.
    """
    visible = Sighting.objects.filter(pk__in=catalog_sightings_for(user).values("pk"), individual__in=individual_ids)
    rows = visible.values_list("individual", "observed_at", "location__time_zone", "station__location__time_zone")
    stats: dict[int, dict] = {}
    for individual_id, observed_at, zone_name, station_zone in rows.order_by():
        day = local_date(observed_at, zone_name or station_zone)
        row = stats.setdefault(individual_id, {"n": 0, "first": day, "last": day})
        row["n"] += 1
        row["first"], row["last"] = min(row["first"], day), max(row["last"], day)
    return stats


def _individual_track(user, individual: Individual) -> tuple[list[Sighting], list[dict], list[geo.TrackPoint]]:
    builder = _Features(user)
    visible = catalog_sightings_for(user).filter(individual=individual).order_by("observed_at", "pk")
    builder.load_images(visible)
    sightings = list(visible)
    props = [builder.properties(s) for s in sightings]
    track = [
        geo.TrackPoint(when=s.observed_local, lat=p["lat"], lon=p["lon"], station=s.station_id)
        for s, p in zip(sightings, props) if p["lat"] is not None
    ]
    return sightings, props, track


def _withdrawn_notice(request: HttpRequest, individual: Individual) -> HttpResponse:
    """The page of an individual whose founding decision was undone: say so, rather than 404."""
    founded = (
        ReviewDecision.objects.filter(individual=individual, action=ReviewAction.NEW_INDIVIDUAL)
        .filter(sighting__in=sightings_for(request.user).values("pk"))
        .select_related("sighting").order_by("-pk").first()
    )
    undone = founded.undone_by if founded is not None and hasattr(founded, "undone_by") else None
    return render(request, "catalog/individual_withdrawn.html", {
        "individual": individual, "founded": founded, "undone": undone,
        "sighting_url": _url_or_none("sighting_detail", founded.sighting_id) if founded else None,
    })


@login_required
def individual_detail(request: HttpRequest, pk: int) -> HttpResponse:
    withdrawn = Individual.objects.filter(pk=pk, status=IndividualStatus.WITHDRAWN).first()
    if withdrawn is not None and request.user.is_authenticated:
        return _withdrawn_notice(request, withdrawn)
    individual = get_object_or_404(individuals_for(request.user), pk=pk)
    sightings, props, track = _individual_track(request.user, individual)
    gallery_images = (
        images_for(request.user)
        .filter(sighting__individual=individual, sighting__status__in=REFERENCE_STATUSES)
        .select_related("sighting__location", "sighting__station__location")  # dated in their zone
        .order_by("-sighting__observed_at", "pk")
    )
    by_part = defaultdict(list)
    for image in gallery_images:
        by_part[image.body_part].append({"image": image, "thumb": _url_or_none("image_thumb", image.uuid)})
    gallery = [(label, by_part[value]) for value, label in BodyPart.choices if by_part.get(value)]
    return render(request, "catalog/individual_detail.html", {
        "individual": individual,
        # Dated in the zones of the first and last sightings (the list is in time order).
        "first_seen": sightings[0].observed_at if sightings else individual.first_seen,
        "last_seen": sightings[-1].observed_at if sightings else individual.last_seen,
        "first_zone": sightings[0].time_zone if sightings else "UTC",
        "last_zone": sightings[-1].time_zone if sightings else "UTC",
        "timeline": list(zip(sightings, props)),
        "gallery": gallery,
        "summary": geo.movement_summary(track),
        "any_coarse": any(not p["exact"] for p in props if p["lat"] is not None),
        "grid": settings.COORDINATE_GRID_DEGREES,
    })


@login_required
@require_GET
def individual_track_geojson(request: HttpRequest, pk: int) -> HttpResponse:
    individual = get_object_or_404(individuals_for(request.user), pk=pk)
    _, props, track = _individual_track(request.user, individual)
    features = [f for f in map(_feature, props) if f is not None]
    for move in geo.successive_moves(track):
        features.append({
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[move.start.lon, move.start.lat], [move.end.lon, move.end.lat]]},
            "properties": {
                "kind": "move",
                "from": move.start.when.date().isoformat(),
                "to": move.end.when.date().isoformat(),
                "km": round(move.km, 2),
                "days": round(move.days, 1),
            },
        })
    return JsonResponse({"type": "FeatureCollection", "features": features}, content_type=GEOJSON)


@login_required
def sighting_detail(request: HttpRequest, pk: int) -> HttpResponse:
    sighting = get_object_or_404(
        sightings_for(request.user).prefetch_related("images", "decisions__user", "decisions__individual"), pk=pk
    )
    props = _Features(request.user).properties(sighting)
    images = [{"image": im, "thumb": _url_or_none("image_thumb", im.uuid)} for im in sighting.images.all()]
    feature = _feature(props)
    # The identification pages live in `matching`; reached through the reverse relation and
    # URL names only, so catalog keeps no import of matching.
    runs = getattr(sighting, "match_runs", None)
    latest_run = runs.order_by("-pk").values_list("pk", flat=True).first() if runs is not None else None
    # Viewers may read the sighting but not edit it: they get no edit link to be refused at.
    contributes = user_can(request.user, sighting.organization_id, Role.CONTRIBUTOR)
    links = [
        (_("Identification results"), _url_or_none("run_detail", latest_run) if latest_run else None),
        (_("Edit details and boxes"), _url_or_none("sighting_edit", sighting.pk) if contributes and sighting.status in EDITABLE_STATUSES else None),
        (_("Edit date, place and notes"), _url_or_none("sighting_edit", sighting.pk)
         if contributes and sighting.status in DETAILS_EDITABLE_STATUSES and sighting.status not in EDITABLE_STATUSES
         else None),
    ]
    return render(request, "catalog/sighting_detail.html", {
        "links": [(label, url) for label, url in links if url],
        "can_withdraw": sighting_can_withdraw(request.user, sighting),
        "withdrawal": next((d for d in sighting.decisions.all() if d.action == ReviewAction.WITHDRAW), None),
        "sighting": sighting,
        "lat": props["lat"], "lon": props["lon"], "exact": props["exact"],
        "point_geojson": {"type": "FeatureCollection", "features": [feature] if feature else []},
        "images": images,
        "decisions": list(sighting.decisions.all()),
        "individual_url": _url_or_none("individual_detail", sighting.individual_id) if sighting.individual_id else None,
    })
