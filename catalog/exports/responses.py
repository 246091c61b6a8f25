"""HTTP responses of the exports, shared by the pages and the API."""

import io
import json
import zipfile

from django.contrib.auth.models import User
from django.http import HttpResponse
from django.utils import timezone

from catalog.exports.camtrap_dp import camtrap_dp_zip
from catalog.exports.common import ExportScope
from catalog.exports.geojson import sightings_geojson
from catalog.exports.left_out import left_out_counts, left_out_for, left_out_header, left_out_sentence
from catalog.exports.secr import captures_for, secr_files
from catalog.exports.tables import individuals_csv, sightings_csv

FORMATS = ("sightings.csv", "individuals.csv", "sightings.geojson", "camtrap-dp.zip", "secr.zip")
PERIOD_FORMATS = ("secr.zip",)


def _attachment(body, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Exports carry what only this user may see: never cache them in shared caches.
    response["Cache-Control"] = "private, no-store"
    return response


def export_response(
    user: User, fmt: str, scope: ExportScope, *, occasion_days: int = 7, detector: str = "proximity", media: bool = True
) -> HttpResponse:
    left_out = left_out_for(fmt, left_out_counts(user, scope))
    response = _export_body(user, fmt, scope, occasion_days=occasion_days, detector=detector, media=media, left_out=left_out)
    # Every export says what it left out and why; the formats that can carry a note say it inside too.
    response["X-Export-Left-Out"] = left_out_header(left_out)
    return response


def _export_body(
    user: User, fmt: str, scope: ExportScope, *, occasion_days: int, detector: str, media: bool, left_out: dict
) -> HttpResponse:
    stamp = timezone.now().strftime("%Y%m%d")
    if fmt == "sightings.csv":
        return _attachment(sightings_csv(user, scope), "text/csv; charset=utf-8", f"sightings-{stamp}.csv")
    if fmt == "individuals.csv":
        return _attachment(individuals_csv(user, scope), "text/csv; charset=utf-8", f"individuals-{stamp}.csv")
    if fmt == "sightings.geojson":
        collection = sightings_geojson(user, scope)
        collection["left_out"] = left_out
        collection["note"] = left_out_sentence(left_out)
        return _attachment(json.dumps(collection), "application/geo+json", f"sightings-{stamp}.geojson")
    if fmt == "camtrap-dp.zip":
        return _attachment(camtrap_dp_zip(user=user, scope=scope, include_media=media, note=left_out_sentence(left_out)), "application/zip", f"camtrap-dp-{stamp}.zip")
    if fmt == "secr.zip":
        captures = captures_for(user, location=scope.location, start=scope.start, end=scope.end, occasion_days=occasion_days)
        files = secr_files(user, captures, detector=detector, left_out_note=left_out_sentence(left_out) if left_out.get("withdrawn") else "")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("capthist.txt", files.capthist)
            zf.writestr("traps.txt", files.traps)
        return _attachment(buf.getvalue(), "application/zip", f"secr-{stamp}.zip")
    raise ValueError(fmt)
