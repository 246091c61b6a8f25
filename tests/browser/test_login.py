import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_partner_logs_in_and_sees_home(page, live_server, login, alice):
    login(page, "alice", "pw-alice")
    assert page.locator("header .account").inner_text().startswith("alice")
