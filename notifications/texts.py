"""The words of a notification, made when shown (in the reader's language) from its params."""

from django.conf import settings
from django.utils.translation import gettext as _

from notifications.models import Notification, NotificationKind


def notification_text(notification: Notification) -> str:
    p = notification.params
    if notification.kind == NotificationKind.IDENTIFICATION_READY:
        if not p.get("animal"):
            return _("Identification of the sighting %(sighting)s is ready: no catalog individual to compare with.") % p
        if p.get("likely_new"):
            return _("Identification of the sighting %(sighting)s is ready: likely a new individual (closest: %(animal)s).") % p
        return _("Identification of the sighting %(sighting)s is ready: best candidate %(animal)s.") % p
    action = p.get("action")
    if action == "confirm":
        return _("%(actor)s confirmed the sighting %(sighting)s as %(animal)s.") % p
    if action == "new_individual":
        return _("%(actor)s recorded the sighting %(sighting)s as a new individual, %(animal)s.") % p
    if action == "unidentifiable":
        return _("%(actor)s marked the sighting %(sighting)s unidentifiable.") % p
    if p.get("animal"):
        return _("%(actor)s undid the decision on the sighting %(sighting)s (it was %(animal)s).") % p
    return _("%(actor)s undid the decision on the sighting %(sighting)s.") % p


def notification_email_text(notification: Notification) -> tuple[str, str]:
    """(subject, body) of the e-mail, with an absolute link to the page and to the e-mail setting."""
    subject = notification.get_kind_display()
    if notification.params.get("animal"):
        subject = f"{subject}: {notification.params['animal']}"
    site = settings.SITE_URL.rstrip("/")
    body = "\n\n".join([
        notification_text(notification),
        f"{site}{notification.url}" if notification.url else "",
        _("You get these e-mails because of your role in %(org)s. To stop them, turn e-mail off at %(url)s") % {
            "org": notification.sighting.organization.name if notification.sighting else "",
            "url": f"{site}/notifications/",
        },
    ])
    return f"[{_('Snow leopard ID')}] {subject}", body
