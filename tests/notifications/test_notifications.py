"""Notifications: "identification ready" to the submitter, "decision made" to the submitter and the
organisation's reviewers; once each, in words, in the app and by e-mail unless turned off."""

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse

from catalog import review
from catalog.models import Membership, Role, SightingStatus
from matching import runs, tasks
from notifications import services
from notifications.models import Notification, NotificationKind
from notifications.texts import notification_text
from tests.factories import (
    CameraStationFactory,
    IndividualFactory,
    LocationFactory,
    SightingFactory,
    SightingImageFactory,
    UserFactory,
)
from tests.matching.journey_fakes import install_engine, ranking_engine

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(alice, bob, charlie, org_a):
    """bob submits; alice and erin review organisation A; charlie (B) must get nothing."""
    for user in (alice, bob, charlie):
        user.email = f"{user.username}@example.org"
        user.save()
    erin = UserFactory(username="erin", email="erin@example.org")
    Membership.objects.create(user=erin, organization=org_a, role=Role.ORG_ADMIN)
    return {"alice": alice, "bob": bob, "charlie": charlie, "erin": erin}


@pytest.fixture
def finished(people, org_a, org_b, monkeypatch, q_sync, django_capture_on_commit_callbacks):
    """A sighting of bob's at station C07 whose identification finished, best candidate SL-0007 Ayla."""
    ayla = IndividualFactory(code="SL-0007", name="Ayla")
    SightingImageFactory(sighting=SightingFactory(organization=org_b, individual=ayla, status=SightingStatus.IDENTIFIED))
    install_engine(monkeypatch, ranking_engine([ayla]))
    area = LocationFactory(name="Sarychat", time_zone="Asia/Bishkek")
    station = CameraStationFactory(location=area, organization=org_a, code="C07")
    sighting = SightingFactory(organization=org_a, submitted_by=people["bob"], location=area, station=station,
                               observed_at=dt.datetime(2024, 1, 9, 21, 22, tzinfo=dt.timezone.utc))
    SightingImageFactory(sighting=sighting)
    run = runs.match_run_start(sighting=sighting, requested_by=people["bob"])
    with django_capture_on_commit_callbacks(execute=True):
        tasks.identify(run.pk)
    run.refresh_from_db()
    return {"run": run, "sighting": sighting, "ayla": ayla}


def test_submitter_is_told_the_identification_is_ready_naming_the_animal_and_the_sighting(finished, people):
    note = Notification.objects.get()
    assert (note.recipient, note.kind) == (people["bob"], NotificationKind.IDENTIFICATION_READY)
    text = notification_text(note)
    # The sighting by place and local time (03:22 the next day in Bishkek), the animal by code and name.
    assert "Sarychat / C07, 2024-01-10 03:22 (Asia/Bishkek)" in text and "SL-0007 Ayla" in text
    assert note.url == reverse("run_detail", args=[finished["run"].pk])
    assert [m.to for m in mail.outbox] == [["bob@example.org"]]
    assert "SL-0007 Ayla" in mail.outbox[0].subject and "Sarychat / C07" in mail.outbox[0].body


def test_a_rerun_or_retried_task_notifies_and_mails_once(finished, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert services.notification_identification_ready(run=finished["run"]) == []
        tasks.identify(finished["run"].pk)
    assert Notification.objects.count() == 1 and len(mail.outbox) == 1
    # A redelivered e-mail task sends nothing either.
    from notifications.tasks import notification_email

    notification_email(Notification.objects.get().pk)
    assert len(mail.outbox) == 1


def test_decision_tells_the_submitter_and_the_other_reviewers_but_not_the_reviewer_nor_charlie(
    finished, people, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        review.review_confirm(sighting=finished["sighting"], individual=finished["ayla"], reviewer=people["alice"])
    told = Notification.objects.filter(kind=NotificationKind.DECISION_MADE)
    assert sorted(n.recipient.username for n in told) == ["bob", "erin"]
    assert "alice confirmed the sighting Sarychat / C07, 2024-01-10 03:22 (Asia/Bishkek) as SL-0007 Ayla." == notification_text(told[0])
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@example.org", "erin@example.org"]
    assert not Notification.objects.filter(recipient=people["charlie"]).exists()


def test_undo_is_a_decision_too_and_says_what_it_was(finished, people):
    review.review_confirm(sighting=finished["sighting"], individual=finished["ayla"], reviewer=people["alice"])
    review.review_undo(sighting=finished["sighting"], reviewer=people["erin"])
    undo = Notification.objects.filter(kind=NotificationKind.DECISION_MADE, params__action="undo")
    assert sorted(n.recipient.username for n in undo) == ["alice", "bob"]
    assert "erin undid the decision" in notification_text(undo[0]) and "SL-0007 Ayla" in notification_text(undo[0])


def test_turning_email_off_keeps_the_in_app_notification(finished, people, client, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    client.force_login(people["bob"])
    client.post(reverse("notification_settings"), {})
    assert services.email_enabled(people["bob"]) is False
    with django_capture_on_commit_callbacks(execute=True):
        review.review_new_individual(sighting=finished["sighting"], reviewer=people["alice"])
    assert Notification.objects.filter(recipient=people["bob"], kind=NotificationKind.DECISION_MADE).exists()
    assert [m.to for m in mail.outbox] == [["erin@example.org"]]
    assert 'id="email-enabled"' in client.get(reverse("notification_list")).content.decode()
    client.post(reverse("notification_settings"), {"email_enabled": "on"})
    assert services.email_enabled(people["bob"]) is True


def test_bell_counts_unread_and_opening_marks_read(finished, people, client):
    client.force_login(people["bob"])
    home = client.get(reverse("home")).content.decode()
    assert 'id="notification-bell"' in home and 'id="unread-count">1<' in home
    page = client.get(reverse("notification_list")).content.decode()
    assert "SL-0007 Ayla" in page
    note = Notification.objects.get()
    response = client.post(reverse("notification_open", args=[note.pk]))
    assert response.url == reverse("run_detail", args=[finished["run"].pk])
    note.refresh_from_db()
    assert note.read_at is not None
    assert 'id="unread-count"' not in client.get(reverse("home")).content.decode()


def test_mark_all_read(finished, people, client):
    review.review_unidentifiable(sighting=finished["sighting"], reviewer=people["alice"])
    client.force_login(people["bob"])
    client.post(reverse("notification_read_all"))
    assert not Notification.objects.filter(recipient=people["bob"], read_at__isnull=True).exists()


def test_charlie_sees_no_one_elses_notification_and_cannot_open_it(finished, people, client):
    client.force_login(people["charlie"])
    page = client.get(reverse("notification_list")).content.decode()
    assert "SL-0007" not in page and 'id="unread-count"' not in page
    note = Notification.objects.get()
    assert client.post(reverse("notification_open", args=[note.pk])).status_code == 404
    note.refresh_from_db()
    assert note.read_at is None


def test_a_submitter_who_left_the_organisation_is_not_told(finished, people, org_a):
    Membership.objects.filter(user=people["bob"], organization=org_a).delete()
    review.review_unidentifiable(sighting=finished["sighting"], reviewer=people["alice"])
    told = Notification.objects.filter(kind=NotificationKind.DECISION_MADE)
    assert [n.recipient.username for n in told] == ["erin"]
