import datetime as dt

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Membership, ReviewAction, ReviewDecision, Role, SightingStatus
from tests.factories import (
    CameraStationFactory,
    IndividualFactory,
    LocationFactory,
    SightingFactory,
    SightingImageFactory,
)


@pytest.fixture
def dora(org_c):
    """Viewer of organisation C: may read C's sightings, may write nothing."""
    user = User.objects.create_user(username="dora", password="pw-dora")
    Membership.objects.create(user=user, organization=org_c, role=Role.VIEWER)
    return user


@pytest.fixture
def api():
    def client_for(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for


@pytest.fixture
def world(org_a, org_b, org_c):
    """One study area, one station, sighting, image, run and decision per organisation.

    A's sighting is identified (so its image is a shared catalog reference); B's and C's are not.
    """
    MatchRun = apps.get_model("matching", "MatchRun")
    MatchCandidate = apps.get_model("matching", "MatchCandidate")
    location = LocationFactory(name="Sarychat")
    leo = IndividualFactory(code="SL-0001", name="Leo")
    out = {"location": location, "individual": leo}
    when = timezone.make_aware(dt.datetime(2024, 3, 1, 6, 0))
    for key, org, lat, lon in (("a", org_a, 41.9137, 78.3456), ("b", org_b, 42.1234, 77.1234), ("c", org_c, 42.5678, 76.5678)):
        station = CameraStationFactory(location=location, organization=org, code=f"{key.upper()}01", latitude=lat, longitude=lon)
        status = SightingStatus.IDENTIFIED if key == "a" else SightingStatus.AWAITING_REVIEW
        sighting = SightingFactory(
            organization=org, location=location, station=station, observed_at=when, status=status,
            individual=leo if key == "a" else None, latitude=lat + 0.0011, longitude=lon + 0.0011,
        )
        image = SightingImageFactory(sighting=sighting, exif_latitude=lat + 0.0012, exif_longitude=lon + 0.0012)
        run = MatchRun.objects.create(sighting=sighting, extractor="sift", state="done", progress_done=1, progress_total=1)
        MatchCandidate.objects.create(run=run, individual=leo, rank=1, score=0.9, confidence="good", num_inliers=40)
        out[key] = {"station": station, "sighting": sighting, "image": image, "run": run}
    return out


@pytest.fixture
def decisions(world, alice):
    s = world["a"]["sighting"]
    return ReviewDecision.objects.create(
        sighting=s, user=alice, action=ReviewAction.CONFIRM, individual=world["individual"],
        previous_status=SightingStatus.AWAITING_REVIEW, new_status=SightingStatus.IDENTIFIED,
    )


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Password hashing dominates these tests' set-up (four users each); strength is not under test here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
