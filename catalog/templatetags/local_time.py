"""Template filters of the time rule (catalog.local_time): {{ value|in_zone:sighting|date:"Y-m-d H:i" }}."""

from django import template
from django.templatetags.tz import do_timezone

from catalog.local_time import zone

register = template.Library()


def _zone_name(where) -> str:
    if where is None or where == "":
        return "UTC"
    if isinstance(where, str):
        return where
    return getattr(where, "time_zone", "") or "UTC"


@register.filter
def in_zone(value, where):
    """The date-time in the zone of `where` (a sighting, study area, or IANA name), for |date."""
    if not value:
        return value
    # do_timezone marks the value so that |date no longer converts it to the site's zone.
    return do_timezone(value, zone(_zone_name(where)))


@register.filter
def zone_name(where) -> str:
    return _zone_name(where)

