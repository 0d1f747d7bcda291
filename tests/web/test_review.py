"""The duplicate review queue, server side: the queue, a pair side by side, merge, not the same
person, undo, the batch run, "Start a merge" from the people list, merged-away addresses."""

import re

import pytest

from kinfolk.access.models import Role
from kinfolk.core.models import Job
from kinfolk.identity.models import DuplicateCandidate, MergeRecord
from kinfolk.identity.services import run_duplicate_detection
from kinfolk.people.models import Person
from tests.conftest import make_person, make_user
from tests.web.conftest import add_lookalikes

pytestmark = pytest.mark.django_db


@pytest.fixture
def twins(world):
    """Look-alikes of Ada (a strong pair) and of Charles (a weaker one), and of the restricted Secret."""
    add_lookalikes(world)
    world["secret2"] = make_person(
        actor=world["b"],
        given_name="Secret",
        family_name="Donor",
        emails=[{"email": "s@example.org"}],
        restricted_to_teams=[world["team_b"].pk],
    )
    from kinfolk.people import services as ps

    ps.check_add_detail(world["secret"], "emails", data={"email": "s@example.org"}, actor=world["b"])
    run_duplicate_detection(rebuild=True)
    return world


def _pair_url(a, b):
    return f"/duplicates/{a.pk}/{b.pk}/"


def test_the_queue_shows_pairs_best_first_and_only_people_one_may_see(twins, as_user):
    page = as_user(twins["a"]).get("/duplicates/").content.decode()
    # the main navigation leads here, and it is the current section
    assert '<a href="/duplicates/" aria-current="page">Duplicates</a>' in page
    links = re.findall(r'<a href="(/duplicates/\d+/\d+/)" data-queue-item>([^<]+)</a>', page)
    assert links == [
        (_pair_url(twins["ada"], twins["ada2"]), "Ada Lovelace and Ada Lovelace"),
        (_pair_url(twins["charles"], twins["charles2"]), "Charles Babbage and Charles Babbage"),
    ]
    assert "Secret" not in page
    # only administrators may start a search of the whole database
    assert "Search for duplicates now" not in page
    admin_page = as_user(twins["admin"]).get("/duplicates/").content.decode()
    assert "Search for duplicates now" in admin_page
    assert "Secret Donor and Secret Donor" in admin_page


def test_a_pair_side_by_side_marks_differences_with_the_defaults_chosen(twins, as_user):
    client = as_user(twins["a"])
    page = client.get(_pair_url(twins["ada"], twins["ada2"])).content.decode()
    assert "<h1>Ada Lovelace and Ada Lovelace</h1>" in page
    assert "<li>email same</li>" in page
    # the same values need no choice; the emails of both are listed, all kept
    assert 'name="choice_given_name"' not in page
    assert "ada@example.org" in page and "ADA@example.org" in page
    # a pair with someone the user may not see is not found
    assert client.get(_pair_url(twins["secret"], twins["secret2"])).status_code == 404
    assert client.get(_pair_url(twins["ada"], twins["ada"])).status_code == 404


def test_differences_are_marked_and_a_choice_is_kept(twins, as_user):
    from kinfolk.people import services as ps

    ps.check_update_person(twins["ada2"], changes={"given_name": "Augusta"}, actor=twins["admin"])
    client = as_user(twins["a"])
    page = client.get(_pair_url(twins["ada"], twins["ada2"])).content.decode()
    assert '<tr class="differs">' in page
    # the default is the most recent change (Augusta), which the user may change
    assert 'name="choice_given_name" value="merged" checked' in page
    # when the merged record's given name is chosen
    response = client.post(
        f"/duplicates/{twins['ada'].pk}/{twins['ada2'].pk}/merge/", {"choice_given_name": "merged"}
    )
    record = MergeRecord.objects.get()
    # then the survivor has it, and the user goes on to the next pair with the merge to undo
    assert Person.objects.get(pk=twins["ada"].pk).given_name == "Augusta"
    assert response.status_code == 302
    assert response["Location"] == (_pair_url(twins["charles"], twins["charles2"]) + f"?merged={record.pk}")
    next_page = client.get(response["Location"]).content.decode()
    assert f'<a href="/people/{twins["ada"].pk}/">Augusta Lovelace</a>' in next_page
    assert f'action="/merges/{record.pk}/undo/"' in next_page


def test_merge_then_undo_and_the_old_address_leads_to_the_survivor(twins, as_user):
    client = as_user(twins["a"])
    ada, ada2 = twins["ada"], twins["ada2"]
    client.post(f"/duplicates/{ada.pk}/{ada2.pk}/merge/")
    record = MergeRecord.objects.get()
    assert (record.survivor_id, record.merged_id) == (ada.pk, ada2.pk)
    # the merged-away person's page leads to the survivor
    moved = client.get(f"/people/{ada2.pk}/")
    assert (moved.status_code, moved["Location"]) == (302, f"/people/{ada.pk}/")
    # and a hidden person's old address stays not found
    assert client.get(f"/people/{twins['secret'].pk}/").status_code == 404
    # when the merge is undone, both are back and the user sees their pair again
    undone = client.post(f"/merges/{record.pk}/undo/")
    assert undone["Location"] == _pair_url(ada, ada2)
    assert Person.objects.filter(pk__in=[ada.pk, ada2.pk]).count() == 2
    assert client.get(f"/people/{ada2.pk}/").status_code == 200
    # undoing twice is a message, not an error page
    again = client.post(f"/merges/{record.pk}/undo/", follow=True)
    assert again.status_code == 200
    assert "This merge was already undone." in again.content.decode()


def test_not_the_same_person_is_remembered_and_leads_on(twins, as_user):
    client = as_user(twins["a"])
    response = client.post(f"/duplicates/{twins['ada'].pk}/{twins['ada2'].pk}/not-duplicate/")
    assert response["Location"] == _pair_url(twins["charles"], twins["charles2"])
    pair = DuplicateCandidate.objects.get(first_id=twins["ada"].pk, second_id=twins["ada2"].pk)
    assert pair.status == "not_duplicate"
    run_duplicate_detection()
    client.get("/duplicates/")  # (the toast of the decision is shown once)
    assert "Ada Lovelace and Ada Lovelace" not in client.get("/duplicates/").content.decode()
    # the last decision leads back to the queue
    last = client.post(f"/duplicates/{twins['charles'].pk}/{twins['charles2'].pk}/not-duplicate/")
    assert last["Location"] == "/duplicates/"


def test_a_viewer_sees_the_pair_but_may_not_merge_and_gets_a_message(twins, as_user):
    viewer = make_user("vera", teams=[(twins["team_a"], Role.VIEWER)])
    client = as_user(viewer)
    page = client.get(_pair_url(twins["ada"], twins["ada2"])).content.decode()
    assert "you cannot merge them" in page
    response = client.post(f"/duplicates/{twins['ada'].pk}/{twins['ada2'].pk}/merge/", follow=True)
    assert response.status_code == 200
    assert "You may not change this person." in response.content.decode()
    response = client.post(f"/duplicates/{twins['ada'].pk}/{twins['ada2'].pk}/not-duplicate/", follow=True)
    assert "You may not change this person." in response.content.decode()
    assert MergeRecord.objects.count() == 0
    assert DuplicateCandidate.objects.filter(status="open").count() == 3
    # and a hidden person is not found, whatever the form says
    assert client.post(f"/duplicates/{twins['secret'].pk}/{twins['ada'].pk}/merge/").status_code == 404


def test_administrators_start_the_search_and_see_its_progress(
    twins, as_user, django_capture_on_commit_callbacks
):
    refused = as_user(twins["a"]).post("/duplicates/run/", follow=True)
    assert "Only administrators may search the whole database for duplicates." in refused.content.decode()
    assert Job.objects.count() == 0
    admin = as_user(twins["admin"])
    with django_capture_on_commit_callbacks(execute=False):
        admin.post("/duplicates/run/")
    job = Job.objects.get()
    assert (job.kind, job.status) == ("dedupe", "queued")
    page = admin.get("/duplicates/").content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert "Last search: queued" in page
    fragment = admin.get("/duplicates/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="dedupe-run").content.decode()
    assert fragment.startswith('<section class="card" aria-labelledby="dedupe-run-h" id="dedupe-run"')


def test_start_a_merge_from_the_people_list_and_compare_from_the_person_page(
    twins, as_user, django_capture_on_commit_callbacks
):
    client = as_user(twins["a"])
    ada, charles = twins["ada"], twins["charles"]
    response = client.post("/people/bulk/", {"ids": [charles.pk, ada.pk], "action": "merge"})
    assert response["Location"] == _pair_url(ada, charles)
    page = client.get(response["Location"]).content.decode()
    assert "<h1>Ada Lovelace and Charles Babbage</h1>" in page
    one = client.post("/people/bulk/", {"ids": [ada.pk], "action": "merge"}, follow=True)
    assert "Choose exactly two people to merge." in one.content.decode()
    panel = client.get(f"/people/{ada.pk}/duplicates/").content.decode()
    assert f'href="/duplicates/{ada.pk}/{twins["ada2"].pk}/"' in panel
