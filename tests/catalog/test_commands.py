import io

import cv2
import numpy as np
import pytest
from django.core.management import call_command

from catalog import demo
from catalog.models import Individual, Membership, Organization, Role, Sighting, SightingImage, SightingStatus


def test_render_photo_is_deterministic_and_sized():
    a = demo.render_photo(3, 7, "left_flank", (320, 180))
    b = demo.render_photo(3, 7, "left_flank", (320, 180))
    assert a.size == (320, 180) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(demo.render_photo(3, 8, "left_flank", (320, 180))))


def test_render_photo_refuses_an_unknown_body_part():
    with pytest.raises(ValueError):
        demo.render_photo(1, 0, "wing")


def _sift(image):
    grey = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY)
    return cv2.SIFT_create(nfeatures=1500).detectAndCompute(grey, None)


def _inliers(a, b) -> int:
    (ka, da), (kb, db) = a, b
    good = [m for m, n in cv2.BFMatcher().knnMatch(da, db, k=2) if m.distance < 0.8 * n.distance]
    if len(good) < 8:
        return 0
    pa = np.float32([ka[m.queryIdx].pt for m in good])
    pb = np.float32([kb[m.trainIdx].pt for m in good])
    _, mask = cv2.findHomography(pa, pb, cv2.USAC_MAGSAC, 8.0)
    return int(mask.sum()) if mask is not None else 0


def test_new_photos_of_a_demo_coat_match_its_own_photos_better_than_other_coats():
    size = (800, 450)
    query = {i: _sift(demo.render_photo(i, 20, "left_flank", size, info_bar=False)) for i in (1, 2, 3)}
    gallery = {i: _sift(demo.render_photo(i, 0, "left_flank", size, info_bar=False)) for i in (1, 2, 3)}
    for i in (1, 2, 3):
        same = _inliers(query[i], gallery[i])
        others = max(_inliers(query[i], gallery[j]) for j in (1, 2, 3) if j != i)
        assert same > 2 * others and same >= 30, (i, same, others)


@pytest.mark.django_db
def test_load_demo_is_idempotent_and_enqueues_reference_indexing(monkeypatch, django_capture_on_commit_callbacks, charlie):
    queued = []
    monkeypatch.setattr("catalog.management.commands.load_demo.async_task",
                        lambda path, *args, **kwargs: queued.append((path, args, kwargs)))
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--individuals", "2", "--size", "320x180", stdout=out)
    text = out.getvalue()
    assert "username demo-admin" in text and "username demo-partner" in text
    assert Individual.objects.filter(is_demo=True).count() == 2
    reference = Sighting.objects.filter(status=SightingStatus.IDENTIFIED)
    assert reference.count() == 6
    assert all(s.organization.is_demo and s.individual.is_demo for s in reference)
    assert Sighting.objects.filter(status=SightingStatus.SUBMITTED).count() == 3
    images = SightingImage.objects.count()
    assert images >= 2 * 5
    assert sorted(q[1][0] for q in queued) == sorted(reference.values_list("pk", flat=True))
    assert all(q[0] == "matching.tasks.index_sighting" and q[2] == {"cluster": "bulk"} for q in queued)
    partner = Membership.objects.get(user__username="demo-partner")
    assert partner.role == Role.REVIEWER and partner.organization.is_demo

    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--individuals", "2", "--size", "320x180", stdout=io.StringIO())
    assert SightingImage.objects.count() == images
    assert Sighting.objects.count() == 9
    assert Organization.objects.filter(is_demo=True).count() == 2
    assert queued == []
    # The outsider's organisation got nothing.
    assert not Sighting.objects.filter(organization=charlie.memberships.get().organization).exists()


@pytest.mark.django_db
def test_demo_partner_can_log_in_with_the_printed_password(client, monkeypatch):
    monkeypatch.setattr("catalog.management.commands.load_demo.async_task", lambda *a, **k: None)
    out = io.StringIO()
    call_command("load_demo", "--individuals", "1", "--size", "160x90", "--no-index", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if "username demo-partner" in line)
    password = line.split("password", 1)[1].strip()
    assert client.login(username="demo-partner", password=password)
