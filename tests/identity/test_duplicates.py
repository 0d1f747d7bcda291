"""Finding duplicates: keys kept by events, the single check, the batch run and its job, decisions,
visibility, rules, the CLI report."""

import csv
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from kinfolk.core.jobs import run_pending_jobs
from kinfolk.core.models import Job
from kinfolk.identity.merge import check_merge_people
from kinfolk.identity.models import DuplicateCandidate, MatchKey, MatchProfile, MatchRuleSet, default_rules
from kinfolk.identity.services import (
    check_mark_not_duplicate,
    check_start_dedupe,
    check_update_rules,
    compare_people,
    find_possible_duplicates,
    open_candidates,
    rebuild_keys,
    run_duplicate_detection,
    write_candidate_report,
)
from kinfolk.people import services as people
from tests.conftest import make_person, make_team, make_user

pytestmark = pytest.mark.django_db
W = default_rules()["weights"]
SAME_EMAIL_AND_NAME = W["email"]["agree"] + W["given_name"]["agree"] + W["family_name"]["agree"]


def _robert(**extra):
    return make_person(
        given_name="Robert", family_name="Müller", emails=[{"email": "rob@example.org"}], **extra
    )


def _bob(**extra):
    return make_person(
        given_name="Bob", family_name="Mueller", emails=[{"email": "ROB@example.org"}], **extra
    )


def test_keys_and_profile_follow_person_changes_through_events(django_capture_on_commit_callbacks, admin):
    # given a person created and committed
    with django_capture_on_commit_callbacks(execute=True):
        person = _robert()
    # then their keys and matching profile are stored
    assert ("email", "rob@example.org") in set(
        MatchKey.objects.filter(person_id=person.pk).values_list("kind", "value")
    )
    assert MatchProfile.objects.get(person_id=person.pk).family == "muller"
    # when an email is added
    with django_capture_on_commit_callbacks(execute=True):
        people.check_add_detail(person, "emails", data={"email": "r.mueller@Work.example"}, actor=admin)
    # then the new address is a key too
    assert MatchProfile.objects.get(person_id=person.pk).emails == "r.mueller@work.example\nrob@example.org"


def test_single_check_finds_a_nickname_and_transliteration_duplicate_before_it_is_created(admin):
    # given Robert Müller with an email
    existing = _robert()
    rebuild_keys()
    # when Bob Mueller with the same email is about to be created
    found = find_possible_duplicates(
        {"given_name": "Bob", "family_name": "Mueller", "emails": ["Rob@Example.org"]}, actor=admin
    )
    # then Robert is suggested, with reasons (and unpacks as the web page's template reads it)
    assert [(d.person.pk, d.score, d.reasons) for d in found] == [
        (existing.pk, SAME_EMAIL_AND_NAME, ["email same", "given name same", "family name same"])
    ]
    person, score, reasons = found[0]
    assert (person, score, len(found[0])) == (existing, SAME_EMAIL_AND_NAME, 3)
    assert found[0].findings == [
        ["email", "agree", 2],
        ["given_name", "agree", 1.0],
        ["family_name", "agree", 1.0],
    ]


def test_single_check_of_a_saved_person_reads_their_current_details(admin):
    # given two people stored with nothing in common but the name
    first = _robert()
    second = make_person(given_name="Bob", family_name="Mueller")
    rebuild_keys()
    assert find_possible_duplicates(second, actor=admin) == []
    # when the second gets the first's email (an edit, keys not refreshed yet)
    people.check_add_detail(second, "emails", data={"email": "rob@example.org"}, actor=admin)
    # then the check after the edit sees it
    assert [d.person.pk for d in find_possible_duplicates(second, actor=admin)] == [first.pk]


def test_single_check_runs_in_a_fixed_number_of_queries(admin, django_assert_max_num_queries):
    for i in range(30):
        make_person(given_name="Robert", family_name="Müller", emails=[{"email": f"r{i}@example.org"}])
    target = _robert()
    _bob()
    rebuild_keys()
    with django_assert_max_num_queries(12):
        found = find_possible_duplicates(target, actor=admin)
    assert len(found) == 1


def test_restricted_people_are_never_candidates_for_those_who_cannot_see_them(admin):
    # given a person restricted to a team, and a user of another team
    secret_team = make_team("Major gifts")
    other_team = make_team("Volunteers")
    insider = make_user("insider", teams=[(secret_team, "member")])
    outsider = make_user("outsider", teams=[(other_team, "member")])
    secret = _robert(restricted_to_teams=[secret_team.pk])
    make_person(given_name="Robert", family_name="Muller", emails=[{"email": "rob@example.org"}])
    rebuild_keys()
    run_duplicate_detection()
    probe = {"given_name": "Robert", "family_name": "Müller", "emails": ["rob@example.org"]}
    # then the outsider sees neither the restricted person nor the pair that involves them
    assert secret.pk not in [d.person.pk for d in find_possible_duplicates(probe, actor=outsider)]
    assert list(open_candidates(actor=outsider)) == []
    with pytest.raises(PermissionDenied):
        compare_people(secret, secret, actor=outsider)
    # while the insider sees both
    assert secret.pk in [d.person.pk for d in find_possible_duplicates(probe, actor=insider)]
    assert open_candidates(actor=insider).count() == 1


def test_batch_run_stores_pairs_and_remembers_not_the_same_person(admin):
    # given two likely duplicates and one unrelated person
    first = _robert(birth_date="1980-05-17")
    second = _bob(birth_date="1980-05-17")
    make_person(given_name="Ada", family_name="Lovelace")
    # when the batch runs
    progress = []
    result = run_duplicate_detection(
        rebuild=True, progress=lambda done, total: progress.append((done, total))
    )
    # then one candidate pair is stored with its reasons and findings
    candidate = DuplicateCandidate.objects.get()
    assert (candidate.first_id, candidate.second_id, candidate.status) == (first.pk, second.pk, "open")
    assert candidate.reasons == ["email same", "given name same", "family name same", "birth date same"]
    assert candidate.findings == [
        ["email", "agree", 2],
        ["given_name", "agree", 1.0],
        ["family_name", "agree", 1.0],
        ["birth_date", "agree", None],
    ]
    assert candidate.score == SAME_EMAIL_AND_NAME + W["birth_date"]["agree"]
    assert (result["pairs_compared"], result["candidates"]) == (1, 1)
    assert progress == [(1, 1)]
    # when an administrator says they are not the same person
    check_mark_not_duplicate(candidate, actor=admin)
    run_duplicate_detection()
    # then the pair is never suggested again, by the batch or the single check
    assert list(open_candidates(actor=admin)) == []
    assert find_possible_duplicates(first, actor=admin) == []
    assert DuplicateCandidate.objects.get().status == "not_duplicate"


def test_not_the_same_person_can_be_said_of_a_pair_no_run_suggested(admin, users):
    first, second = _robert(), _bob()
    rebuild_keys()
    with pytest.raises(PermissionDenied):
        check_mark_not_duplicate((first, second), actor=users["a_viewer"])
    check_mark_not_duplicate((second, first), actor=admin)
    assert find_possible_duplicates(first, actor=admin) == []
    with pytest.raises(ValidationError, match="same person as themselves"):
        check_mark_not_duplicate((first, first), actor=admin)


def test_a_full_rebuild_refreshes_the_planner_statistics(admin, django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _robert()
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        rebuild_keys()
    analyzed = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("ANALYZE")]
    assert analyzed == ['ANALYZE "identity_matchkey"', 'ANALYZE "identity_matchprofile"']


def test_a_merged_pair_is_not_suggested_again(admin):
    first, second = _robert(), _bob()
    run_duplicate_detection(rebuild=True)
    check_merge_people(first, second, actor=admin)
    assert run_duplicate_detection()["candidates"] == 0
    assert DuplicateCandidate.objects.get().status == "merged"


def test_the_batch_run_is_a_job_with_progress_for_administrators(
    admin, users, django_capture_on_commit_callbacks
):
    _robert()
    _bob()
    with pytest.raises(PermissionDenied):
        check_start_dedupe(actor=users["a_manager"])
    with django_capture_on_commit_callbacks(execute=True):
        job = check_start_dedupe(actor=admin, rebuild=True)
    run_pending_jobs()
    job.refresh_from_db()
    assert (job.kind, job.status, job.progress_done, job.progress_total) == ("dedupe", "done", 1, 1)
    assert (job.result["pairs_compared"], job.result["candidates"]) == (1, 1)
    assert [line["message"] for line in job.log] == [
        "Looking for duplicate people.",
        "Compared 1 pairs; 1 possible duplicates.",
    ]
    assert Job.objects.count() == 1
    assert DuplicateCandidate.objects.count() == 1


def test_pairs_over_the_automatic_threshold_are_merged_by_the_job_and_can_be_undone(admin):
    from kinfolk.identity.merge import check_undo_merge
    from kinfolk.identity.models import MergeRecord
    from kinfolk.people.models import Person

    rules = MatchRuleSet.objects.get(name="default")
    check_update_rules(rules, changes={"auto_merge_threshold": 15.0}, actor=admin)
    first, second = _robert(), _bob()
    third = make_person(given_name="Ada", family_name="Byron", emails=[{"email": "ada@example.org"}])
    make_person(given_name="Ada", family_name="Bryon", emails=[{"email": "ada@example.org"}])
    # when the run acts for an administrator
    result = run_duplicate_detection(rebuild=True, actor=admin)
    # then the pair scoring over 15 is merged into the older record; the other waits for review
    assert (result["candidates"], result["merged_automatically"]) == (2, 1)
    assert not Person.objects.filter(pk=second.pk).exists()
    assert [(c.first_id, c.status) for c in DuplicateCandidate.objects.order_by("first_id")] == [
        (first.pk, "merged"),
        (third.pk, "open"),
    ]
    # and the merge is undone as any other
    check_undo_merge(MergeRecord.objects.get(), actor=admin)
    assert Person.objects.filter(pk=second.pk).exists()


def test_compare_people_shows_a_pair_side_by_side(admin):
    first = _robert(phones=[{"number": "+442079460958"}])
    second = _bob(birth_date="1980-05-17", phones=[{"number": "+44 20 7946 0958"}])
    rebuild_keys()
    pair = compare_people(first, second, actor=admin)
    assert pair.reasons == ["email same", "phone same", "given name same", "family name same"]
    assert pair.score == SAME_EMAIL_AND_NAME + W["phone"]["agree"]
    differing = {name: (a, b) for name, _label, a, b, differs in pair.fields if differs}
    assert differing == {
        "given_name": ("Robert", "Bob"),
        "family_name": ("Müller", "Mueller"),
        "display_name": ("Robert Müller", "Bob Mueller"),
        "birth_date": ("", "1980-05-17"),
    }
    assert pair.details["emails"] == (["rob@example.org"], ["ROB@example.org"])


def test_rules_are_data_editable_only_by_administrators(admin, users):
    rules = MatchRuleSet.objects.get(name="default")
    with pytest.raises(PermissionDenied, match="Only administrators"):
        check_update_rules(rules, changes={"review_threshold": 20}, actor=users["a_manager"])
    check_update_rules(rules, changes={"review_threshold": 20}, actor=admin)
    _robert()
    _bob()
    assert run_duplicate_detection(rebuild=True)["candidates"] == 0
    check_update_rules(
        rules, changes={"rules": {**rules.rules, "weights": {**W, "email": {"agree": 15}}}}, actor=admin
    )
    assert run_duplicate_detection()["candidates"] == 1


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"review_threshold": "high"}, {"review_threshold": ["Expected a number, got 'high'."]}),
        (
            {"rules": {"weights": {"shoe_size": {"agree": 1}}}},
            {
                "rules.weights.shoe_size": [
                    "Not a field matching knows; expected one of email, phone, external_id, address, "
                    "phone_and_address, given_name, family_name, birth_date, locality, country."
                ]
            },
        ),
        (
            {"rules": {"weights": {"email": {"agree": "9", "maybe": 1}}}},
            {
                "rules.weights.email.agree": ["Expected a number, got '9'."],
                "rules.weights.email.maybe": [
                    "Not an outcome; expected one of agree, partial, common, disagree."
                ],
            },
        ),
        (
            {"rules": {"weights": {}, "name_similarity": 1.5}},
            {"rules.name_similarity": ["Expected a number from 0 to 1, got 1.5."]},
        ),
        (
            {"auto_merge_threshold": 5},
            {
                "auto_merge_threshold": [
                    "The score to merge automatically (5) must not be below the score to review (10.5)."
                ]
            },
        ),
        (
            {"colour": "red"},
            {
                "colour": [
                    "Not a setting of the matching rules; expected one of auto_merge_threshold, is_active, name, review_threshold, rules."
                ]
            },
        ),
    ],
)
def test_bad_rules_are_refused_naming_the_setting_and_the_value(admin, changes, errors):
    rules = MatchRuleSet.objects.get(name="default")
    before = dict(rules.rules)
    with pytest.raises(ValidationError) as caught:
        check_update_rules(rules, changes=changes, actor=admin)
    assert caught.value.message_dict == errors
    rules.refresh_from_db()
    assert rules.rules == before


def test_cli_report_lists_pairs_with_external_ids(admin, tmp_path):
    from kinfolk.cli import main

    first = _robert(external_ids=[{"system": "=sum(1)", "value": "A1"}])
    second = _bob()
    report = tmp_path / "pairs.csv"
    assert main(["dedupe", "--report", str(report)]) == 0
    with report.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [
        {
            "first_id": str(first.pk),
            "first_external_ids": "'=sum(1):A1",
            "second_id": str(second.pk),
            "second_external_ids": "",
            "score": str(SAME_EMAIL_AND_NAME),
            "reasons": "email same; given name same; family name same",
        }
    ]


def test_report_for_a_user_leaves_out_pairs_they_may_not_see(admin):
    team = make_team("Major gifts")
    outsider = make_user("outsider", teams=[(make_team("Volunteers"), "member")])
    _robert(restricted_to_teams=[team.pk])
    _bob()
    run_duplicate_detection(rebuild=True)
    everyone, theirs = io.StringIO(), io.StringIO()
    assert write_candidate_report(everyone) == 1
    assert write_candidate_report(theirs, actor=outsider) == 0
    assert theirs.getvalue().splitlines() == [
        "first_id,first_external_ids,second_id,second_external_ids,score,reasons"
    ]
