"""Merging people and undoing a merge: choices, moved records, permissions, exact restore."""

import datetime

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinfolk.activities.services import check_create_activity
from kinfolk.identity.merge import check_merge_people, check_undo_merge
from kinfolk.identity.models import MergeRecord
from kinfolk.identity.services import rebuild_keys, resolve_person_id
from kinfolk.people import services as people
from kinfolk.people.models import EmailAddress, Person, Relationship
from tests.conftest import make_person, make_team, make_user

pytestmark = pytest.mark.django_db

# Logs that record the merge and its undo: they grow, by design. Every other table must come back.
LOGS = {"core.ChangeRecord", "identity.MergeRecord"}
# Derived rows rebuilt with new ids: compared by content.
BY_CONTENT = {"identity.MatchKey"}


def dump_tables():
    """Every row of every table of every installed app (but the logs), as plain values."""
    state = {}
    for model in apps.get_models(include_auto_created=True):
        label = model._meta.label
        if label in LOGS:
            continue
        rows = list(model._base_manager.order_by("pk").values())
        if label in BY_CONTENT:
            state[label] = sorted(tuple(sorted((k, v) for k, v in r.items() if k != "id")) for r in rows)
        else:
            state[label] = {row[model._meta.pk.attname]: row for row in rows}
    return state


def test_merge_keeps_distinct_details_moves_records_and_resolves_the_old_id(admin):
    # given two records of one person with an email in common and one each of their own
    team = make_team("Fundraising")
    survivor = make_person(given_name="Robert", family_name="Müller", emails=[{"email": "rob@example.org"}])
    merged = make_person(
        given_name="Bob",
        family_name="Mueller",
        birth_date="1980-05-17",
        emails=[{"email": "ROB@example.org"}, {"email": "bob@work.example"}],
    )
    friend = make_person(given_name="Ada", family_name="Lovelace")
    rtype = people.check_create_relationship_type(
        data={"name": "friend", "forward_label": "friend of", "is_symmetric": True}, actor=admin
    )
    people.check_create_relationship(merged, survivor, rtype, actor=admin)
    people.check_create_relationship(merged, friend, rtype, actor=admin)
    note = check_create_activity(
        team=team, data={"kind": "note", "subject": "Called"}, actor=admin, person=merged
    )
    # when they are merged, keeping the survivor's given name
    record = check_merge_people(survivor, merged, choices={"given_name": "survivor"}, actor=admin)
    # then one person remains with both emails once, the birth date, and the moved records
    survivor.refresh_from_db()
    assert not Person.objects.filter(pk=merged.pk).exists()
    assert (survivor.given_name, survivor.family_name, survivor.birth_date) == (
        "Robert",
        "Mueller",
        datetime.date(1980, 5, 17),
    )
    assert sorted(EmailAddress.objects.filter(person=survivor).values_list("email", "is_primary")) == [
        ("bob@work.example", False),
        ("rob@example.org", True),
    ]
    assert list(Relationship.objects.values_list("from_person_id", "to_person_id")) == [
        (survivor.pk, friend.pk)
    ]
    note.refresh_from_db()
    assert note.person_id == survivor.pk
    assert resolve_person_id(merged.pk) == survivor.pk
    assert record.choices["given_name"] == {"from": "survivor", "why": "chosen", "value": "Robert"}
    assert record.choices["family_name"] == {"from": "merged", "why": "most recent", "value": "Mueller"}
    assert record.choices["birth_date"] == {"from": "merged", "why": "most complete", "value": "1980-05-17"}
    assert (record.merged_by, record.actor_label) == (admin, "admin")


def test_merge_needs_change_permission_on_both_people(users, team_b):
    # given a person restricted to team b and one unrestricted
    hidden = make_person(given_name="Robert", restricted_to_teams=[team_b.pk])
    plain = make_person(given_name="Bob")
    # then a member of team a may not merge them, nor a viewer of team b
    with pytest.raises(PermissionDenied):
        check_merge_people(plain, hidden, actor=users["a_member"])
    with pytest.raises(PermissionDenied):
        check_merge_people(plain, hidden, actor=users["b_viewer"])
    assert Person.objects.filter(pk=hidden.pk).exists()


def test_undo_refuses_when_the_survivor_changed_since(admin):
    survivor = make_person(given_name="Robert", emails=[{"email": "rob@example.org"}])
    merged = make_person(given_name="Bob", emails=[{"email": "bob@example.org"}])
    record = check_merge_people(survivor, merged, actor=admin)
    people.check_add_detail(survivor, "emails", data={"email": "new@example.org"}, actor=admin)
    with pytest.raises(ValidationError, match="changed since the merge"):
        check_undo_merge(record, actor=admin)


def test_the_more_trusted_source_wins_over_the_more_recent_change(admin):
    from kinfolk.core.context import acting

    # given a person typed in by a user, and a later import of the same person under a nickname
    with acting("ui"):
        typed = make_person(given_name="Robert", family_name="Müller", pronouns="he/him")
    with acting("import"):
        imported = make_person(given_name="Bob", family_name="Müller", pronouns="they/them", language="de")
    # when the imported record is kept as the survivor
    record = check_merge_people(imported, typed, actor=admin)
    imported.refresh_from_db()
    # then the values typed in the UI win, and the import's extra value is kept
    assert (imported.given_name, imported.pronouns, imported.language) == ("Robert", "he/him", "de")
    assert record.choices["given_name"] == {"from": "merged", "why": "trusted source", "value": "Robert"}
    assert record.choices["language"] == {"from": "survivor", "why": "kept", "value": "de"}


def test_a_full_name_wins_over_an_initial_and_choices_are_checked(admin):
    survivor = make_person(given_name="R.", family_name="Müller")
    merged = make_person(given_name="Robert", family_name="Müller")
    with pytest.raises(ValidationError) as caught:
        check_merge_people(
            survivor, merged, choices={"given_name": "both", "shoe_size": "merged"}, actor=admin
        )
    assert caught.value.message_dict == {
        "choices.shoe_size": [
            "Not a field a merge can choose; expected one of given_name, middle_name, family_name, "
            "display_name, preferred_name, prefix, suffix, pronouns, language, time_zone, country, "
            "birth_date, addressing_notes."
        ]
    }
    record = check_merge_people(survivor, merged, actor=admin)
    assert record.choices["given_name"] == {"from": "merged", "why": "most complete", "value": "Robert"}


def test_team_data_households_lists_and_restrictions_move_to_the_survivor(admin):
    team = make_team("Fundraising")
    survivor = make_person(given_name="Robert")
    merged = make_person(given_name="Bob", restricted_to_teams=[team.pk])
    household = people.check_create_household(data={"name": "Home"}, actor=admin)
    people.check_add_household_member(household, merged, role="partner", head=True, actor=admin)
    appeal = people.check_create_list(team=team, data={"name": "Spring appeal"}, actor=admin)
    people.check_add_to_list(appeal, merged, actor=admin)
    people.check_add_to_list(appeal, survivor, actor=admin)
    rtype = people.check_create_relationship_type(
        data={"name": "spouse", "forward_label": "spouse of", "is_symmetric": True}, actor=admin
    )
    people.check_create_relationship(survivor, merged, rtype, actor=admin)
    # when merged
    check_merge_people(survivor, merged, actor=admin)
    survivor.refresh_from_db()
    household.refresh_from_db()
    # then the household's head, the list (once), and the restriction follow; no one is their own spouse
    assert household.head_id == survivor.pk
    assert list(household.members.values_list("person_id", flat=True)) == [survivor.pk]
    assert list(appeal.memberships.values_list("person_id", flat=True)) == [survivor.pk]
    assert survivor.is_restricted is True
    assert list(survivor.restrictions.values_list("team_id", flat=True)) == [team.pk]
    assert Relationship.objects.count() == 0


def test_a_merged_away_id_resolves_through_a_chain_and_back_after_undo(admin):
    a, b, c = (make_person(given_name=n) for n in ("Ann", "Anne", "Anna"))
    first = check_merge_people(b, a, actor=admin)
    second = check_merge_people(c, b, actor=admin)
    assert resolve_person_id(a.pk) == c.pk
    with pytest.raises(ValidationError) as caught:
        check_undo_merge(first, actor=admin)
    assert caught.value.messages == [
        f"Person {b.pk} was merged into person {c.pk} since; undo that merge first."
    ]
    check_undo_merge(second, actor=admin)
    check_undo_merge(MergeRecord.objects.get(pk=first.pk), actor=admin)
    assert [resolve_person_id(p.pk) for p in (a, b, c)] == [a.pk, b.pk, c.pk]
    with pytest.raises(ValidationError, match="already undone"):
        check_undo_merge(MergeRecord.objects.get(pk=first.pk), actor=admin)


people_data = st.fixed_dictionaries(
    {
        "given_name": st.sampled_from(["Robert", "Bob", "Anna", ""]),
        "family_name": st.sampled_from(["Müller", "Mueller", "Smith"]),
        "birth_date": st.sampled_from([None, "1980-05-17", "1990-01-02"]),
        "emails": st.lists(
            st.sampled_from(["a@example.org", "b@example.org", "c@example.org"]), unique=True, max_size=3
        ),
        "phones": st.lists(st.sampled_from(["+442079460958", "+4930901820"]), unique=True, max_size=2),
        "ext": st.lists(st.sampled_from(["A1", "A2"]), unique=True, max_size=2),
        "tag": st.booleans(),
        "related": st.booleans(),
        "household": st.booleans(),
        "note": st.booleans(),
        "restricted": st.booleans(),
        "listed": st.booleans(),
        "address": st.sampled_from([None, ("10115", "Hauptstr. 5"), ("10115", "Hauptstraße 5")]),
        "affiliated": st.booleans(),
    }
)


def _make(admin, team, tag, rtype, household, other, spec, system, extras):
    appeal, organisation = extras
    person = make_person(
        given_name=spec["given_name"] or "X",
        family_name=spec["family_name"],
        birth_date=spec["birth_date"],
        emails=[{"email": e} for e in spec["emails"]],
        phones=[{"number": p} for p in spec["phones"]],
        external_ids=[{"system": system, "value": v} for v in spec["ext"]],
        addresses=[{"postal_code": spec["address"][0], "street": spec["address"][1], "country": "DE"}]
        if spec["address"]
        else [],
        restricted_to_teams=[team.pk] if spec["restricted"] else [],
    )
    if spec["listed"]:
        people.check_add_to_list(appeal, person, actor=admin)
    if spec["affiliated"]:
        people.check_create_affiliation(person, organisation, data={"role": "employee"}, actor=admin)
    if spec["tag"]:
        people.check_tag(person, tag, team=team, actor=admin)
    if spec["related"]:
        people.check_create_relationship(person, other, rtype, actor=admin)
    if spec["household"]:
        people.check_add_household_member(household, person, role="partner", head=True, actor=admin)
    if spec["note"]:
        check_create_activity(
            team=team, data={"kind": "note", "subject": "hello"}, actor=admin, person=person
        )
    return person


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=people_data, second=people_data, swap_related=st.booleans())
def test_merge_then_undo_leaves_every_table_as_it_was(django_db_blocker, first, second, swap_related):
    from django.db import transaction

    with transaction.atomic():
        admin = make_user(admin=True)
        team = make_team(f"Team {first['given_name']}{second['family_name']}{swap_related}")
        tag = people.check_create_tag(data={"name": "donor"}, team=team, actor=admin)
        rtype = people.check_create_relationship_type(
            data={"name": f"rel{Person.objects.count()}", "forward_label": "knows"}, actor=admin
        )
        household = people.check_create_household(data={"name": "Home"}, actor=admin)
        other = make_person(given_name="Other")
        extras = (
            people.check_create_list(team=team, data={"name": "Appeal"}, actor=admin),
            people.check_create_organisation(data={"name": "ACME Ltd"}, actor=admin),
        )
        survivor = _make(admin, team, tag, rtype, household, other, first, "crm", extras)
        merged = _make(admin, team, tag, rtype, household, other, second, "web", extras)
        if swap_related:
            people.check_create_relationship(merged, survivor, rtype, actor=admin)
        rebuild_keys()  # as the events of the committed writes would have
        before = dump_tables()
        # when merged then undone
        record = check_merge_people(survivor, merged, actor=admin)
        assert dump_tables() != before
        check_undo_merge(MergeRecord.objects.get(pk=record.pk), actor=admin)
        # then every row is back, same ids and values
        assert dump_tables() == before
        assert resolve_person_id(merged.pk) == merged.pk
        transaction.set_rollback(True)
