"""User-scoped reads. Every view, API endpoint and export starts from one of these."""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet

from catalog.models import (
    REFERENCE_STATUSES,
    CameraStation,
    Individual,
    IndividualMerge,
    IndividualStatus,
    Location,
    Membership,
    Organization,
    Role,
    ROLE_RANK,
    Sighting,
    SightingImage,
)


def organizations_for(user: User | AnonymousUser, min_role: str = Role.VIEWER) -> QuerySet[Organization]:
    """Organisations where the user holds at least `min_role` (all of them for site admins)."""
    if not user.is_authenticated:
        return Organization.objects.none()
    if user.is_staff:
        return Organization.objects.all()
    roles = [role for role, rank in ROLE_RANK.items() if rank >= ROLE_RANK[Role(min_role)]]
    return Organization.objects.filter(memberships__user=user, memberships__role__in=roles).distinct()


def user_can(user: User | AnonymousUser, organization_id: int, role: str) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    return organizations_for(user, role).filter(pk=organization_id).exists()


def sightings_for(user: User | AnonymousUser) -> QuerySet[Sighting]:
    """Sightings of the user's organisations; site admins see all."""
    qs = Sighting.objects.select_related("organization", "location", "station__location", "individual")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(organization__memberships__user=user).distinct()


def catalog_sightings_for(user: User | AnonymousUser) -> QuerySet[Sighting]:
    """Sightings the user may see as part of the shared catalog: their own plus every identified one."""
    qs = Sighting.objects.select_related("organization", "location", "station__location", "individual")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(Q(organization__memberships__user=user) | Q(status__in=REFERENCE_STATUSES)).distinct()


def images_for(user: User | AnonymousUser) -> QuerySet[SightingImage]:
    """Images of the user's sightings plus the shared catalog's reference images."""
    qs = SightingImage.objects.select_related("sighting", "sighting__organization")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(
        Q(sighting__organization__memberships__user=user) | Q(sighting__status__in=REFERENCE_STATUSES)
    ).distinct()


def reference_images() -> QuerySet[SightingImage]:
    """The catalog's reference images: images of identified sightings (unscoped; engine use only)."""
    return SightingImage.objects.filter(
        sighting__status__in=REFERENCE_STATUSES, sighting__individual__isnull=False
    ).select_related("sighting")


def individuals_for(user: User | AnonymousUser) -> QuerySet[Individual]:
    """The catalog is shared between partners: every logged-in user sees every individual, except
    those withdrawn (founded by a decision that was undone; the admin and the audit log keep them)."""
    if not user.is_authenticated:
        return Individual.objects.none()
    return Individual.objects.exclude(status=IndividualStatus.WITHDRAWN)


def merges_for(user: User | AnonymousUser) -> QuerySet[IndividualMerge]:
    """Merges are part of the shared catalog's history: every logged-in user may read them (the
    sightings they moved stay scoped: read those through sightings_for)."""
    return IndividualMerge.objects.filter(source__in=individuals_for(user)).select_related(
        "source", "target", "user", "undone_by")


def locations_for(user: User | AnonymousUser) -> QuerySet[Location]:
    if not user.is_authenticated:
        return Location.objects.none()
    return Location.objects.all()


def stations_for(user: User | AnonymousUser) -> QuerySet[CameraStation]:
    """All stations are listed; their exact coordinates are protected by catalog.privacy."""
    if not user.is_authenticated:
        return CameraStation.objects.none()
    return CameraStation.objects.select_related("location", "organization")


def memberships_for(user: User | AnonymousUser) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("organization")
