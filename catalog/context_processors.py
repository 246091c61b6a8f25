from django.conf import settings
from django.utils.functional import SimpleLazyObject


def _demo_data_present() -> bool:
    from catalog.models import Organization

    return Organization.objects.filter(is_demo=True).exists()


def site(request):
    # The banner also shows wherever the synthetic demo catalog was loaded without DEMO_MODE,
    # so demo coats are never mistaken for real snow leopards.
    return {"DEMO_MODE": settings.DEMO_MODE or SimpleLazyObject(_demo_data_present)}
