"""The partner's journey (issue 4): upload → boxes → identify → results → review → individual page."""

import io
import os
import pydoc
from datetime import datetime

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django_q.brokers import get_broker
from django_q.signing import SignedPackage
from PIL import Image

from catalog.demo import render_photo
from catalog.models import BodyPart, Sighting, SightingStatus
from tests.browser.conftest import screenshot_dir
from tests.factories import CameraStationFactory, IndividualFactory, LocationFactory, SightingFactory, SightingImageFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHOTO_SIZE = (640, 360)  # small: SIFT on two cores stays within a few seconds


def jpeg(image: Image.Image, *, taken: str | None = None) -> bytes:
    exif = Image.Exif()
    if taken:
        exif.get_ifd(0x8769)[36867] = taken
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


@pytest.fixture
def engine(settings, monkeypatch):
    """The real engine on SIFT (fast on small images); a stand-in only where H2b's is absent."""
    settings.MATCHING_DEFAULT_EXTRACTOR = "sift"
    try:
        from matching.services import identify_run  # noqa: F401
    except ImportError:
        if not os.environ.get("SLREID_JOURNEY_FAKE_ENGINE"):
            pytest.skip("matching.services.identify_run is not there yet (set SLREID_JOURNEY_FAKE_ENGINE=1 to try the UI)")
        return "fake"
    return "real"


def seed_catalog(org_b):
    """Three demo individuals, each with two reference photos, owned by another organisation."""
    area = LocationFactory(name="Sarychat-Ertash", latitude=41.9, longitude=78.5, time_zone="Asia/Bishkek")
    CameraStationFactory(location=area, code="SE01", latitude=41.82, longitude=78.35)
    cats = []
    for number in (1, 2, 3):
        cat = IndividualFactory(code=f"SL-{number:04d}", name=["Ayla", "Bars", "Chubak"][number - 1])
        for variant in (0, 2):
            sighting = SightingFactory(organization=org_b, individual=cat, status=SightingStatus.IDENTIFIED,
                                       location=area)
            data = jpeg(render_photo(number, variant, "left_flank", PHOTO_SIZE))
            SightingImageFactory(sighting=sighting, body_part=BodyPart.LEFT_FLANK,
                                 file=ContentFile(data, name="ref.jpg"))
        cats.append(cat)
    return cats


def run_queued_tasks(queue: str) -> int:
    """What a worker of `queue` would do: take each task, run it, acknowledge it."""
    broker = get_broker(queue)
    done = 0
    while broker.queue_size():
        for ack_id, payload in broker.dequeue() or []:
            task = SignedPackage.loads(payload)
            pydoc.locate(task["func"])(*task["args"], **task["kwargs"])
            broker.acknowledge(ack_id)
            done += 1
    return done


def test_partner_submits_a_burst_and_a_reviewer_confirms_the_match(
    browser, page, live_server, login, bob, alice, org_a, org_b, engine, tmp_path, monkeypatch
):
    cats = seed_catalog(org_b)
    if engine == "fake":
        from tests.matching.journey_fakes import install_engine, ranking_engine

        install_engine(monkeypatch, ranking_engine(cats))
    shots = screenshot_dir()
    # Two frames of one trigger of cat 1 (new variants, never in the catalog), and one bad file.
    files = []
    for i, variant in enumerate((5, 6)):
        path = tmp_path / f"IMG_{i:04d}.JPG"
        path.write_bytes(jpeg(render_photo(1, variant, "left_flank", PHOTO_SIZE), taken=f"2024:02:11 06:40:0{2 * i}"))
        files.append(str(path))
    bad = tmp_path / "notes.txt"
    bad.write_text("not a photo")
    files.append(str(bad))

    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.add_init_script("window.addEventListener('error', () => { window.__jsFailed = true; })")
    login(page, "bob", "pw-bob")
    page.click("nav >> text=Submit")
    page.set_input_files("#files", files)
    page.select_option("select[name=body_part]", "left_flank")
    page.screenshot(path=os.path.join(shots, "journey-1-submit.png"), full_page=True)
    page.click("#upload-button")

    report = page.locator("#upload-report")
    assert "notes.txt" in report.locator(".file-refused").inner_text()
    assert report.locator(".file-ok").count() == 2
    sighting = Sighting.objects.get(organization=org_a)
    assert sighting.images.count() == 2 and sighting.observed_at.strftime("%H:%M") == "06:40"
    page.click("#upload-report a")

    # Photos page: suggestions arrive (or are reported missing); draw the box on the first photo.
    page.wait_for_function("() => document.body.dataset.suggestions !== undefined || window.__jsFailed", timeout=60_000)
    assert not errors
    first = page.locator(".image-editor").first
    svg = first.locator("svg.box-layer")
    bbox = svg.bounding_box()
    page.mouse.move(bbox["x"] + bbox["width"] * 0.1, bbox["y"] + bbox["height"] * 0.1)
    page.mouse.down()
    page.mouse.move(bbox["x"] + bbox["width"] * 0.9, bbox["y"] + bbox["height"] * 0.9, steps=5)
    page.mouse.up()
    assert first.get_attribute("data-box-source") == "user"
    # Place: a point picked on the map (works without tiles).
    page.locator("#place-map").click(position={"x": 200, "y": 120})
    assert page.input_value("#id_latitude") != ""
    page.screenshot(path=os.path.join(shots, "journey-2-photos-and-boxes.png"), full_page=True)
    page.click("#identify-button")

    page.click("#start-button")
    page.wait_for_selector("#run-progress[data-state=queued]")
    page.screenshot(path=os.path.join(shots, "journey-3-progress.png"), full_page=True)
    # The interactive worker picks the task up; the open page notices without a reload.
    assert run_queued_tasks(django_settings.QUEUE_INTERACTIVE) == 1
    page.wait_for_selector("#results", timeout=60_000)

    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.AWAITING_REVIEW
    assert sighting.images.filter(box_source="user").count() == 1 and sighting.latitude is not None
    candidates = page.locator("li.candidate")
    assert candidates.count() >= 1
    top = candidates.first
    assert top.locator(".ind-code").inner_text() == "SL-0001"
    assert top.locator(".badge.level").inner_text() in ("Excellent", "Good", "Fair", "Uncertain")
    overlay = top.locator("img.overlay")
    overlay.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=overlay.element_handle())
    page.screenshot(path=os.path.join(shots, "journey-4-results.png"), full_page=True)
    page.click("#toggle-lines")
    assert "lines=0" in overlay.get_attribute("src")
    top.locator("details.others summary").click()
    assert top.locator("details.others img").count() >= 1  # the cat's other reference photo

    # A reviewer of the organisation confirms the top candidate.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    reviewer = context.new_page()
    login(reviewer, "alice", "pw-alice")
    reviewer.click("nav >> text=Review queue")
    row = reviewer.locator(f"tr[data-sighting='{sighting.pk}']")
    assert row.locator(".badge").count() == 1
    # The row's thumbnail (cut to the box) loads: a real image, not a broken one.
    reviewer.wait_for_function(
        "() => { const i = document.querySelector('.queue-thumb'); return i && i.complete && i.naturalWidth > 0; }")
    reviewer.screenshot(path=os.path.join(shots, "journey-5-review-queue.png"), full_page=True)
    row.locator("a.button").click()
    reviewer.locator("li.candidate").first.locator(".confirm-button").click()
    # Decisions that change the catalog ask first (issue 14).
    assert cats[0].code in reviewer.locator("#review-confirm").inner_text()
    reviewer.click("#confirm-decision")
    assert reviewer.locator("#sighting-status").inner_text() == "Identified"
    sighting.refresh_from_db()
    assert sighting.individual == cats[0] and sighting.decisions.get().user == alice

    # The individual's page now shows the new sighting.
    reviewer.click("#sighting-individual")
    reviewer.wait_for_url(f"**/individuals/{cats[0].pk}/")
    assert "2024-02-11" in reviewer.content()
    reviewer.screenshot(path=os.path.join(shots, "journey-6-individual.png"), full_page=True)
    context.close()


def test_outsider_charlie_cannot_open_the_partner_pages(page, live_server, login, charlie, org_a):
    sighting = SightingFactory(organization=org_a)
    SightingImageFactory(sighting=sighting)
    login(page, "charlie", "pw-charlie")
    response = page.goto(f"{live_server.url}/sightings/{sighting.pk}/edit/")
    assert response.status == 404
    page.goto(f"{live_server.url}/review/")
    assert page.locator(f"tr[data-sighting='{sighting.pk}']").count() == 0
