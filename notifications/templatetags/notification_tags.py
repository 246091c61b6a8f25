from django import template

from notifications.models import Notification

register = template.Library()


@register.inclusion_tag("notifications/_bell.html", takes_context=True)
def notification_bell(context):
    """The navigation's bell: a link to the notifications page with the unread count."""
    user = context.get("user")
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True).count() if user and user.is_authenticated else 0
    return {"unread": unread}
