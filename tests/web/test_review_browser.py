"""The duplicate review queue in a real browser, worked through with the keyboard alone."""

import re

import pytest
from playwright.sync_api import expect

from kinfolk.identity.models import DuplicateCandidate, MergeRecord
from kinfolk.identity.services import run_duplicate_detection
from kinfolk.people.models import Person
from tests.web.conftest import add_lookalikes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def twins(world):
    """Two pairs to review: Ada Lovelace twice (same email), Charles Babbage twice (same phone)."""
    add_lookalikes(world)
    run_duplicate_detection(rebuild=True)
    return world


def test_work_through_the_queue_with_the_keyboard(twins, open_browser):
    ada, ada2, charles, charles2 = (twins[k] for k in ("ada", "ada2", "charles", "charles2"))
    s = open_browser()
    s.sign_in("alice")
    # Given the queue, reached from the main navigation
    s.page.get_by_role("navigation", name="Main").get_by_role("link", name="Duplicates").click()
    expect(s.page.get_by_role("heading", level=1)).to_have_text("Possible duplicates")
    expect(s.page.get_by_role("link", name="Ada Lovelace and Ada Lovelace")).to_be_visible()
    s.assert_accessible()
    s.screenshot("queue")
    # "?" shows the keys
    s.page.keyboard.press("?")
    expect(s.page.get_by_text("not the same person", exact=True)).to_be_visible()
    s.page.keyboard.press("Escape")
    # j opens the first pair, side by side with the reasons
    s.page.keyboard.press("j")
    expect(s.page).to_have_url(re.compile(rf"/duplicates/{ada.pk}/{ada2.pk}/$"))
    expect(s.page.get_by_role("listitem").filter(has_text="email same")).to_be_visible()
    s.assert_accessible()
    s.screenshot("pair")
    # m merges it and goes on to the next pair, offering to undo the merge
    s.page.keyboard.press("m")
    expect(s.page).to_have_url(re.compile(rf"/duplicates/{charles.pk}/{charles2.pk}/\?merged=\d+$"))
    notice = s.page.locator("#merge-notice")
    expect(notice.get_by_role("link", name="Ada Lovelace")).to_have_attribute("href", f"/people/{ada.pk}/")
    assert not Person.objects.filter(pk=ada2.pk).exists()
    s.assert_accessible()
    s.screenshot("merged")
    # u undoes the merge: both are back, and so is their pair
    s.page.keyboard.press("u")
    expect(s.page).to_have_url(re.compile(rf"/duplicates/{ada.pk}/{ada2.pk}/$"))
    expect(s.page.get_by_role("status").filter(has_text="The merge was undone.")).to_be_visible()
    assert Person.objects.filter(pk__in=[ada.pk, ada2.pk]).count() == 2
    assert MergeRecord.objects.get().undone_at is not None
    # j goes to the next pair, and n says they are not the same person
    s.page.keyboard.press("j")
    expect(s.page).to_have_url(re.compile(rf"/duplicates/{charles.pk}/{charles2.pk}/$"))
    s.page.keyboard.press("n")
    expect(s.page.get_by_role("status").filter(has_text="are not the same person")).to_be_visible()
    pair = DuplicateCandidate.objects.get(first_id=charles.pk, second_id=charles2.pk)
    assert pair.status == "not_duplicate"
    # and only Ada's pair remains open
    assert list(DuplicateCandidate.objects.filter(status="open").values_list("first_id", "second_id")) == [
        (ada.pk, ada2.pk)
    ]
