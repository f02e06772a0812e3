"""The login page in a real browser: the lockout message after repeated failures."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory

pytestmark = [pytest.mark.browser]


def _try(ui, username: str, password: str) -> None:
    ui.page.get_by_label("Username").fill(username)
    ui.page.get_by_label("Password").fill(password)
    ui.page.get_by_role("button", name="Log in").click()
    ui.page.wait_for_load_state()


def test_it_shows_the_lockout_message_on_the_login_page(ui, password):
    user = UserFactory(username="nadia")
    ui.goto("/accounts/login/")
    for _ in range(9):
        _try(ui, user.username, "wrong-password")
        expect(ui.page.get_by_role("alert")).to_contain_text(
            "Please enter a correct username and password"
        )
    _try(ui, user.username, "wrong-password")
    # The right password is refused too, with the same message on the same page.
    _try(ui, user.username, password)
    alert = ui.page.get_by_role("alert")
    expect(alert).to_contain_text("Too many failed logins")
    expect(alert).to_contain_text("locked for 15 minutes")
    expect(ui.page.get_by_role("button", name="Log in")).to_be_visible()
    expect(ui.page.get_by_label("Username")).to_have_value(user.username)
    ui.shot("lockout")
    assert "/accounts/login/" in ui.page.url
    # Chromium logs the 429 answers as resource errors: those are the point here.
    ui.console_errors[:] = [e for e in ui.console_errors if "429" not in e]
