"""In Chromium: a reviewer merges two individuals through the confirmation page, the merged
one's page points to the kept one; the submitter's bell counts the decision; Confirm asks first."""

import pytest

from catalog.models import IndividualMerge, SightingStatus
from matching.models import MatchCandidate, MatchRun, RunState
from tests.browser.conftest import screenshot_dir
from tests.factories import IndividualFactory, SightingFactory, SightingImageFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reviewer_merges_b_into_a_and_b_points_to_a(page, live_server, login, alice, org_a):
    keep, twin = IndividualFactory(code="SL-0001", name="Leo"), IndividualFactory(code="SL-0002", name="Ghost")
    SightingImageFactory(sighting=SightingFactory(organization=org_a, individual=twin, status=SightingStatus.IDENTIFIED))
    login(page, "alice", "pw-alice")
    page.goto(f"{live_server.url}/individuals/{keep.pk}/")
    page.click("#merge-link")
    page.select_option("select[name=source]", str(twin.pk))
    page.click("#merge-form button[type=submit]")
    assert "1 sighting moves" in page.locator("#merge-summary").inner_text()
    assert not IndividualMerge.objects.exists()
    page.screenshot(path=f"{screenshot_dir()}/merge-confirm.png", full_page=True)
    page.click("#merge-confirm")
    page.wait_for_url("**/merges/*/")
    page.goto(f"{live_server.url}/individuals/{twin.pk}/")
    page.click("#merged-into")
    page.wait_for_url(f"**/individuals/{keep.pk}/")


def test_confirm_asks_first_and_the_submitter_bell_counts_the_decision(page, live_server, login, alice, bob, org_a, browser):
    cat = IndividualFactory(code="SL-0007", name="Ayla")
    reference = SightingFactory(organization=org_a, individual=cat, status=SightingStatus.IDENTIFIED)
    ref_image = SightingImageFactory(sighting=reference)
    sighting = SightingFactory(organization=org_a, status=SightingStatus.AWAITING_REVIEW, submitted_by=bob)
    query = SightingImageFactory(sighting=sighting)
    run = MatchRun.objects.create(sighting=sighting, extractor="sift", state=RunState.DONE, requested_by=bob, top_score=5)
    MatchCandidate.objects.create(run=run, individual=cat, rank=1, score=5, confidence="good", num_inliers=30,
                                  query_image=query, reference_image=ref_image)
    login(page, "alice", "pw-alice")
    page.goto(f"{live_server.url}/runs/{run.pk}/")
    page.click(".confirm-button")
    assert "SL-0007 Ayla" in page.locator("#review-confirm").inner_text()
    sighting.refresh_from_db()
    assert sighting.status == SightingStatus.AWAITING_REVIEW
    page.click("#confirm-decision")
    page.wait_for_url(f"**/runs/{run.pk}/")
    assert page.locator("#sighting-status").inner_text() == "Identified"

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    submitter = context.new_page()
    login(submitter, "bob", "pw-bob")
    assert submitter.locator("#unread-count").inner_text().startswith("1")
    submitter.click("#notification-bell")
    assert "alice confirmed the sighting" in submitter.locator("#notifications").inner_text()
    submitter.screenshot(path=f"{screenshot_dir()}/notifications.png", full_page=True)
    submitter.locator("#notifications button").first.click()
    submitter.wait_for_url(f"**/runs/{run.pk}/")
    assert submitter.locator("#unread-count").count() == 0
    context.close()
