"""Login and token requests are limited per account and per address (issue 13)."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed logins in a row"


@pytest.fixture(autouse=True)
def fast_hashers(settings):
    """A cheap hasher (set before the users are made): these tests try hundreds of passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def log_in(client, username, password, address="10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_forty_wrong_passwords_in_a_row_lock_the_account_even_for_the_right_one(client, alice, settings):
    answers = [log_in(client, "alice", f"wrong-{i}", address=f"10.0.0.{i % 8}").status_code for i in range(40)]
    # The form answers 200 with its error until the limit, then the lockout page.
    assert answers[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert set(answers[settings.AXES_FAILURE_LIMIT:]) == {429}
    response = log_in(client, "alice", "pw-alice", address="10.9.9.9")
    assert response.status_code == 429 and not logged_in(client)
    assert LOCKED in response.content.decode() and "15 minutes" in response.content.decode()


def test_many_accounts_tried_from_one_address_lock_that_address_only(client, alice, bob, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, f"guess-{i}", "password", address="10.0.0.66")
    assert log_in(client, "alice", "pw-alice", address="10.0.0.66").status_code == 429
    assert not logged_in(client)
    assert log_in(client, "bob", "pw-bob", address="10.0.0.77").status_code == 302
    assert logged_in(client)


def test_a_successful_login_starts_the_count_again(client, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "alice", "wrong")
    assert log_in(client, "alice", "pw-alice").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "alice", "wrong")
    assert log_in(client, "alice", "pw-alice").status_code == 302


def token(username, password, address="10.0.0.1"):
    return APIClient().post("/api/token/", {"username": username, "password": password}, format="json",
                            REMOTE_ADDR=address)


@pytest.fixture
def roomy_token_rates(monkeypatch):
    """Token throttles out of the way, to reach the lockout (the rates are read once by DRF)."""
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "token", "1000/minute")
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "token_account", "1000/minute")


def test_the_token_endpoint_locks_the_account_out_too(alice, settings, roomy_token_rates):
    answers = [token("alice", "wrong", address=f"10.0.1.{i}").status_code for i in range(settings.AXES_FAILURE_LIMIT)]
    assert answers == [400] * (settings.AXES_FAILURE_LIMIT - 1) + [429]  # the failure that reaches the limit locks
    response = token("alice", "pw-alice", address="10.0.2.1")
    assert response.status_code == 429 and LOCKED in response.json()["detail"]
    assert not Token.objects.filter(user=alice).exists()


def test_a_lockout_on_the_token_endpoint_also_closes_the_login_form(client, alice, settings, roomy_token_rates):
    for i in range(settings.AXES_FAILURE_LIMIT):
        token("alice", "wrong", address=f"10.0.1.{i}")
    assert log_in(client, "alice", "pw-alice", address="10.0.3.1").status_code == 429


def test_token_requests_are_throttled_per_address(alice, bob, monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "token", "3/minute")
    answers = [token(name, "wrong", address="10.0.0.5").status_code for name in ("a", "b", "c", "bob")]
    assert answers == [400, 400, 400, 429]
    assert token("alice", "pw-alice", address="10.0.0.6").status_code == 200


def test_a_forged_forwarded_for_header_does_not_reset_the_address_count(alice, monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "token", "2/minute")
    client = APIClient()
    answers = [
        client.post("/api/token/", {"username": f"u{i}", "password": "x"}, format="json", REMOTE_ADDR="10.0.0.8",
                    HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code
        for i in range(3)
    ]
    assert answers == [400, 400, 429]


def test_token_requests_are_throttled_per_account_whatever_the_address(alice, monkeypatch):
    monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, "token_account", "3/minute")
    answers = [token(name, "wrong", address=f"10.0.4.{i}").status_code
               for i, name in enumerate(("alice", "Alice", "alice ", "alice"))]
    assert answers == [400, 400, 400, 429]
    assert token("bob-unknown", "x", address="10.0.4.9").status_code == 400  # another account still counts apart
