from notifications.models import Notification
from notifications.services import notification_email_send


def notification_email(notification_id: int) -> None:
    """Queue entry point: send one notification's e-mail (a retry of a sent one sends nothing)."""
    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None:  # the user or the sighting was deleted meanwhile
        return
    notification_email_send(notification=notification)
