"""The web application in a real browser: the scenarios of the issue, accessibility, keyboard and themes.

Each test signs in through the login form, acts as a user would (keyboard and clicks), checks what
the page shows and what the database holds, runs axe-core on the pages it sees and keeps screenshots
in test-artifacts/.
"""

import re

import pytest
from playwright.sync_api import expect

from kinfolk.access.actors import SYSTEM
from kinfolk.activities.models import Activity
from kinfolk.core.jobs import run_pending_jobs
from kinfolk.people import services as ps
from kinfolk.people.models import EmailAddress, PersonTag
from kinfolk.web.models import SavedView
from tests.conftest import make_person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people(world):
    """The world of tests/web/conftest.py plus Jürgen Müller, made after commit so search indexes him."""
    world["jurgen"] = make_person(
        given_name="Jürgen", family_name="Müller", emails=[{"email": "jm@example.de"}], country="DE"
    )
    return world


def test_sign_in_find_a_person_by_search_and_open_them(people, open_browser):
    s = open_browser()
    s.go("/")
    expect(s.page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    s.assert_accessible()
    s.screenshot("sign-in")
    s.sign_in("alice")
    expect(s.page.get_by_role("heading", name="Welcome, alice")).to_be_visible()
    s.assert_accessible()
    s.screenshot("home")
    # "/" focuses the search box; "muller" finds Müller; the arrow keys and Enter open the result
    s.page.keyboard.press("/")
    search = s.page.get_by_role("combobox", name="Search people, organisations and lists")
    expect(search).to_be_focused()
    search.press_sequentially("muller", delay=30)
    option = s.page.get_by_role("option", name=re.compile("Jürgen Müller"))
    expect(option).to_be_visible()
    expect(search).to_have_attribute("aria-expanded", "true")
    expect(option).to_have_attribute("aria-selected", "true")
    s.screenshot("search-results", full_page=False)
    s.assert_accessible()
    search.press("Enter")
    expect(s.page).to_have_url(re.compile(rf"/people/{people['jurgen'].pk}/$"))
    expect(s.page.get_by_role("heading", level=1)).to_contain_text("Jürgen Müller")
    # a typo still finds him
    s.page.keyboard.press("/")
    search.press_sequentially("mulller", delay=20)
    expect(s.page.get_by_role("option", name=re.compile("Jürgen Müller"))).to_be_visible()


def test_add_a_note_inline(people, open_browser):
    s = open_browser()
    s.sign_in("alice")
    s.go(f"/people/{people['ada'].pk}/")
    s.assert_accessible()
    s.screenshot("person")
    s.page.get_by_text("Add a note, log a call or create a task").click()
    s.page.get_by_label("Subject").fill("Met at the gala")
    s.page.get_by_label("Text").fill("Wants to fund <b>engines</b><script>alert(1)</script>")
    s.page.get_by_role("button", name="Add to timeline").click()
    timeline = s.page.locator("#person-timeline ol.timeline")
    expect(timeline).to_contain_text("Met at the gala")
    expect(timeline.locator("b")).to_have_text("engines")
    expect(timeline.locator("script")).to_have_count(0)
    expect(s.page.get_by_role("status")).to_contain_text("Added to the timeline.")
    assert Activity.objects.get().subject == "Met at the gala"
    s.assert_accessible()
    s.screenshot("note-added")


def test_edit_an_email_with_a_bad_value_and_see_the_message(people, open_browser):
    s = open_browser()
    s.sign_in("alice")
    s.go(f"/people/{people['ada'].pk}/")
    s.page.get_by_role("link", name="Edit ada@example.org").click()
    field = s.page.get_by_label("Email address", exact=True)
    expect(field).to_be_focused()
    field.fill("ada@@example")
    s.page.locator("#person-identities").get_by_role("button", name="Save").click()
    message = s.page.locator("#email-edit-error")
    expect(message).to_contain_text("'ada@@example'")
    expect(s.page.get_by_label("Email address", exact=True)).to_have_attribute("aria-invalid", "true")
    assert EmailAddress.objects.get(person=people["ada"]).email == "ada@example.org"
    s.assert_accessible()
    s.screenshot("email-error")
    s.page.get_by_label("Email address", exact=True).fill("countess@example.org")
    s.page.locator("#person-identities").get_by_role("button", name="Save").click()
    expect(s.page.locator("#person-identities")).to_contain_text("countess@example.org")
    assert EmailAddress.objects.get(person=people["ada"]).email == "countess@example.org"


def test_create_a_relationship_and_see_it_from_both_sides(people, open_browser):
    s = open_browser()
    s.sign_in("alice")
    s.go(f"/people/{people['ada'].pk}/")
    s.page.get_by_text("Add a relationship").click()
    s.page.get_by_label("Ada Lovelace is…").select_option(label="mentor of")
    s.page.get_by_label("…of (find by name, email or phone)").press_sequentially("babb", delay=30)
    expect(s.page.get_by_role("radio", name=re.compile("Charles Babbage"))).to_be_checked()
    s.page.get_by_role("button", name="Add relationship").click()
    panel = s.page.locator("#person-relationships")
    expect(panel).to_contain_text("mentor of Charles Babbage")
    s.assert_accessible()
    s.screenshot("relationship-added")
    # the graph is clickable: Charles's page shows the same tie from his side
    panel.get_by_role("link", name="Charles Babbage, mentor of").click()
    expect(s.page).to_have_url(re.compile(rf"/people/{people['charles'].pk}/$"))
    expect(s.page.locator("#person-relationships")).to_contain_text("mentee of Ada Lovelace")


def test_filter_the_people_list_and_save_a_view(people, open_browser):
    ps.check_tag(people["ada"], people["tag"], actor=SYSTEM)
    s = open_browser()
    s.sign_in("alice")
    s.go("/people/")
    s.assert_accessible()
    s.screenshot("people")
    s.page.get_by_text("Filter, sort and columns").click()
    s.page.get_by_label("Tag", exact=True).first.select_option(label="donor (Fundraising)")
    s.page.get_by_label("Phone", exact=True).check()
    s.page.get_by_role("button", name="Apply", exact=True).click()
    rows = s.page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Ada Lovelace")
    expect(s.page.get_by_role("columnheader", name="Phone")).to_be_visible()
    # a filtered list shows its filters
    expect(s.page.locator("details.filters")).to_have_attribute("open", "")
    s.page.get_by_label("Save these filters as").fill("Donors")
    s.page.get_by_label("For", exact=True).select_option(label="team Fundraising")
    s.page.get_by_role("button", name="Save view").click()
    expect(s.page.get_by_role("status")).to_contain_text("View “Donors” saved.")
    view = SavedView.objects.get(name="Donors")
    assert view.team == people["team_a"] and view.params["tag"] == people["tag"].pk
    s.go("/people/")
    expect(rows).to_have_count(3)
    s.page.get_by_role("navigation", name="Saved views").get_by_role(
        "link", name=re.compile("Donors")
    ).click()
    expect(rows).to_have_count(1)
    s.assert_accessible()


def test_bulk_tag_people_from_the_list(people, open_browser):
    s = open_browser()
    s.sign_in("alice")
    s.go("/people/")
    s.page.get_by_label("Choose Ada Lovelace").check()
    s.page.get_by_label("Choose Charles Babbage").check()
    expect(s.page.locator("[data-selected-count]")).to_have_text("2")
    s.page.get_by_label("Action", exact=True).select_option("tag")
    s.page.locator("#bulk-tag").select_option(label="donor (Fundraising)")
    s.page.get_by_role("button", name="Apply to chosen").click()
    expect(s.page.get_by_role("status")).to_contain_text("Tagged 2 people with “donor”.")
    assert sorted(PersonTag.objects.values_list("person__given_name", flat=True)) == ["Ada", "Charles"]
    s.screenshot("bulk-tagged")


def test_another_team_does_not_see_restricted_data(people, open_browser):
    bob = open_browser()
    bob.sign_in("bob")
    bob.page.keyboard.press("/")
    bob.page.get_by_role("combobox").press_sequentially("secret", delay=20)
    expect(bob.page.get_by_role("option", name=re.compile("Secret Donor"))).to_be_visible()
    alice = open_browser()
    alice.sign_in("alice")
    alice.page.keyboard.press("/")
    alice.page.get_by_role("combobox").press_sequentially("secret", delay=20)
    expect(alice.page.locator("#search-results")).to_contain_text("Nothing matches “secret”.")
    response = alice.go(f"/people/{people['secret'].pk}/")
    assert response.status == 404
    alice.go("/people/")
    expect(alice.page.locator("table")).not_to_contain_text("Secret Donor")


PAGES = [
    ("home", "/"),
    ("people", "/people/"),
    ("organisations", "/organisations/"),
    ("person", "/people/{ada}/"),
    ("person-edit", "/people/{ada}/?edit=facts"),
    ("organisation", "/organisations/{org}/"),
    ("new-person", "/people/new/"),
    ("new-organisation", "/organisations/new/"),
    ("search", "/search/?q=ada"),
    ("settings-teams", "/settings/teams/"),
    ("settings-team", "/settings/teams/{team}/"),
    ("settings-users", "/settings/users/"),
    ("settings-relationship-types", "/settings/relationship-types/"),
    ("settings-tags", "/settings/tags/"),
    ("setup", "/setup/"),
    ("import", "/imports/"),
]


def _fill(path, w):
    return path.format(ada=w["ada"].pk, org=w["org"].pk, team=w["team_a"].pk)


def test_every_page_is_accessible_in_both_themes_and_on_a_phone(people, open_browser):
    ps.check_create_relationship(people["ada"], people["charles"], people["rtype"], actor=SYSTEM)
    for theme in ("light", "dark"):
        s = open_browser(color_scheme=theme)
        s.sign_in("root")
        for name, path in PAGES:
            s.go(_fill(path, people))
            s.assert_accessible()
            s.screenshot(f"{theme}-{name}")
    phone = open_browser(viewport={"width": 375, "height": 740})
    phone.sign_in("alice")
    for name, path in PAGES[:6]:
        phone.go(_fill(path, people))
        phone.assert_accessible()
        phone.screenshot(f"phone-{name}")
        width = phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (name, width)  # nothing overflows sideways


def test_keyboard_reaches_everything_with_a_visible_focus(people, open_browser):
    s = open_browser()
    s.sign_in("alice")
    s.go(f"/people/{people['ada'].pk}/")
    s.page.keyboard.press("Tab")
    expect(s.page.get_by_role("link", name="Skip to content")).to_be_focused()
    seen = set()
    for _ in range(40):
        s.page.keyboard.press("Tab")
        info = s.page.evaluate(
            """() => { const el = document.activeElement; if (el === document.body) return null;
                       const style = getComputedStyle(el);
                       return {text: (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 40),
                               outline: style.outlineStyle, width: style.outlineWidth}; }"""
        )
        if info is None:  # past the last control: focus went back to the page
            break
        assert info["outline"] != "none" and info["width"] != "0px", info  # focus is visible
        seen.add(info["text"])
    assert {"People", "Organisations", "Settings", "Sign out", "Edit", "Follow"} <= seen


def test_sign_out(people, open_browser):
    s = open_browser()
    s.sign_in("alice")
    s.page.get_by_role("button", name="Sign out").click()
    expect(s.page).to_have_url(re.compile(r"/accounts/login/$"))
    s.go("/people/")
    expect(s.page).to_have_url(re.compile(r"/accounts/login/\?next=/people/$"))


def test_the_import_wizard_in_the_design_system(people, open_browser, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    csv_file = tmp_path / "supporters.csv"
    csv_file.write_text(
        "First name,Last name,Email\nMary,Somerville,mary@example.org\nBad,Row,not-an-email\n"
    )
    s = open_browser()
    s.sign_in("alice")
    s.go("/imports/")
    s.page.get_by_label("File", exact=True).set_input_files(str(csv_file))
    s.page.get_by_role("button", name="Next: columns").click()
    expect(s.page.get_by_role("heading", level=1)).to_contain_text("Columns of supporters.csv")
    s.assert_accessible()
    s.screenshot("import-mapping")
    s.page.get_by_role("button", name="Preview").click()
    expect(s.page.get_by_role("heading", level=1)).to_contain_text("Preview of supporters.csv")
    run_pending_jobs()  # the worker's part; the page refreshes itself until the job is done
    expect(s.page.get_by_role("button", name="Import now")).to_be_visible(timeout=20_000)
    s.assert_accessible()
    s.screenshot("import-preview")
    s.page.get_by_role("button", name="Import now").click()
    expect(s.page.get_by_role("heading", level=1)).to_contain_text("Import of supporters.csv")
    run_pending_jobs()
    expect(s.page.get_by_role("button", name="Undo this import")).to_be_visible(timeout=20_000)
    s.assert_accessible()
    s.screenshot("import-done")
    # the imported person is in search at once, and the home page lists the jobs
    s.go("/")
    expect(s.page.locator("#jobs-h + ul")).to_contain_text("Import of supporters.csv")
    s.page.keyboard.press("/")
    s.page.get_by_role("combobox").press_sequentially("somerv", delay=20)
    expect(s.page.get_by_role("option", name=re.compile("Mary Somerville"))).to_be_visible()


def test_the_theme_switch_offers_the_other_theme(people, open_browser):
    s = open_browser(color_scheme="dark")
    s.sign_in("alice")
    expect(s.page.get_by_role("button", name="Dark theme")).to_be_hidden()
    s.page.get_by_role("button", name="Light theme").click()
    expect(s.page.locator("html")).to_have_attribute("data-theme", "light")
    background = s.page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(247, 247, 245)"
    s.page.get_by_role("button", name="Dark theme").click()
    expect(s.page.locator("html")).to_have_attribute("data-theme", "dark")
    assert s.page.evaluate("getComputedStyle(document.documentElement).backgroundColor") == "rgb(20, 21, 23)"
