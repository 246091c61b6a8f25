"""Merging two catalog individuals that turn out to be one animal, and undoing a merge.

Who may merge: a site admin, or a user who is a reviewer or organisation admin of every
organisation with a sighting of the individual that goes away (the "source"). Those sightings
change identity, so the people who may decide on them are the ones who may move them; the kept
individual ("target") is part of the shared catalog and its own sightings do not change. A
source with no sighting at all may be merged by any reviewer. The same rule holds for an undo,
over the sightings it moves back.

A merge moves every sighting of the source (and with it its photos and decisions) to the
target, records one IndividualMerge plus a MERGE ReviewDecision per moved sighting, and marks
the source MERGED with `merged_into`, so its page can say where it went.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from catalog.models import (
    REFERENCE_STATUSES,
    Individual,
    IndividualMerge,
    IndividualStatus,
    Organization,
    ReviewAction,
    ReviewDecision,
    Role,
    Sighting,
    SightingImage,
)
from catalog.review import individual_refresh_seen
from catalog.selectors import organizations_for

MERGEABLE_STATUSES = (IndividualStatus.ACTIVE, IndividualStatus.DEAD)


@dataclass(frozen=True)
class MergePreview:
    """What a merge of source into target would move, for the confirmation page."""

    sightings: int
    images: int
    decisions: int
    organizations: list[str]


def _organizations_of(sighting_ids) -> list[Organization]:
    return list(Organization.objects.filter(sightings__pk__in=sighting_ids).distinct().order_by("name"))


def _may_move(user: User | AnonymousUser, organizations: list[Organization]) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    reviewer_of = set(organizations_for(user, Role.REVIEWER).values_list("pk", flat=True))
    if not reviewer_of:
        return False
    return all(org.pk in reviewer_of for org in organizations)


def individual_can_merge(*, user: User | AnonymousUser, source: Individual) -> bool:
    """Whether `user` may merge `source` into another individual (the module docstring's rule)."""
    ids = Sighting.objects.filter(individual=source).values("pk")
    return _may_move(user, _organizations_of(ids))


def individual_merge_preview(*, source: Individual) -> MergePreview:
    sightings = Sighting.objects.filter(individual=source)
    return MergePreview(
        sightings=sightings.count(),
        images=SightingImage.objects.filter(sighting__in=sightings).count(),
        decisions=ReviewDecision.objects.filter(sighting__in=sightings).count(),
        organizations=[org.name for org in _organizations_of(sightings.values("pk"))],
    )


def _reindex_on_commit(sighting_ids: list[int]) -> None:
    # The index labels each reference photo with its individual; the bulk queue relabels them
    # (identify_run also reconciles any it finds stale, so a late task loses nothing).
    for pk in sighting_ids:
        transaction.on_commit(lambda pk=pk: async_task("matching.tasks.index_sighting", pk, cluster=settings.QUEUE_BULK))


@transaction.atomic
def individual_merge(*, source: Individual, target: Individual, user: User, note: str = "") -> IndividualMerge:
    """Merge `source` into `target`: every sighting of the source moves to the target."""
    if source.pk == target.pk:
        raise ValidationError(_("An individual cannot be merged into itself."))
    # Lock both in a fixed order so that two merges of the same pair cannot interleave.
    locked = {ind.pk: ind for ind in Individual.objects.select_for_update().filter(pk__in=[source.pk, target.pk]).order_by("pk")}
    source, target = locked[source.pk], locked[target.pk]
    if source.status not in MERGEABLE_STATUSES:
        raise ValidationError(_("%(code)s is %(status)s and cannot be merged.") % {
            "code": source.code, "status": source.get_status_display()})
    if not target.accepts_sightings:
        raise ValidationError(_("%(code)s is %(status)s and cannot receive sightings.") % {
            "code": target.code, "status": target.get_status_display()})
    moving = list(Sighting.objects.select_for_update().filter(individual=source).order_by("pk"))
    if not _may_move(user, _organizations_of([s.pk for s in moving])):
        raise PermissionDenied(_(
            "Only a reviewer of every organisation with a sighting of %(code)s (or a site admin) may merge it."
        ) % {"code": source.code})
    merge = IndividualMerge.objects.create(
        target=target, source=source, user=user, note=note, source_previous_status=source.status
    )
    ReviewDecision.objects.bulk_create([
        ReviewDecision(
            sighting=s, user=user, action=ReviewAction.MERGE, individual=target, previous_individual=source,
            previous_status=s.status, new_status=s.status, note=note, merge=merge,
        )
        for s in moving
    ])
    Sighting.objects.filter(pk__in=[s.pk for s in moving]).update(individual=target, updated_at=timezone.now())
    source.status = IndividualStatus.MERGED
    source.merged_into = target
    source.save(update_fields=["status", "merged_into"])
    individual_refresh_seen(source)
    individual_refresh_seen(target)
    _reindex_on_commit([s.pk for s in moving if s.status in REFERENCE_STATUSES])
    return merge


def _moves_back(merge: IndividualMerge, *, lock: bool = False) -> list[tuple[Sighting, ReviewDecision]]:
    """The sightings an undo would move back, each with its MERGE row: those still on the target
    whose latest decision is that row."""
    back = []
    sightings = Sighting.objects.select_for_update() if lock else Sighting.objects
    for row in merge.decisions.filter(action=ReviewAction.MERGE, undone_by__isnull=True).order_by("pk"):
        sighting = sightings.get(pk=row.sighting_id)
        latest = sighting.decisions.order_by("-pk").values_list("pk", flat=True).first()
        if sighting.individual_id == merge.target_id and latest == row.pk:
            back.append((sighting, row))
    return back


def individual_merge_can_undo(*, user: User | AnonymousUser, merge: IndividualMerge) -> bool:
    """Whether `user` may undo `merge` now (the module docstring's rule, over what would move back)."""
    if merge.undone_at is not None:
        return False
    return _may_move(user, _organizations_of([s.pk for s, _row in _moves_back(merge)]))


@transaction.atomic
def individual_merge_undo(*, merge: IndividualMerge, user: User) -> list[Sighting]:
    """Undo a merge: the source comes back, with the sightings it lost that nobody decided on
    since (a later decision on a sighting wins over the merge). Returns the sightings moved back."""
    merge = IndividualMerge.objects.select_for_update().select_related("source", "target").get(pk=merge.pk)
    if merge.undone_at is not None:
        raise ValidationError(_("This merge was already undone."))
    source = Individual.objects.select_for_update().get(pk=merge.source_id)
    target = Individual.objects.get(pk=merge.target_id)
    if target.status == IndividualStatus.MERGED:
        raise ValidationError(_("%(code)s was merged into another individual since; undo that merge first.") % {
            "code": target.code})
    back = _moves_back(merge, lock=True)
    if not _may_move(user, _organizations_of([s.pk for s, _row in back])):
        raise PermissionDenied(_(
            "Only a reviewer of every organisation with a sighting this merge moved (or a site admin) may undo it."
        ))
    ReviewDecision.objects.bulk_create([
        ReviewDecision(
            sighting=s, user=user, action=ReviewAction.UNDO, individual=source, previous_individual=target,
            previous_status=s.status, new_status=s.status, undoes=row, merge=merge,
        )
        for s, row in back
    ])
    Sighting.objects.filter(pk__in=[s.pk for s, _row in back]).update(individual=source, updated_at=timezone.now())
    source.status = merge.source_previous_status
    source.merged_into = None
    source.save(update_fields=["status", "merged_into"])
    merge.undone_at = timezone.now()
    merge.undone_by = user
    merge.save(update_fields=["undone_at", "undone_by"])
    individual_refresh_seen(source)
    individual_refresh_seen(target)
    _reindex_on_commit([s.pk for s, _row in back if s.status in REFERENCE_STATUSES])
    return [s for s, _row in back]
