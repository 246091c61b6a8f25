"""Review decisions on a sighting: confirm a match, new individual, unidentifiable, undo.

Each decision is one transaction that locks the sighting and checks that it is still in the
state the reviewer saw, so two reviewers deciding at once cannot both win: the second gets a
ReviewConflict naming the first decision. Every decision is stored in ReviewDecision.
"""

import re

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Min
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from catalog.models import (
    REFERENCE_STATUSES,
    Individual,
    IndividualStatus,
    ReviewAction,
    ReviewDecision,
    Role,
    Sighting,
    SightingStatus,
)
from catalog.selectors import user_can
from notifications.services import notification_decision_made

# A sighting can be decided while it has no decision in force.
UNDECIDED_STATUSES = (SightingStatus.SUBMITTED, SightingStatus.IDENTIFYING, SightingStatus.AWAITING_REVIEW)
CODE_PREFIX = "SL-"
_CODE_RE = re.compile(r"^SL-(\d+)$")


class ReviewConflict(ValidationError):
    """The sighting changed since the reviewer loaded it (another reviewer decided first)."""


def _last_decision(sighting: Sighting) -> ReviewDecision | None:
    return sighting.decisions.select_related("user", "individual").order_by("-created_at", "-pk").first()


def review_state_token(sighting: Sighting) -> str:
    """What the reviewer saw: status plus the latest decision id. Forms send it back unchanged."""
    last = sighting.decisions.order_by("-pk").values_list("pk", flat=True).first()
    return f"{sighting.status}:{last or 0}"


def _lock_and_check(*, sighting: Sighting, reviewer: User, expected: str | None, allowed: tuple) -> Sighting:
    if not user_can(reviewer, sighting.organization_id, Role.REVIEWER):
        raise PermissionDenied(_("Only reviewers of the sighting's organisation may decide on it."))
    locked = Sighting.objects.select_for_update().get(pk=sighting.pk)
    if expected is not None and review_state_token(locked) != expected:
        last = _last_decision(locked)
        if last is not None:
            message = _("%(user)s already decided on this sighting (%(action)s, %(when)s). Reload to see it.") % {
                "user": last.user.get_username(),
                "action": last.get_action_display(),
                "when": last.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            }
        else:
            message = _("This sighting changed since you loaded it (now: %(status)s). Reload to see it.") % {
                "status": locked.get_status_display()
            }
        raise ReviewConflict(message, code="conflict")
    if locked.status not in allowed:
        raise ReviewConflict(
            _("This sighting is %(status)s; undo that decision first.") % {"status": locked.get_status_display()},
            code="conflict",
        )
    return locked


def individual_refresh_seen(individual: Individual) -> None:
    """Recompute first/last seen from the individual's reference sightings."""
    agg = Sighting.objects.filter(individual=individual, status__in=REFERENCE_STATUSES).aggregate(
        first=Min("observed_at"), last=Max("observed_at")
    )
    Individual.objects.filter(pk=individual.pk).update(first_seen=agg["first"], last_seen=agg["last"])


def individual_next_code() -> str:
    """The next free catalog code SL-NNNN (callers insert it in a savepoint and retry on a clash)."""
    highest = 0
    for code in Individual.objects.filter(code__startswith=CODE_PREFIX).values_list("code", flat=True):
        match = _CODE_RE.match(code)
        if match:
            highest = max(highest, int(match.group(1)))
    return f"{CODE_PREFIX}{highest + 1:04d}"


def individual_create_next(*, name: str = "", is_demo: bool = False) -> Individual:
    """Create an individual under the next catalog code; safe when two reviewers create at once."""
    for _attempt in range(20):
        try:
            # The unique constraint on code is the arbiter; a clash retries with the next code.
            with transaction.atomic():
                return Individual.objects.create(code=individual_next_code(), name=name.strip(), is_demo=is_demo)
        except IntegrityError:
            continue
    raise ValidationError(_("Could not allocate a catalog code; please try again."))


def _decide(
    *, sighting: Sighting, reviewer: User, action: str, status: str, individual: Individual | None,
    note: str, previous: Sighting,
) -> ReviewDecision:
    decision = ReviewDecision.objects.create(
        sighting=sighting,
        user=reviewer,
        action=action,
        individual=individual,
        previous_status=previous.status,
        previous_individual_id=previous.individual_id,
        new_status=status,
        note=note,
    )
    old_individual_id = previous.individual_id
    sighting.status = status
    sighting.individual = individual
    sighting.save(update_fields=["status", "individual", "updated_at"])
    for ind_id in {old_individual_id, individual.pk if individual else None} - {None}:
        individual_refresh_seen(Individual(pk=ind_id))
    if status in REFERENCE_STATUSES:
        pk = sighting.pk
        # Its images are references now; the index picks them up once the decision is committed.
        # Bulk queue: indexing must not delay identifications, and identify_run also adds any
        # reference that is not indexed yet, so a late index task loses nothing.
        transaction.on_commit(lambda: async_task("matching.tasks.index_sighting", pk, cluster=settings.QUEUE_BULK))
    notification_decision_made(decision=decision)
    return decision


@transaction.atomic
def review_confirm(
    *, sighting: Sighting, individual: Individual, reviewer: User, expected: str | None = None, note: str = ""
) -> ReviewDecision:
    """The sighting shows this individual: it joins the catalog as a reference."""
    locked = _lock_and_check(sighting=sighting, reviewer=reviewer, expected=expected, allowed=UNDECIDED_STATUSES)
    individual = Individual.objects.get(pk=individual.pk)
    if not individual.accepts_sightings:
        why = (_("%(code)s was merged into another individual.") if individual.status == IndividualStatus.MERGED
               else _("%(code)s was withdrawn from the catalog."))
        raise ValidationError(why % {"code": individual.code})
    previous = Sighting(status=locked.status, individual_id=locked.individual_id)
    return _decide(
        sighting=locked, reviewer=reviewer, action=ReviewAction.CONFIRM, status=SightingStatus.IDENTIFIED,
        individual=individual, note=note, previous=previous,
    )


@transaction.atomic
def review_new_individual(
    *, sighting: Sighting, reviewer: User, name: str = "", expected: str | None = None, note: str = ""
) -> ReviewDecision:
    """Nothing in the catalog matches: the sighting founds a new individual with the next code."""
    locked = _lock_and_check(sighting=sighting, reviewer=reviewer, expected=expected, allowed=UNDECIDED_STATUSES)
    previous = Sighting(status=locked.status, individual_id=locked.individual_id)
    # Synthetic only when founded by a synthetic demo photo (load_demo's "demo:" ids): a real cat
    # submitted in the demo organisation is real data.
    individual = individual_create_next(name=name, is_demo=locked.organization.is_demo and locked.external_id.startswith("demo:"))
    return _decide(
        sighting=locked, reviewer=reviewer, action=ReviewAction.NEW_INDIVIDUAL, status=SightingStatus.NEW_INDIVIDUAL,
        individual=individual, note=note, previous=previous,
    )


@transaction.atomic
def review_unidentifiable(
    *, sighting: Sighting, reviewer: User, expected: str | None = None, note: str = ""
) -> ReviewDecision:
    """The images can't identify any individual (blurred, wrong species, too little coat)."""
    locked = _lock_and_check(sighting=sighting, reviewer=reviewer, expected=expected, allowed=UNDECIDED_STATUSES)
    previous = Sighting(status=locked.status, individual_id=locked.individual_id)
    return _decide(
        sighting=locked, reviewer=reviewer, action=ReviewAction.UNIDENTIFIABLE, status=SightingStatus.UNIDENTIFIABLE,
        individual=None, note=note, previous=previous,
    )


@transaction.atomic
def review_undo(*, sighting: Sighting, reviewer: User, expected: str | None = None, note: str = "") -> ReviewDecision:
    """Undo the decision in force: the sighting returns to the state it had before it."""
    locked = _lock_and_check(
        sighting=sighting, reviewer=reviewer, expected=expected,
        allowed=(*REFERENCE_STATUSES, SightingStatus.UNIDENTIFIABLE),
    )
    target = (
        # A merge's rows are undone with the merge (catalog.merge), not one sighting at a time.
        locked.decisions.exclude(action__in=(ReviewAction.UNDO, ReviewAction.MERGE))
        .filter(undone_by__isnull=True).order_by("-pk").first()
    )
    if target is None or target.new_status != locked.status:
        raise ValidationError(_("There is no decision to undo on this sighting."))
    previous = Sighting(status=locked.status, individual_id=locked.individual_id)
    decision = ReviewDecision.objects.create(
        sighting=locked,
        user=reviewer,
        action=ReviewAction.UNDO,
        individual=target.previous_individual,
        previous_status=previous.status,
        previous_individual_id=previous.individual_id,
        new_status=target.previous_status,
        note=note,
        undoes=target,
    )
    locked.status = target.previous_status
    locked.individual_id = target.previous_individual_id
    locked.save(update_fields=["status", "individual", "updated_at"])
    for ind_id in {previous.individual_id, target.previous_individual_id} - {None}:
        individual_refresh_seen(Individual(pk=ind_id))
    if target.action == ReviewAction.NEW_INDIVIDUAL and not Sighting.objects.filter(individual_id=target.individual_id).exists():
        # The individual this decision founded has no sighting left: out of the catalog, kept for the audit log.
        Individual.objects.filter(pk=target.individual_id, status=IndividualStatus.ACTIVE).update(
            status=IndividualStatus.WITHDRAWN
        )
    notification_decision_made(decision=decision)
    return decision
