"""One rule for time: stored aware (UTC), shown and entered in the study area's zone.

A camera's clock, and a field team's notebook, run on the local time of the study area; a
night capture at 03:22 in Asia/Dushanbe is 22:22 UTC the day before. Every page, form, API
response, export and population occasion goes through these helpers, so they agree.
"""

from datetime import date, datetime, time, timedelta, timezone as dt_timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.templatetags.tz import do_timezone


@lru_cache(maxsize=256)
def zone(name: str | None) -> tzinfo:
    """The tzinfo of an IANA name; UTC when it is empty or unknown."""
    if not name:
        return dt_timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt_timezone.utc


def in_zone(value: datetime | None, name: str | None) -> datetime | None:
    """An aware date-time as wall-clock time in the zone `name` (still aware).

    Marked like the {% timezone %} filter's values, so that a template's |date keeps this zone
    instead of converting back to the site's.
    """
    if value is None:
        return None
    return do_timezone(value, zone(name))


def local_date(value: datetime, name: str | None) -> date:
    """The calendar date in the zone `name`: what occasions and day filters count by."""
    return value.astimezone(zone(name)).date()


def local_to_aware(value: datetime | None, name: str | None) -> datetime | None:
    """A naive wall-clock time read in the zone `name`; aware values are kept as they are."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=zone(name))


def day_bounds_utc(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC instants that surely contain local days start..end in any zone (UTC-12 to UTC+14)."""
    low = datetime.combine(start, time.min, tzinfo=dt_timezone.utc) - timedelta(hours=14) if start else None
    high = datetime.combine(end, time.max, tzinfo=dt_timezone.utc) + timedelta(hours=12) if end else None
    return low, high


@lru_cache(maxsize=1)
def zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones()) if "/" in name or name == "UTC"]


def sightings_on_local_days(queryset, *, start: date | None, end: date | None):
    """The sightings of `queryset` whose local date (their own zone) lies in start..end (inclusive).

    The database can't convert per row to each study area's zone, so the UTC range is widened
    to cover every zone and the edges are decided here, on the few rows near them.
    """
    if start is None and end is None:
        return queryset
    low, high = day_bounds_utc(start, end)
    if low is not None:
        queryset = queryset.filter(observed_at__gte=low)
    if high is not None:
        queryset = queryset.filter(observed_at__lte=high)
    # Rows a full day inside the range need no check; only those near its edges do.
    sure_low = low + timedelta(hours=28) if low is not None else None
    sure_high = high - timedelta(hours=26) if high is not None else None
    edge = queryset.model.objects.filter(pk__in=queryset.values("pk"))
    near = []
    if sure_low is not None:
        near.append(edge.filter(observed_at__lt=sure_low))
    if sure_high is not None:
        near.append(edge.filter(observed_at__gt=sure_high))
    outside = []
    for rows in near:
        for pk, observed_at, zone_name, station_zone in rows.values_list(
            "pk", "observed_at", "location__time_zone", "station__location__time_zone"
        ):
            day = local_date(observed_at, zone_name or station_zone)
            if (start is not None and day < start) or (end is not None and day > end):
                outside.append(pk)
    return queryset.exclude(pk__in=outside) if outside else queryset
