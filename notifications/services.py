"""Notifications: who is told what, once, in the app and by e-mail.

Called explicitly by the services that finish an identification run (matching.runs) and record a
review decision (catalog.review), inside their transaction: the row commits with the event, and
the e-mail goes out from the queue after the commit.
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from catalog.models import ReviewDecision, Role, ROLE_RANK, Sighting
from catalog.selectors import user_can
from notifications.models import Notification, NotificationKind, NotificationSettings

REVIEWER_ROLES = [role for role, rank in ROLE_RANK.items() if rank >= ROLE_RANK[Role.REVIEWER]]


def sighting_label(sighting: Sighting) -> str:
    """Where and when, in the study area's local time: "Sarychat / C07, 2024-01-10 18:00 (Asia/Bishkek)"."""
    location = sighting.station.location if sighting.station_id else sighting.location
    place = str(sighting.station) if sighting.station_id else (location.name if location else sighting.organization.name)
    try:
        zone = ZoneInfo(location.time_zone) if location else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    when = sighting.observed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    return f"{place}, {when} ({zone.key})"


def _store(*, recipient: User, kind: str, key: str, sighting: Sighting, params: dict, url: str) -> Notification | None:
    """The notification, or None when this recipient already has it (a rerun or a retried task)."""
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                recipient=recipient, kind=kind, key=key, sighting=sighting, params=params, url=url
            )
    except IntegrityError:
        return None
    if recipient.email and email_enabled(recipient):
        pk = notification.pk
        transaction.on_commit(lambda: async_task("notifications.tasks.notification_email", pk))
    return notification


def email_enabled(user: User) -> bool:
    settings_row = NotificationSettings.objects.filter(user=user).first()
    return settings_row is None or settings_row.email_enabled


def _members(sighting: Sighting, users) -> list[User]:
    # Only people who still belong to the sighting's organisation hear about it.
    return [u for u in users if u is not None and u.is_active and user_can(u, sighting.organization_id, Role.VIEWER)]


def notification_identification_ready(*, run) -> list[Notification]:
    """Tell the submitter (or, without one, whoever started it) that run (a finished
    matching.MatchRun) has candidates to look at."""
    sighting = Sighting.objects.select_related("organization", "station__location", "location", "submitted_by").get(
        pk=run.sighting_id)
    top = run.candidates.select_related("individual").order_by("rank").first()
    params = {"sighting": sighting_label(sighting), "animal": str(top.individual) if top else "",
              "likely_new": bool(run.likely_new)}
    url = reverse("run_detail", args=[run.pk])
    recipients = _members(sighting, [sighting.submitted_by or run.requested_by])
    made = [
        _store(recipient=user, kind=NotificationKind.IDENTIFICATION_READY, key=f"run:{run.pk}",
               sighting=sighting, params=params, url=url)
        for user in recipients
    ]
    return [n for n in made if n is not None]


def _reviewers_of(organization_id: int) -> QuerySet[User]:
    return User.objects.filter(
        memberships__organization_id=organization_id, memberships__role__in=REVIEWER_ROLES, is_active=True
    ).distinct()


def notification_decision_made(*, decision: ReviewDecision) -> list[Notification]:
    """Tell the submitter and the organisation's reviewers (not the one who decided) about a decision."""
    sighting = Sighting.objects.select_related("organization", "station__location", "location", "submitted_by").get(
        pk=decision.sighting_id)
    animal = decision.previous_individual if decision.action == "undo" else decision.individual
    params = {"sighting": sighting_label(sighting), "animal": str(animal) if animal else "",
              "actor": decision.user.get_username(), "action": decision.action}
    run = sighting.match_runs.order_by("-pk").first()
    url = reverse("run_detail", args=[run.pk]) if run else reverse("sighting_detail", args=[sighting.pk])
    recipients = {u.pk: u for u in _members(sighting, [sighting.submitted_by, *_reviewers_of(sighting.organization_id)])}
    recipients.pop(decision.user_id, None)
    made = [
        _store(recipient=user, kind=NotificationKind.DECISION_MADE, key=f"decision:{decision.pk}",
               sighting=sighting, params=params, url=url)
        for user in recipients.values()
    ]
    return [n for n in made if n is not None]


@transaction.atomic
def notification_email_send(*, notification: Notification) -> bool:
    """Send the e-mail of one notification unless it went already; True when it was sent now."""
    from django.core.mail import send_mail

    from notifications.texts import notification_email_text

    locked = Notification.objects.select_for_update().select_related("recipient").get(pk=notification.pk)
    if locked.emailed_at is not None or not locked.recipient.email or not email_enabled(locked.recipient):
        return False
    subject, body = notification_email_text(locked)
    send_mail(subject, body, None, [locked.recipient.email])
    locked.emailed_at = timezone.now()
    locked.save(update_fields=["emailed_at"])
    return True


def notification_mark_read(*, user: User, notification: Notification) -> None:
    Notification.objects.filter(pk=notification.pk, recipient=user, read_at__isnull=True).update(read_at=timezone.now())


def notifications_mark_all_read(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())


def notification_settings_update(*, user: User, email_enabled: bool) -> NotificationSettings:
    row, _created = NotificationSettings.objects.update_or_create(user=user, defaults={"email_enabled": email_enabled})
    return row


def notifications_for(user: User) -> QuerySet[Notification]:
    if not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(recipient=user)
