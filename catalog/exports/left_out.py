"""What each export leaves out, and why: counted once, said in the file, its headers and the page."""

from django.contrib.auth.models import User
from django.db.models import Q
from django.utils.translation import gettext as _

from catalog.exports.common import ExportScope, sightings_to_export
from catalog.local_time import sightings_on_local_days
from catalog.models import SightingStatus
from catalog.selectors import sightings_for

NO_POSITION = Q(latitude__isnull=True, station__isnull=True)


def left_out_counts(user: User, scope: ExportScope) -> dict[str, int]:
    """Sightings in the scope that exports leave out, by reason (withdrawn; no station nor point; no station)."""
    everything = sightings_for(user)
    if scope.location is not None:
        everything = everything.filter(location=scope.location)
    everything = sightings_on_local_days(everything, start=scope.start, end=scope.end)
    kept = sightings_to_export(user, scope)
    return {
        "withdrawn": everything.filter(status=SightingStatus.WITHDRAWN).count(),
        "without_position": kept.filter(NO_POSITION).count(),
        "without_station": kept.filter(station__isnull=True).count(),
    }


# Which reasons each format leaves rows out for (GeoJSON keeps sightings without a position,
# with a null geometry; capture histories need a station).
REASONS_BY_FORMAT = {
    "sightings.csv": ("withdrawn",),
    "individuals.csv": ("withdrawn",),
    "sightings.geojson": ("withdrawn",),
    "camtrap-dp.zip": ("withdrawn", "without_position"),
    "secr.zip": ("withdrawn", "without_station"),
}


def reason_texts() -> dict[str, str]:
    return {
        "withdrawn": _("withdrawn by their organisation"),
        "without_position": _("without a camera station or a point"),
        "without_station": _("without a camera station (capture histories need one)"),
    }


def left_out_for(fmt: str, counts: dict[str, int]) -> dict[str, int]:
    return {reason: counts[reason] for reason in REASONS_BY_FORMAT.get(fmt, ()) if counts.get(reason)}


def left_out_header(left_out: dict[str, int]) -> str:
    """`X-Export-Left-Out` header value, e.g. "withdrawn=1; without_position=3" ("none" when nothing)."""
    return "; ".join(f"{k}={v}" for k, v in left_out.items()) or "none"


def left_out_sentence(left_out: dict[str, int]) -> str:
    """English, for inside the files (read by scripts and in R, not translated)."""
    words = {
        "withdrawn": "withdrawn by their organisation",
        "without_position": "without a camera station or a point",
        "without_station": "without a camera station",
    }
    if not left_out:
        return "No sighting in the chosen area and period is left out."
    return "Left out: " + "; ".join(f"{n} sighting(s) {words[k]}" for k, n in left_out.items()) + "."
