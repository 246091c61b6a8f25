"""Query and reference image side by side, with the verified keypoint matches drawn as lines.

render_pair is pure (PIL in, PNG bytes out); candidate_overlay caches its output in storage,
keyed by the candidate, so a results page is drawn once however often it is opened.
overlay_candidates_for is the rule for serving one: an overlay shows two photos, so it is served
only to a user who may see both, by the very rule of the photo URLs (images_for).
"""

from __future__ import annotations

import colorsys
import io

from django.core.files.base import ContentFile
from django.contrib.auth.models import AnonymousUser, User
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from PIL import Image, ImageDraw

from catalog.selectors import images_for, sightings_for
from matching.models import MatchCandidate

PANEL_HEIGHT = 360  # px; both images are scaled to this height
GAP = 8  # px between the two panels
MAX_LINES = 150  # more lines than this hide the images; the strongest come first in `matches`
OVERLAY_VERSION = "1"  # bump when the drawing changes, so cached PNGs are redrawn


def _scaled(image: Image.Image, height: int) -> tuple[Image.Image, float]:
    image = image.convert("RGB")
    scale = height / image.height
    return image.resize((max(1, round(image.width * scale)), height), Image.Resampling.BILINEAR), scale


def render_pair(
    query: Image.Image,
    reference: Image.Image,
    matches: list[list[float]],
    *,
    lines: bool = True,
    query_box: tuple[int, int, int, int] | None = None,
    reference_box: tuple[int, int, int, int] | None = None,
    height: int = PANEL_HEIGHT,
) -> bytes:
    """PNG of query | reference; matches are [[xq, yq, xr, yr], ...] in original-image pixels."""
    left, sl = _scaled(query, height)
    right, sr = _scaled(reference, height)
    canvas = Image.new("RGB", (left.width + GAP + right.width, height), (255, 255, 255))
    canvas.paste(left, (0, 0))
    offset = left.width + GAP
    canvas.paste(right, (offset, 0))
    draw = ImageDraw.Draw(canvas)
    for box, scale, dx in ((query_box, sl, 0), (reference_box, sr, offset)):
        if box:
            x, y, w, h = box
            draw.rectangle([dx + x * scale, y * scale, dx + (x + w) * scale, (y + h) * scale], outline=(255, 210, 0), width=2)
    if lines:
        shown = matches[:MAX_LINES]
        for i, (xq, yq, xr, yr) in enumerate(shown):
            # Distinct hues make crossing lines traceable by eye.
            r, g, b = colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.85, 1.0)
            colour = (int(r * 255), int(g * 255), int(b * 255))
            p, q = (xq * sl, yq * sl), (offset + xr * sr, yr * sr)
            draw.line([p, q], fill=colour, width=1)
            for cx, cy in (p, q):
                draw.ellipse([cx - 2.5, cy - 2.5, cx + 2.5, cy + 2.5], outline=colour, width=2)
    out = io.BytesIO()
    canvas.save(out, "PNG", optimize=False)
    return out.getvalue()


def overlay_candidates_for(user: User | AnonymousUser) -> QuerySet[MatchCandidate]:
    """Candidates of the user's runs whose query and reference photos the user may both still see.

    The cached PNG outlives the photos' visibility: a reference photo that its organisation
    withdrew from the catalog (its sighting no longer identified) must stop being served here too.
    """
    visible = images_for(user).values("pk")
    return MatchCandidate.objects.select_related("query_image", "reference_image").filter(
        run__sighting__in=sightings_for(user).values("pk"),
        query_image__in=visible,
        reference_image__in=visible,
    )


def _open(image) -> Image.Image:
    with image.file.open("rb") as handle:
        picture = Image.open(handle)
        picture.load()
    return picture


def candidate_overlay(candidate: MatchCandidate, *, lines: bool = True) -> bytes:
    """The candidate's overlay PNG, from the storage cache or drawn and stored."""
    name = f"overlays/{candidate.run_id}/{candidate.pk}-{'lines' if lines else 'clean'}-v{OVERLAY_VERSION}.png"
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    if candidate.query_image is None or candidate.reference_image is None:
        raise FileNotFoundError("candidate has no image pair")
    png = render_pair(
        _open(candidate.query_image),
        _open(candidate.reference_image),
        candidate.matches or [],
        lines=lines,
        query_box=candidate.query_image.box,
        reference_box=candidate.reference_image.box,
    )
    # Two requests may race to draw the same overlay; the loser's copy is simply not kept.
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(png))
    return png
