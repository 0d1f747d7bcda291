"""The import engine: outcomes, bad cells, identity matching, batches, resume after a kill, undo."""

import datetime
import io

import pytest
from django.core.exceptions import ValidationError

from kinfolk.access.actors import SYSTEM
from kinfolk.core.models import ChangeRecord
from kinfolk.imports.engine import ImportInterrupted, lookup_people, run_import
from kinfolk.imports.models import ImportRowResult, ImportRun
from kinfolk.imports.services import check_create_import, check_undo_import, preview, write_error_report
from kinfolk.people.models import EmailAddress, Organisation, Person, PersonTag
from kinfolk.people.services import check_update_person
from tests.conftest import make_person

from .helpers import do_import, people_state, write_csv

HEADER = ["First Name", "Last Name", "Email", "Phone", "Company", "Job Title", "Tags", "Birthday", "Country"]

pytestmark = pytest.mark.django_db


def test_new_people_are_created_with_details_affiliation_tags_and_audit(tmp_path, team_a):
    # given a file with two people
    path = write_csv(
        tmp_path / "p.csv",
        HEADER,
        [
            [
                "Ada",
                "Lovelace",
                "ADA@example.org",
                "020 7946 0958",
                "Engines",
                "Countess",
                "donor; vip",
                "10.12.1815",
                "GB",
            ],
            ["Grace", "Hopper", "grace@example.org", "", "Navy", "", "", "", "US"],
        ],
    )
    # when it is imported for team A
    run = do_import(path, team=team_a)
    # then both exist with their details, one organisation each, tags of team A, and an audit trail
    assert run.summary() == {"created": 2, "updated": 0, "skipped": 0, "rejected": 0, "flagged": 0}
    assert run.status == ImportRun.Status.DONE
    assert people_state() == [
        (
            "Ada",
            "Lovelace",
            "Ada Lovelace",
            "1815-12-10",
            "GB",
            (("ada@example.org", True),),
            (("+442079460958", True),),
            (("Engines", "Countess"),),
            ("donor", "vip"),
            (),
        ),
        (
            "Grace",
            "Hopper",
            "Grace Hopper",
            "",
            "US",
            (("grace@example.org", True),),
            (),
            (("Navy", ""),),
            (),
            (),
        ),
    ]
    assert set(PersonTag.objects.values_list("team_id", flat=True)) == {team_a.pk}
    ada = Person.objects.get(given_name="Ada")
    record = ChangeRecord.objects.get(object_id=ada.pk, action="create", object_type__model="person")
    assert (record.source, record.via) == ("import", f"job import-{run.pk}")
    assert record.changes["emails"] == {"before": None, "after": ["ADA@example.org"]}
    engines = Organisation.objects.get(name="Engines")
    assert (
        ChangeRecord.objects.filter(organisation_id=engines.pk, person_id=ada.pk, action="create").count()
        == 1
    )


def test_a_bad_cell_is_left_out_and_named_and_strict_rejects_the_row(tmp_path):
    path = write_csv(
        tmp_path / "p.csv", HEADER, [["Bob", "Builder", "bob@example", "", "", "", "", "31.02.1990", "DE"]]
    )
    # when imported leniently: Bob is created without the bad email and date, both reported
    run = do_import(path)
    assert run.summary()["created"] == 1
    result = run.rows.get()
    assert [(p["column"], p["value"]) for p in result.problems] == [
        ("Birthday", "31.02.1990"),
        ("Email", "bob@example"),
    ]
    assert "Not a valid email address" in result.problems[1]["message"]
    bob = Person.objects.get()
    assert (bob.display_name, bob.birth_date, bob.emails.count()) == ("Bob Builder", None, 0)
    # when imported strictly: the row is rejected
    strict = do_import(path, strict=True)
    assert strict.summary()["rejected"] == 1
    assert Person.objects.count() == 1


def test_a_row_with_nothing_to_make_a_person_of_is_rejected_and_lands_in_the_error_report(tmp_path):
    path = write_csv(
        tmp_path / "p.csv",
        HEADER,
        [["", "", "not-an-email", "", "", "", "", "", ""], ["Ok", "", "", "", "", "", "", "", ""]],
    )
    run = do_import(path)
    assert run.summary() == {"created": 1, "updated": 0, "skipped": 0, "rejected": 1, "flagged": 0}
    out = io.StringIO()
    assert write_error_report(run, out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == "First Name,Last Name,Email,Phone,Company,Job Title,Tags,Birthday,Country,reason"
    assert lines[1].startswith(",,not-an-email,,,,,,,")
    assert "Email: 'not-an-email': Not a valid email address" in lines[1]
    assert "A person needs a name" in lines[1]


@pytest.mark.parametrize(
    ("on_match", "summary", "given_name", "people"),
    [
        ("update", {"created": 0, "updated": 3, "skipped": 0, "rejected": 0, "flagged": 0}, "Adele", 3),
        ("skip", {"created": 0, "updated": 0, "skipped": 3, "rejected": 0, "flagged": 0}, "Ada", 3),
        ("flag", {"created": 0, "updated": 0, "skipped": 0, "rejected": 0, "flagged": 3}, "Ada", 6),
    ],
)
def test_existing_people_match_by_external_id_then_email_then_phone(
    tmp_path, on_match, summary, given_name, people
):
    # given three people, reachable by an external id, an email and a phone
    ada = make_person(given_name="Ada", family_name="A", external_ids=[{"system": "crm", "value": "7"}])
    make_person(given_name="Ben", family_name="B", emails=[{"email": "ben@example.org"}])
    make_person(given_name="Cy", family_name="C", phones=[{"number": "+442079460958"}])
    path = write_csv(
        tmp_path / "p.csv",
        ["crm id", "First Name", "Email", "Phone"],
        [["7", "Adele", "", ""], ["", "Ben", "BEN@example.org", ""], ["", "Cy", "", "+44 20 7946 0958"]],
    )
    # when imported with the chosen policy
    run = do_import(
        path,
        mapping={"crm id": "external_id:crm", "First Name": "given_name", "Email": "email", "Phone": "phone"},
        on_match=on_match,
    )
    # then every row matched its person, and the policy decided what happened
    assert run.summary() == summary
    ada.refresh_from_db()
    assert ada.given_name == given_name
    assert Person.objects.count() == people
    matched = set(
        run.rows.values_list("person_id" if on_match == "update" else "matched_person_id", flat=True)
    )
    assert matched == set(Person.objects.filter(family_name__in="ABC").values_list("pk", flat=True))


def test_rows_of_the_same_new_person_in_one_file_become_one_person_across_batches(tmp_path, team_a):
    rows = [
        ["Ada", "Lovelace", "ada@example.org", "", "", "", "a", "", "GB"],
        ["Bob", "B", "bob@example.org", "", "", "", "", "", ""],
        ["", "", "ADA@example.org", "020 7946 0958", "Engines", "", "b", "", "GB"],
        ["Ada", "", "", "+44 20 7946 0958", "", "", "c", "", ""],
    ]
    path = write_csv(tmp_path / "p.csv", HEADER, rows)
    # batches of 2: the third and fourth rows meet Ada in the database, created by this import
    run = do_import(path, batch_size=2, team=team_a, on_match="skip")
    assert run.summary() == {"created": 2, "updated": 2, "skipped": 0, "rejected": 0, "flagged": 0}
    assert list(run.rows.order_by("row_number").values_list("outcome", flat=True)) == [
        "created",
        "created",
        "merged",
        "merged",
    ]
    ada = Person.objects.get(given_name="Ada")
    assert sorted(ada.taggings.values_list("tag__name", flat=True)) == ["a", "b", "c"]
    assert list(ada.phonenumbers.values_list("number", flat=True)) == ["+442079460958"]
    assert list(ada.affiliations.values_list("organisation__name", flat=True)) == ["Engines"]
    # and in one batch the same
    Person.objects.all().delete()
    run = do_import(path, team=team_a)
    assert run.summary()["created"] == 2
    assert Person.objects.get(given_name="Ada").phonenumbers.count() == 1


def test_matching_looks_up_a_whole_batch_with_one_query_per_key_type(django_assert_num_queries):
    for i in range(30):
        make_person(emails=[{"email": f"p{i}@example.org"}], phones=[{"number": f"+4420794609{i:02d}"}])
    keys = {("e", f"p{i}@example.org") for i in range(30)} | {("p", f"+4420794609{i:02d}") for i in range(30)}
    keys |= {("x", "crm\x1f1"), ("x", "crm\x1f2"), ("x", "erp\x1f1")}
    with django_assert_num_queries(4):  # two external-id systems, emails, phones
        found = lookup_people(keys, SYSTEM)
    assert len(found) == 60


def test_dry_run_counts_and_samples_without_writing(tmp_path):
    make_person(given_name="Old", emails=[{"email": "old@example.org"}])
    path = write_csv(
        tmp_path / "p.csv",
        HEADER,
        [
            ["New", "One", "new@example.org", "", "", "", "", "", ""],
            ["Old", "", "old@example.org", "", "", "", "", "", ""],
            ["", "", "bad", "", "", "", "", "", ""],
            ["N", "", "NEW@example.org", "", "", "", "", "", ""],
        ],
    )
    run = do_import(path, dry_run=True, batch_size=2)
    assert run.summary() == {"created": 1, "updated": 2, "skipped": 0, "rejected": 1, "flagged": 0}
    assert Person.objects.count() == 1
    report = preview(run)
    assert report["samples"]["created"][0]["values"]["Email"] == "new@example.org"
    assert [p["row"] for p in report["problems"]] == [4, 4]


def _file_of(tmp_path, n=23):
    rows = []
    for i in range(n):
        # every fifth row repeats an earlier person by email; some rows carry a bad cell
        email = f"p{i - 5 if i % 5 == 4 else i}@example.org"
        rows.append(
            [
                f"G{i}",
                f"F{i}",
                email,
                f"+4915112345{i:03d}",
                f"Org {i % 3}",
                "",
                f"t{i % 2}",
                "xx" if i % 7 == 0 else "",
                "DE",
            ]
        )
    rows.append(["", "", "", "", "", "", "", "", ""])
    rows.append(["", "", "broken", "", "", "", "", "", ""])
    return write_csv(tmp_path / "p.csv", HEADER, rows)


def test_an_import_killed_at_any_point_resumes_to_exactly_the_uninterrupted_result(tmp_path, team_a):
    # given the result of an uninterrupted run
    path = _file_of(tmp_path)
    clean = do_import(path, batch_size=4, team=team_a)
    expected_people, expected_summary = people_state(), clean.summary()
    expected_rows = list(clean.rows.order_by("row_number").values_list("row_number", "outcome"))
    for stage in ("written", "committed"):
        for kill_at in range(1, 7):  # 24 rows in batches of 4
            Person.objects.all().delete()
            Organisation.objects.all().delete()

            def hook(where, batch, stage=stage, kill_at=kill_at):
                if where == stage and batch == kill_at:
                    raise ImportInterrupted

            # when a run is killed inside or after batch k, then run again
            run = check_create_import(path=path, actor=SYSTEM, team=team_a)
            with pytest.raises(ImportInterrupted):
                run_import(run.pk, batch_size=4, hook=hook)
            interrupted = ImportRun.objects.get(pk=run.pk)
            assert interrupted.status == ImportRun.Status.RUNNING
            resumed = run_import(run.pk, batch_size=4)
            # then nothing is doubled or lost
            assert resumed.summary() == expected_summary, (stage, kill_at)
            assert (
                list(resumed.rows.order_by("row_number").values_list("row_number", "outcome"))
                == expected_rows
            )
            assert people_state() == expected_people, (stage, kill_at)


def _undo(run, actor, capture):
    """Undo the import as the wizard does: a background job, run here by a worker's loop."""
    from kinfolk.core.jobs import run_pending_jobs

    with capture(execute=True):
        job = check_undo_import(ImportRun.objects.get(pk=run.pk), actor=actor)
    assert ImportRun.objects.get(pk=run.pk).status == ImportRun.Status.UNDOING
    run_pending_jobs()
    job.refresh_from_db()
    assert (job.kind, job.status) == ("import_undo", "done")
    return job.result


def test_undo_removes_created_people_and_restores_updated_fields_unless_changed_since(
    tmp_path, admin, django_capture_on_commit_callbacks
):
    kept = make_person(given_name="Kim", family_name="Old", emails=[{"email": "kim@example.org"}])
    touched = make_person(given_name="Tom", family_name="Old", emails=[{"email": "tom@example.org"}])
    path = write_csv(
        tmp_path / "p.csv",
        ["First Name", "Last Name", "Email", "Email 2"],
        [
            ["Kim", "New", "kim@example.org", "kim2@example.org"],
            ["Tom", "New", "tom@example.org", ""],
            ["Neu", "Person", "neu@example.org", ""],
            ["Other", "Person", "other@example.org", ""],
        ],
    )
    run = do_import(path, actor=admin)
    assert run.summary()["created"] == 2 and run.summary()["updated"] == 2
    # someone edits Tom and one of the new people after the import
    check_update_person(touched, changes={"family_name": "Edited"}, actor=admin)
    other = Person.objects.get(given_name="Other")
    check_update_person(other, changes={"family_name": "Kept"}, actor=admin)
    # when the import is undone
    result = _undo(run, admin, django_capture_on_commit_callbacks)
    # then Kim is back as she was, the untouched new person is gone, and the two conflicts are named
    kept.refresh_from_db()
    touched.refresh_from_db()
    assert (kept.family_name, kept.display_name) == ("Old", "Kim Old")
    assert list(EmailAddress.objects.filter(person=kept).values_list("normalized", flat=True)) == [
        "kim@example.org"
    ]
    assert touched.family_name == "Edited"
    assert set(Person.objects.values_list("given_name", flat=True)) == {"Kim", "Tom", "Other", "admin"} - {
        "admin"
    }
    assert result["removed"] == 1
    assert {c.get("field") for c in result["conflicts"] if c["person_id"] == touched.pk} >= {"family_name"}
    assert any(c["person_id"] == other.pk for c in result["conflicts"])
    assert result["conflict_count"] == len(result["conflicts"])
    assert ImportRun.objects.get(pk=run.pk).status == ImportRun.Status.UNDONE
    with pytest.raises(ValidationError):
        check_undo_import(ImportRun.objects.get(pk=run.pk), actor=admin)


def test_an_import_by_a_user_only_matches_people_they_may_see(tmp_path, users, team_a):
    from kinfolk.people.services import check_set_restriction

    hidden = make_person(given_name="Hidden", emails=[{"email": "h@example.org"}])
    check_set_restriction(hidden, team_ids=[team_a.pk], actor=SYSTEM)
    path = write_csv(tmp_path / "p.csv", ["First Name", "Email"], [["H", "h@example.org"]])
    run = do_import(path, actor=users["b_member"])
    assert run.summary()["created"] == 1  # not an update of the person they cannot see
    hidden.refresh_from_db()
    assert hidden.given_name == "Hidden"


def test_a_viewer_may_not_import(tmp_path, users):
    from django.core.exceptions import PermissionDenied

    path = write_csv(tmp_path / "p.csv", ["First Name"], [["A"]])
    with pytest.raises((PermissionDenied, ValidationError)):
        check_create_import(path=path, actor=users["a_viewer"])
    assert ImportRowResult.objects.count() == 0


def test_validation_in_worker_processes_gives_the_same_result(tmp_path, team_a):
    path = _file_of(tmp_path)
    inline = do_import(path, batch_size=4, team=team_a, workers=0)
    expected = people_state()
    Person.objects.all().delete()
    parallel = do_import(path, batch_size=4, team=team_a, workers=2)
    assert parallel.summary() == inline.summary()
    assert people_state() == expected


def test_undo_keeps_organisations_others_are_linked_to_by_now(
    tmp_path, admin, django_capture_on_commit_callbacks
):
    from kinfolk.people.models import Affiliation
    from kinfolk.people.services import check_create_affiliation

    existing = make_person(given_name="Eve", emails=[{"email": "eve@example.org"}])
    path = write_csv(tmp_path / "p.csv", ["Email", "Company"], [["eve@example.org", "New Org"]])
    run = do_import(path, actor=admin)
    org = Organisation.objects.get(name="New Org")
    assert list(Affiliation.objects.filter(person=existing).values_list("organisation__name", flat=True)) == [
        "New Org"
    ]
    later = make_person(given_name="Later")
    check_create_affiliation(later, org, data={"title": "Chair"}, actor=admin)
    _undo(run, admin, django_capture_on_commit_callbacks)
    assert Affiliation.objects.filter(person=existing).count() == 0
    assert list(
        Affiliation.objects.filter(organisation=org).values_list("person__given_name", flat=True)
    ) == ["Later"]


def test_only_who_ran_an_import_or_an_administrator_may_undo_it(tmp_path, users):
    run = do_import(write_csv(tmp_path / "p.csv", ["First Name"], [["A"]]), actor=users["a_member"])
    with pytest.raises(ValidationError, match="Only who ran the import"):
        check_undo_import(run, actor=users["b_member"])
    assert Person.objects.filter(given_name="A").count() == 1


@pytest.mark.parametrize("workers", [0, 1])
def test_the_entries_and_keys_an_import_writes_are_those_the_stored_people_give(tmp_path, workers):
    # Given a file with every kind of detail the search entry and the matching keys are made of, a
    # person given twice (folded into one), umlauts, a second email and phone, an address and ids
    from kinfolk.identity.models import MatchKey, MatchProfile
    from kinfolk.identity.services import rebuild_keys
    from kinfolk.search.index import reindex
    from kinfolk.search.models import SearchEntry

    header = ["Vorname", "Nachname", "Email", "Email 2", "Phone", "Phone 2", "Street", "Postcode", "City"]
    header += ["Country", "Birthday", "salesforce id"]
    rows = [
        ["Jürgen", "Müller", "J.Mueller@Example.org", "jm@example.de", "0151 2345 6789", "+49 30 901820"],
        ["Zoë", "O'Brien", "", "", "+44 20 7946 0958", "", "1 High St", "SW1A 1AA", "London", "GB"],
        ["", "", "solo@example.org", "", "", "", "", "", "", "", "", "sf-3"],
        ["Ada", "Lovelace", "ada@example.org", "", "", "", "", "", "", "GB", "10.12.1815", "sf-1"],
        ["Ada", "Lovelace", "", "countess@example.org", "020 7946 0000", "", "", "", "", "GB", "", "sf-1"],
    ]
    rows[0] += ["Hauptstr. 5", "10115", "Berlin", "DE", "1970-01-02", "sf-2"]
    path = write_csv(tmp_path / "p.csv", header, rows)
    # When it is imported (validation inline, or in worker processes)
    run = do_import(path, default_region="DE", workers=workers)
    assert run.summary() == {"created": 4, "updated": 1, "skipped": 0, "rejected": 0, "flagged": 0}
    ids = list(Person.objects.order_by("pk").values_list("pk", flat=True))

    def stored():
        entries = sorted(
            SearchEntry.objects.filter(kind="person").values_list(
                "object_id", "title", "subtitle", "document", "title_key"
            )
        )
        profiles = sorted(MatchProfile.objects.values_list(*[f.attname for f in MatchProfile._meta.fields]))
        keys = sorted(MatchKey.objects.values_list("person_id", "kind", "value"))
        return entries, profiles, keys

    written = stored()
    # Then they are what reading the stored people back gives
    reindex("person", ids)
    rebuild_keys(ids)
    assert stored() == written
    entries, profiles, keys = written
    assert [e[0] for e in entries] == ids and [p[0] for p in profiles] == ids
    assert ("email", "countess@example.org") in {(k, v) for _p, k, v in keys}  # from the folded row
    assert any("mueller" in e[3] and "muller" in e[3] for e in entries)


def test_an_undo_killed_midway_finishes_when_run_again_with_nothing_lost_or_done_twice(tmp_path, admin):
    # Given an import of 7 new people and one update of someone who existed
    from kinfolk.imports import services

    old = make_person(given_name="Old", family_name="Name", emails=[{"email": "old@example.org"}])
    rows = [[f"P{i}", "New", f"p{i}@example.org"] for i in range(7)] + [["Old", "Changed", "old@example.org"]]
    run = do_import(write_csv(tmp_path / "p.csv", ["First Name", "Last Name", "Email"], rows), actor=admin)
    assert run.summary()["created"] == 7
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportRun.Status.UNDOING, undo_state=services._new_undo_state()
    )
    # When undoing is killed after its second chunk of people (chunks of 3)
    chunks = []

    def killed(done):
        chunks.append(done)
        if len(chunks) == 2:
            raise ImportInterrupted

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(services, "UNDO_CHUNK", 3)
        with pytest.raises(ImportInterrupted):
            services.do_undo_import(ImportRun.objects.get(pk=run.pk), actor=admin, progress=killed)
        # then two chunks are gone and the checkpoint says so
        assert Person.objects.filter(family_name="New").count() == 1
        assert ImportRun.objects.get(pk=run.pk).undo_state["removed"] == 6
        # and run again, it finishes: every new person gone once, the old one restored
        result = services.do_undo_import(ImportRun.objects.get(pk=run.pk), actor=admin)
    assert result == {"removed": 7, "restored": 2, "conflicts": [], "conflict_count": 0}
    assert list(Person.objects.values_list("given_name", "family_name")) == [("Old", "Name")]
    assert old.pk == Person.objects.get().pk
    deletions = ChangeRecord.objects.filter(action="delete", object_type__model="person")
    assert deletions.count() == 7 and len(set(deletions.values_list("object_id", flat=True))) == 7
    assert ImportRun.objects.get(pk=run.pk).status == ImportRun.Status.UNDONE


@pytest.mark.parametrize(
    "values",
    [
        {"given_name": "Ada", "family_name": "Lovelace", "display_name": "Ada Lovelace"},
        {"given_name": "", "family_name": "X", "birth_date": datetime.date(1815, 12, 10)},
        {"display_name": "a@example.org", "country": "GB", "is_restricted": True, "language": ""},
        {"given_name": "Zoë", "is_restricted": False, "custom_field_data": {}},
    ],
)
def test_a_new_persons_change_record_is_what_the_audit_makes_of_all_its_fields(values):
    import json

    from kinfolk.core.audit import _json_value, audited_fields
    from kinfolk.imports.writer import RecordTemplate, _detail_summary, creation_changes

    details = {"emails": [{"email": "A@example.org", "normalized": "a@example.org"}], "phones": []}
    # what the audit records of a create: every field at its default, then the values, then the details
    after = {f.name: _json_value(f.get_default()) for f in audited_fields(Person)}
    after.update({k: _json_value(v) for k, v in values.items() if k in after})
    after["emails"] = [_detail_summary("emails", d) for d in details["emails"]]
    assert json.loads(creation_changes(values, details)) == RecordTemplate.changes(after)
