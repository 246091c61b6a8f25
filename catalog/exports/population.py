"""Population summary of a study area and period for one user (the page and the API share it)."""

from dataclasses import asdict
from datetime import date

from django.contrib.auth.models import User
from django.utils.translation import gettext as _

from catalog.exports.secr import captures_for
from catalog.models import Location
from catalog.population import chao_mh_estimate, m0_estimate, summarise


def population_for(user: User, *, location: Location, start: date, end: date, occasion_days: int) -> dict:
    captures = captures_for(user, location=location, start=start, end=end, occasion_days=occasion_days)
    summary = summarise(captures.histories(), len(captures.occasions))
    return {
        "location": location.name,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "occasion_days": occasion_days,
        "occasions": summary.occasions,
        "individuals": summary.individuals,
        "captures": summary.captures,
        "detections": len(captures.records),
        "stations_with_detections": len({pk for _c, _o, pk in captures.records}),
        "frequencies": {str(k): v for k, v in summary.frequencies.items()},
        "left_out_without_station": captures.left_out,
        "estimates": [_translated(asdict(m0_estimate(summary))), _translated(asdict(chao_mh_estimate(summary)))],
        "scope_note": _("Counts only the identified sightings of your own organisations (all of them for site admins)."),
    }


def _translated(estimate: dict) -> dict:
    estimate["note"] = _(estimate["note"]) if estimate["note"] else ""
    estimate["assumptions"] = [_(text) for text in estimate["assumptions"]]
    return estimate
