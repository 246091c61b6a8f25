"""Home page and the scoped image file/thumbnail views (media is never served publicly)."""

import hashlib

from django.contrib.auth.decorators import login_required
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from catalog.imaging import DEFAULT_THUMB_SIZE, THUMB_SIZES, thumbnail_bytes, thumbnail_name
from catalog.models import REFERENCE_STATUSES, SightingStatus
from catalog.selectors import images_for, individuals_for, memberships_for, organizations_for, sightings_for
from catalog.stored_files import stored_file_response

# Private: a shared cache must never hand one partner's image to another.
CACHE_CONTROL = "private, max-age=86400"
THUMB_CACHE_CONTROL = "private, no-cache"

OPEN_STATUSES = (SightingStatus.SUBMITTED, SightingStatus.IDENTIFYING, SightingStatus.AWAITING_REVIEW)


# Pages other parts of the site provide; the dashboard links to those that exist.
HOME_LINKS = ("submit", "my_sightings", "review_queue", "map", "individual_list", "station_list", "population", "exports")


def _reverse_or_none(name: str, **kwargs) -> str | None:
    try:
        return reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return None


@login_required
def home(request: HttpRequest) -> HttpResponse:
    sightings = sightings_for(request.user)
    counts = sightings.aggregate(
        total=Count("pk", distinct=True),
        open=Count("pk", filter=Q(status__in=OPEN_STATUSES), distinct=True),
        awaiting_review=Count("pk", filter=Q(status=SightingStatus.AWAITING_REVIEW), distinct=True),
        identified=Count("pk", filter=Q(status__in=REFERENCE_STATUSES), distinct=True),
    )
    organizations = list(
        organizations_for(request.user).annotate(
            num_sightings=Count("sightings", distinct=True),
            num_members=Count("memberships", distinct=True),
        )
    )
    memberships = {m.organization_id: m for m in memberships_for(request.user)}
    for org in organizations:
        org.my_membership = memberships.get(org.pk)
    recent = list(
        # By submission time: a 2012 season imported today is what the team wants to see first.
        sightings.annotate(num_images=Count("images", distinct=True)).prefetch_related("images").order_by("-created_at", "-pk")[:12]
    )
    for sighting in recent:
        sighting.first_image = min(sighting.images.all(), key=lambda image: image.pk, default=None)
        sighting.detail_url = _reverse_or_none("sighting_detail", pk=sighting.pk)
    num_individuals = individuals_for(request.user).count()
    num_demo = individuals_for(request.user).filter(is_demo=True).count()
    context = {
        "counts": counts,
        "num_individuals": num_individuals,
        "num_demo_individuals": num_demo,
        "num_real_individuals": num_individuals - num_demo,
        "organizations": organizations,
        "recent": recent,
        "links": {name: _reverse_or_none(name) for name in HOME_LINKS},
    }
    return render(request, "catalog/home.html", context)


def _etag(image) -> str:
    return '"' + hashlib.sha1(f"{image.sha256}:{image.file.name}".encode()).hexdigest() + '"'


def _cached(response: HttpResponse, etag: str, cache_control: str = CACHE_CONTROL) -> HttpResponse:
    # A redirect to a signed URL keeps its own short lifetime and no ETag: revalidating it would
    # keep sending the browser to a URL that has expired.
    if response.status_code == 200:
        response["Cache-Control"] = cache_control
        response["ETag"] = etag
    return response


def _not_modified(request: HttpRequest, etag: str) -> bool:
    return etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]


@require_GET
@login_required
def image_file(request: HttpRequest, uuid) -> HttpResponse:
    """The stored (normalised, EXIF-free) image, for users who may see it; 404 for everyone else."""
    image = get_object_or_404(images_for(request.user), uuid=uuid)
    etag = _etag(image)
    if _not_modified(request, etag):
        return HttpResponseNotModified()
    content_type = "image/png" if image.file.name.lower().endswith(".png") else "image/jpeg"
    try:
        response = stored_file_response(storage=image.file.storage, name=image.file.name, content_type=content_type)
    except FileNotFoundError:
        raise Http404("image file missing") from None
    return _cached(response, etag)


@require_GET
@login_required
def image_thumb(request: HttpRequest, uuid) -> HttpResponse:
    """JPEG thumbnail (?size=160|320|640|1024, default 320), made once and kept in storage."""
    image = get_object_or_404(images_for(request.user), uuid=uuid)
    try:
        size = int(request.GET.get("size", DEFAULT_THUMB_SIZE))
    except ValueError:
        size = 0
    if size not in THUMB_SIZES:
        raise Http404("unsupported thumbnail size")
    name = thumbnail_name(image, size)
    # The name carries the box, so a redrawn box gives another ETag.
    etag = '"' + hashlib.sha1(f"{_etag(image)}:{name}".encode()).hexdigest() + '"'
    if _not_modified(request, etag):
        return HttpResponseNotModified()
    if not default_storage.exists(name):
        try:
            with image.file.open("rb") as source:
                data = thumbnail_bytes(source, size, image.box)
        except FileNotFoundError:
            raise Http404("image file missing") from None
        # Two requests may race to create it; the storage then keeps one under a suffixed
        # name, and this request serves its own bytes.
        default_storage.save(name, ContentFile(data))
        response = HttpResponse(data, content_type="image/jpeg")
    else:
        try:
            response = stored_file_response(storage=default_storage, name=name, content_type="image/jpeg")
        except FileNotFoundError:  # deleted since exists(): the next request makes it again
            raise Http404("thumbnail missing") from None
    # Revalidated on every use (a 304 while unchanged): the URL stays the same when the box is redrawn.
    return _cached(response, etag, cache_control=THUMB_CACHE_CONTROL)
