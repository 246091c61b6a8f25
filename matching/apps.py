from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MatchingConfig(AppConfig):
    name = "matching"
    verbose_name = _("Identification")

    def ready(self) -> None:
        from django.conf import settings

        from .engine import weights

        # The pure weights module knows no settings; hand it the configured folder once.
        weights.configure(getattr(settings, "MATCHING_WEIGHTS_DIR", None))
