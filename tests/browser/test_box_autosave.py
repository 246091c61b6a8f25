"""The box editor saves each box as it is drawn, and warns before leaving while a save failed."""

import io

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image

from catalog.models import BoxSource
from tests.factories import SightingFactory, SightingImageFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def photo() -> ContentFile:
    out = io.BytesIO()
    Image.new("RGB", (640, 360), (90, 100, 80)).save(out, "JPEG")
    return ContentFile(out.getvalue(), name="frame.jpg")


def drag(page, svg, start: float, end: float) -> None:
    box = svg.bounding_box()
    page.mouse.move(box["x"] + box["width"] * start, box["y"] + box["height"] * start)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end, box["y"] + box["height"] * end, steps=5)
    page.mouse.up()


def test_a_drawn_box_is_saved_at_once_and_a_failed_save_warns_before_leaving(page, live_server, login, bob, org_a):
    sighting = SightingFactory(organization=org_a)
    # A box is already there, so the page asks no detector for suggestions.
    image = SightingImageFactory(sighting=sighting, file=photo(), box_x=10, box_y=10, box_w=100, box_h=80,
                                 box_source=BoxSource.DETECTOR)
    page.set_default_timeout(90_000)  # the live server shares two cores with the rest of the suite
    login(page, "bob", "pw-bob")
    page.goto(live_server.url + reverse("sighting_edit", args=[sighting.pk]))
    editor = page.locator(".image-editor").first
    drag(page, editor.locator("svg.box-layer"), 0.2, 0.8)
    page.wait_for_selector(".box-save[data-state=saved]")
    image.refresh_from_db()
    assert image.box_source == BoxSource.USER and image.box_w > 300  # stored without pressing Save

    # The server can't be reached: the editor says so, and leaving the page asks first.
    page.route("**/box/", lambda route: route.abort())
    drag(page, editor.locator("svg.box-layer"), 0.1, 0.5)
    page.wait_for_selector(".box-save[data-state=failed]")
    assert "Not saved" in editor.locator(".box-save").inner_text()
    dialogs = []

    def on_dialog(dialog):
        dialogs.append(dialog.type)
        dialog.dismiss()  # stay on the page

    page.on("dialog", on_dialog)
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"]
