"""My preferences in a real browser: choose German and Berlin with the keyboard-reachable form, see it take effect."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_user_switches_to_german_and_berlin_from_the_user_menu(world, open_browser):
    s = open_browser()
    s.sign_in("alice")
    # the name in the top bar leads to My preferences
    s.page.get_by_role("link", name="alice").click()
    expect(s.page).to_have_url(re.compile(r"/settings/profile/$"))
    expect(s.page.get_by_role("heading", name="My preferences", level=2)).to_be_visible()
    s.assert_accessible()
    # when she chooses German and Europe/Berlin by their labels and saves
    s.page.get_by_label("Language").select_option("de")
    s.page.get_by_label("Time zone").select_option("Europe/Berlin")
    s.page.get_by_role("button", name="Save").click()
    # then the page, its toast and its navigation speak German, and her choices are kept
    expect(s.page.get_by_role("heading", name="Meine Einstellungen", level=2)).to_be_visible()
    expect(s.page.get_by_role("status")).to_contain_text("Ihre Einstellungen sind gespeichert.")
    expect(s.page.get_by_label("Zeitzone")).to_have_value("Europe/Berlin")
    expect(s.page.get_by_role("link", name="Personen")).to_be_visible()
    assert s.page.locator("html").get_attribute("lang") == "de"
    s.assert_accessible()
    s.screenshot("preferences-de")
    world["a"].refresh_from_db()
    assert (world["a"].language, world["a"].time_zone) == ("de", "Europe/Berlin")
