from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.models import Sighting


class NotificationKind(models.TextChoices):
    IDENTIFICATION_READY = "identification_ready", _("Identification ready")
    DECISION_MADE = "decision_made", _("Decision made")


class Notification(models.Model):
    """One message to one user, in the app and (unless they turned it off) by e-mail.

    `key` names what it is about ("run:12", "decision:5"); with the unique constraint it makes a
    repeated run finish or a retried task write and send nothing twice.
    """

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(_("kind"), max_length=30, choices=NotificationKind.choices)
    key = models.CharField(max_length=64)
    sighting = models.ForeignKey(Sighting, on_delete=models.CASCADE, related_name="+", null=True, blank=True)
    # Words, not ids: {"sighting": "...", "animal": "...", "actor": "...", "action": "...", ...}
    params = models.JSONField(default=dict, blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "kind", "key"], name="notification_once_per_recipient"),
        ]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")

    def __str__(self) -> str:
        return f"{self.recipient} {self.kind} {self.key}"


class NotificationSettings(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings")
    email_enabled = models.BooleanField(_("also send notifications by e-mail"), default=True)

    class Meta:
        verbose_name = _("notification settings")
        verbose_name_plural = _("notification settings")

    def __str__(self) -> str:
        return f"{self.user}: e-mail {'on' if self.email_enabled else 'off'}"
