import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_partner_logs_in_and_sees_home(page, live_server, login, alice):
    login(page, "alice", "pw-alice")
    # The account area holds the notifications bell, then the user name and the log-out link.
    assert "alice" in page.locator("header .account").inner_text().splitlines()
