"""The duplicates API: the queue, a pair compared, "not the same person", merge and undo, the single
check, the batch run, merged-away ids, and problem+json for every refusal."""

import pytest

from kinfolk.core.jobs import run_pending_jobs
from kinfolk.identity.models import DuplicateCandidate, MergeRecord
from kinfolk.identity.services import run_duplicate_detection
from kinfolk.people.models import EmailAddress, Person
from tests.api.conftest import Api, make_token
from tests.conftest import make_person

pytestmark = pytest.mark.django_db


def _pair(given, family, email, other_given, other_family, **extra):
    first = make_person(given_name=given, family_name=family, emails=[{"email": email}], **extra)
    second = make_person(
        given_name=other_given, family_name=other_family, emails=[{"email": email.upper()}], **extra
    )
    return first, second


@pytest.fixture
def pairs(team_b, users):
    """Robert/Bob Müller (everyone sees them), Ann/Anne Lee (restricted to team B), candidates stored."""
    robert, bob = _pair("Robert", "Müller", "rob@example.org", "Bob", "Mueller", birth_date="1980-05-17")
    ann, anne = _pair("Ann", "Lee", "ann@example.org", "Anne", "Lee", restricted_to_teams=[team_b.pk])
    run_duplicate_detection(rebuild=True)
    return {"robert": robert, "bob": bob, "ann": ann, "anne": anne}


def _api(user, team=None, scope="write"):
    return Api(make_token(user, team, scope))


def _candidate(a, b):
    return DuplicateCandidate.objects.get(first_id=min(a.pk, b.pk), second_id=max(a.pk, b.pk))


def test_the_queue_lists_only_pairs_whose_people_the_caller_may_see_best_first(pairs, admin, users, team_a):
    # given two stored pairs, one of people restricted to team B
    robert_bob = _candidate(pairs["robert"], pairs["bob"])
    ann_anne = _candidate(pairs["ann"], pairs["anne"])
    # when an administrator lists the queue
    body = _api(admin).get("duplicates/").json()
    # then both pairs are there, best score first, with people named and reasons given
    assert [r["id"] for r in body["results"]] == [
        c.pk for c in sorted([robert_bob, ann_anne], key=lambda c: (-c.score, c.first_id))
    ]
    row = next(r for r in body["results"] if r["id"] == robert_bob.pk)
    assert row["first"] == {"id": pairs["robert"].pk, "display_name": "Robert Müller"}
    assert row["second"] == {"id": pairs["bob"].pk, "display_name": "Bob Mueller"}
    assert row["reasons"] == robert_bob.reasons
    assert row["findings"][0] == {"field": "email", "outcome": "agree", "detail": 2}
    assert row["status"] == "open"
    # and a member of team A sees only the pair of people everyone may see
    member = _api(users["a_member"], team_a).get("duplicates/").json()
    assert [r["id"] for r in member["results"]] == [robert_bob.pk]
    assert _api(users["a_member"], team_a).get(f"duplicates/{ann_anne.pk}/").status_code == 404
    # and pages are cursor pages
    first_page = _api(admin).get("duplicates/", {"page_size": 1, "ordering": "id"}).json()
    assert [r["id"] for r in first_page["results"]] == [min(robert_bob.pk, ann_anne.pk)]
    second_page = _api(admin).get(first_page["next"]).json()
    assert [r["id"] for r in second_page["results"]] == [max(robert_bob.pk, ann_anne.pk)]
    bad = _api(admin).get("duplicates/", {"ordering": "first_id"})
    assert (bad.status_code, bad["Content-Type"], bad.json()["errors"][0]["field"]) == (
        400,
        "application/problem+json",
        "ordering",
    )


def test_a_pair_is_compared_field_by_field_with_what_a_merge_would_keep(pairs, admin):
    candidate = _candidate(pairs["robert"], pairs["bob"])
    body = _api(admin).get(f"duplicates/{candidate.pk}/").json()
    fields = {f["field"]: f for f in body["fields"]}
    assert fields["given_name"] == {
        "field": "given_name",
        "label": "given name",
        "first": "Robert",
        "second": "Bob",
        "differs": True,
    }
    assert fields["birth_date"]["first"] == fields["birth_date"]["second"] == "1980-05-17"
    assert fields["birth_date"]["differs"] is False
    assert body["details"]["emails"] == {"first": ["rob@example.org"], "second": ["ROB@example.org"]}
    assert body["merge_preview"]["birth_date"] == {"value": "1980-05-17", "source": "survivor", "why": "kept"}
    assert body["merge_preview"]["given_name"]["source"] in ("survivor", "merged")
    assert body["score"] == candidate.score


def test_not_the_same_person_is_remembered_and_needs_edit_rights(pairs, users, team_a):
    candidate = _candidate(pairs["robert"], pairs["bob"])
    # a viewer may not decide: problem+json, nothing stored
    refused = _api(users["a_viewer"], team_a).post(f"duplicates/{candidate.pk}/not-duplicate/")
    assert (refused.status_code, refused["Content-Type"], refused.json()["code"]) == (
        403,
        "application/problem+json",
        "permission_denied",
    )
    candidate.refresh_from_db()
    assert candidate.status == "open"
    # a member decides: the pair leaves the queue and a new run does not suggest it again
    member = _api(users["a_member"], team_a)
    response = member.post(f"duplicates/{candidate.pk}/not-duplicate/")
    assert (response.status_code, response.json()["status"]) == (200, "not_duplicate")
    assert member.get("duplicates/").json()["results"] == []
    run_duplicate_detection()
    assert _candidate(pairs["robert"], pairs["bob"]).status == "not_duplicate"


def test_merge_read_the_record_follow_the_old_id_and_undo(pairs, admin):
    api = _api(admin)
    robert, bob = pairs["robert"], pairs["bob"]
    # when Bob is merged into Robert, keeping Bob's given name
    response = api.post(
        "merges/", {"survivor": robert.pk, "merged": bob.pk, "choices": {"given_name": "merged"}}
    )
    # then the merge record says what was kept and why
    assert response.status_code == 201, response.json()
    record = response.json()
    assert (record["survivor"], record["merged"], record["merged_by"], record["undone_at"]) == (
        robert.pk,
        bob.pk,
        admin.pk,
        None,
    )
    assert record["choices"]["given_name"] == {"value": "Bob", "source": "merged", "why": "chosen"}
    assert api.get(f"merges/{record['id']}/").json() == record
    assert api.get("merges/").json()["results"] == [record]
    assert Person.objects.get(pk=robert.pk).given_name == "Bob"
    # and the merged-away id answers with the survivor's address
    moved = api.get(f"people/{bob.pk}/?fields=id")
    assert (moved.status_code, moved["Location"]) == (
        308,
        f"https://testserver/api/v1/people/{robert.pk}/?fields=id",
    )
    assert api.get(moved["Location"]).json() == {"id": robert.pk}
    # when the merge is undone, both people are back and the old id is a person again
    undone = api.post(f"merges/{record['id']}/undo/")
    assert undone.status_code == 200
    assert undone.json()["undone_at"] is not None
    assert api.get(f"people/{bob.pk}/").json()["given_name"] == "Bob"
    assert Person.objects.get(pk=robert.pk).given_name == "Robert"
    # and undoing twice is a clear 400
    again = api.post(f"merges/{record['id']}/undo/")
    assert (again.status_code, again.json()["detail"]) == (400, "This merge was already undone.")


def test_bad_merges_are_problems_naming_the_field_and_change_nothing(pairs, users, team_a):
    member = _api(users["a_member"], team_a)
    robert, bob, ann = pairs["robert"], pairs["bob"], pairs["ann"]
    cases = [
        ({"survivor": robert.pk, "merged": bob.pk, "choices": {"email": "merged"}}, "choices.email"),
        ({"survivor": robert.pk, "merged": bob.pk, "choices": {"given_name": "both"}}, "choices.given_name"),
        ({"survivor": robert.pk, "merged": ann.pk}, "merged"),  # restricted to team B: not found
        ({"survivor": robert.pk, "merged": robert.pk}, "merged"),
        ({"survivor": "1", "merged": bob.pk}, "survivor"),
        ({"merged": bob.pk}, "survivor"),
    ]
    for body, field in cases:
        response = member.post("merges/", body)
        assert (response.status_code, response["Content-Type"]) == (400, "application/problem+json"), body
        assert field in [e["field"] for e in response.json()["errors"]], (body, response.json())
    # a viewer may see both but change neither
    refused = _api(users["a_viewer"], team_a).post("merges/", {"survivor": robert.pk, "merged": bob.pk})
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    assert MergeRecord.objects.count() == 0
    assert Person.objects.count() == 4
    # another team's merge is not found, and neither is its undo
    assert member.get("merges/999999/").status_code == 404


def test_another_teams_merge_is_not_found(pairs, users, team_a, team_b):
    b_member = _api(users["b_member"], team_b)
    record = b_member.post("merges/", {"survivor": pairs["ann"].pk, "merged": pairs["anne"].pk}).json()
    a_member = _api(users["a_member"], team_a)
    assert a_member.get(f"merges/{record['id']}/").status_code == 404
    assert a_member.get("merges/").json()["results"] == []
    assert a_member.post(f"merges/{record['id']}/undo/").status_code == 404
    # and the merged-away id of a hidden person is simply not found
    assert a_member.get(f"people/{pairs['anne'].pk}/").status_code == 404
    assert b_member.get(f"people/{pairs['anne'].pk}/").status_code == 308


def test_check_a_prospective_person_before_creating_them(pairs, users, team_a):
    member = _api(users["a_member"], team_a)
    body = {"given_name": "Bobby", "family_name": "Muller", "emails": [{"email": "Rob@Example.org"}]}
    response = member.post("duplicates/check/", body)
    assert response.status_code == 200, response.json()
    found = response.json()["results"]
    assert {r["person"]["id"] for r in found} == {pairs["robert"].pk, pairs["bob"].pk}
    assert found[0]["reasons"][0].startswith("email same")
    # a restricted look-alike stays hidden
    ann = member.post("duplicates/check/", {"given_name": "Ann", "emails": [{"email": "ann@example.org"}]})
    assert ann.json()["results"] == []
    # bad values are named
    bad = member.post("duplicates/check/", {"given_name": "X", "emails": [{"email": "not an email"}]})
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (400, "emails[0].email")
    assert EmailAddress.objects.count() == 4


def test_the_batch_run_is_started_by_administrators(admin, users, team_a, django_capture_on_commit_callbacks):
    _pair("Robert", "Müller", "rob@example.org", "Bob", "Mueller")
    refused = _api(users["a_manager"], team_a).post("duplicates/runs/", {})
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    with django_capture_on_commit_callbacks(execute=True):
        response = _api(admin).post("duplicates/runs/", {"rebuild": True})
    assert response.status_code == 202
    assert response.json()["kind"] == "dedupe"
    run_pending_jobs()
    assert DuplicateCandidate.objects.filter(status="open").count() == 1
    bad = _api(admin).post("duplicates/runs/", {"rebuild": "yes"})
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (400, "rebuild")
