"""Withdrawing a sighting: its organisation takes it back (duplicate, empty, wrong upload).

The row, its photos and its history stay, for the audit log; it leaves every open count, queue,
map and export. A decided sighting is withdrawn only after its decision is undone, so that no
individual loses a reference without a review decision saying so.
"""

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from catalog.models import ReviewAction, ReviewDecision, Role, Sighting, SightingStatus
from catalog.selectors import user_can

WITHDRAWABLE_STATUSES = (SightingStatus.SUBMITTED, SightingStatus.AWAITING_REVIEW, SightingStatus.UNIDENTIFIABLE)
REASON_MAX_LENGTH = 1000


def sighting_can_withdraw(user: User, sighting: Sighting) -> bool:
    """Whether to offer the button: the same rule sighting_withdraw enforces."""
    return sighting.status in WITHDRAWABLE_STATUSES and user_can(user, sighting.organization_id, Role.CONTRIBUTOR)


@transaction.atomic
def sighting_withdraw(*, sighting: Sighting, user: User, reason: str) -> ReviewDecision:
    """Mark the sighting withdrawn, with the reason in an audit entry (a ReviewDecision)."""
    if not user_can(user, sighting.organization_id, Role.CONTRIBUTOR):
        raise PermissionDenied(_("Only contributors of the sighting's organisation may withdraw it."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the sighting is withdrawn.")})
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError({"reason": _("Keep the reason under %(n)d characters.") % {"n": REASON_MAX_LENGTH}})
    locked = Sighting.objects.select_for_update().get(pk=sighting.pk)
    if locked.status not in WITHDRAWABLE_STATUSES:
        if locked.status == SightingStatus.IDENTIFYING:
            message = _("An identification is running; withdraw the sighting once it has finished.")
        elif locked.status == SightingStatus.WITHDRAWN:
            message = _("This sighting is already withdrawn.")
        else:
            message = _("This sighting is %(status)s: undo the decision before withdrawing it.") % {
                "status": locked.get_status_display()
            }
        raise ValidationError(message)
    decision = ReviewDecision.objects.create(
        sighting=locked, user=user, action=ReviewAction.WITHDRAW, individual=None,
        previous_status=locked.status, previous_individual=None, new_status=SightingStatus.WITHDRAWN, note=reason,
    )
    locked.status = SightingStatus.WITHDRAWN
    locked.save(update_fields=["status", "updated_at"])
    return decision
