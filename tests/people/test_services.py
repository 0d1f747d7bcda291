"""People services: validation that names field, value and expectation; details, relationships, tags, lists."""

import pytest
from django.core.exceptions import ValidationError

from kinfolk.access.actors import SYSTEM
from kinfolk.core.models import ChangeRecord
from kinfolk.people import services as ps
from kinfolk.people.models import (
    EmailAddress,
    ExternalId,
    HouseholdMember,
    ListMembership,
    Person,
    PersonTag,
    PhoneNumber,
    Relationship,
)
from tests.conftest import make_person, make_team, make_user

pytestmark = pytest.mark.django_db


def _errors(**data):
    with pytest.raises(ValidationError) as info:
        make_person(**data)
    return info.value.message_dict


@pytest.mark.parametrize(
    ("data", "key", "value", "expectation"),
    [
        ({"emails": [{"email": "not-an-email"}]}, "emails[0].email", "not-an-email", "name@example.org"),
        ({"phones": [{"number": "12ab"}]}, "phones[0].number", "12ab", "+44 20 7946 0958"),
        ({"birth_date": "31/02/2020"}, "birth_date", "31/02/2020", "YYYY-MM-DD"),
        ({"country": "Atlantis"}, "country", "Atlantis", "ISO 3166"),
        ({"language": "english!"}, "language", "english!", "BCP 47"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "Mars/Olympus", "Europe/Berlin"),
        ({"addresses": [{"country": "Nowhere"}]}, "addresses[0].country", "Nowhere", "ISO 3166"),
        ({"favourite_colour": "blue"}, "favourite_colour", "favourite_colour", "expected one of"),
    ],
)
def test_bad_value_names_field_value_and_expectation(data, key, value, expectation):
    # Given a person with one bad value / When created / Then the error is keyed by the field path
    errors = _errors(**data)
    assert list(errors) == [key]
    [message] = errors[key]
    assert value in message and expectation in message
    # And nothing was written
    assert (Person.objects.count(), ChangeRecord.objects.count()) == (0, 0)


def test_missing_name_is_an_error_on_given_name():
    errors = _errors(given_name="", family_name="")
    assert list(errors) == ["given_name"]


def test_one_bad_nested_detail_writes_nothing():
    errors = _errors(
        given_name="Ada",
        emails=[{"email": "ada@example.org"}, {"email": "ada@@bad"}],
        phones=[{"number": "+44 20 7946 0958"}],
    )
    assert list(errors) == ["emails[1].email"]
    assert (Person.objects.count(), EmailAddress.objects.count(), PhoneNumber.objects.count()) == (0, 0, 0)
    assert ChangeRecord.objects.count() == 0


def test_email_given_twice_is_an_error():
    errors = _errors(emails=[{"email": "a@example.org"}, {"email": "A@EXAMPLE.org"}])
    assert list(errors) == ["emails[1].email"]


def test_first_detail_is_primary_and_a_new_primary_takes_over():
    person = make_person(emails=[{"email": "one@example.org"}])
    two = ps.check_add_detail(
        person, "emails", data={"email": "two@example.org", "is_primary": True}, actor=SYSTEM
    )
    three = ps.check_add_detail(person, "emails", data={"email": "three@example.org"}, actor=SYSTEM)
    assert list(person.emails.order_by("id").values_list("email", "is_primary")) == [
        ("one@example.org", False),
        ("two@example.org", True),
        ("three@example.org", False),
    ]
    # When the primary one is removed / Then the oldest remaining one becomes primary
    ps.check_remove_detail(two, actor=SYSTEM)
    assert list(person.emails.filter(is_primary=True).values_list("email", flat=True)) == ["one@example.org"]
    assert three.pk in set(person.emails.values_list("pk", flat=True))


def test_detail_remembers_team_and_source():
    team = make_team("Events")
    person = make_person(team=team, phones=[{"number": "020 7946 0958", "region": "GB"}])
    phone = person.phonenumbers.get()
    assert (phone.number, phone.original, phone.added_by_team, phone.source) == (
        "+442079460958",
        "020 7946 0958",
        team,
        "shell",
    )


def test_display_name_composition():
    person = make_person(given_name="Augusta", preferred_name="Ada", family_name="King")
    assert person.display_name == "Ada King"
    ps.check_update_person(person, changes={"family_name": "Lovelace"}, actor=SYSTEM)
    assert person.display_name == "Ada Lovelace"
    ps.check_update_person(person, changes={"display_name": "Countess of Lovelace"}, actor=SYSTEM)
    ps.check_update_person(person, changes={"given_name": "Augusta Ada"}, actor=SYSTEM)
    assert person.display_name == "Countess of Lovelace"
    only_email = make_person(given_name="", family_name="", emails=[{"email": "x@example.org"}])
    assert only_email.display_name == "x@example.org"


def test_external_id_unique_per_system():
    make_person(external_ids=[{"system": "Shop", "value": "42"}])
    make_person(external_ids=[{"system": "crm", "value": "42"}])
    errors = _errors(external_ids=[{"system": "shop", "value": "42"}])
    assert list(errors) != []
    assert ExternalId.objects.filter(system="shop", value="42").count() == 1


def test_relationship_reads_from_both_sides():
    parent, child = make_person(given_name="Pat"), make_person(given_name="Kim")
    rtype = ps.check_create_relationship_type(
        data={"name": "parent", "forward_label": "parent of", "reverse_label": "child of"}, actor=SYSTEM
    )
    rel = ps.check_create_relationship(parent, child, rtype, actor=SYSTEM)
    assert (rel.label_for(parent), rel.label_for(child)) == ("parent of", "child of")
    assert list(Relationship.objects.involving(child)) == [rel]


def test_symmetric_relationship_is_not_doubled():
    one, two = make_person(), make_person()
    rtype = ps.check_create_relationship_type(
        data={"name": "sibling", "forward_label": "sibling of", "is_symmetric": True}, actor=SYSTEM
    )
    ps.check_create_relationship(one, two, rtype, actor=SYSTEM)
    with pytest.raises(ValidationError):
        ps.check_create_relationship(two, one, rtype, actor=SYSTEM)
    assert Relationship.objects.count() == 1


def test_household_head_and_members():
    one, two = make_person(), make_person()
    household = ps.check_create_household(data={"name": "The Kings"}, actor=SYSTEM)
    head = ps.check_add_household_member(household, one, head=True, actor=SYSTEM)
    ps.check_add_household_member(household, two, role="child", actor=SYSTEM)
    household.refresh_from_db()
    assert household.head == one
    ps.check_remove_household_member(head, actor=SYSTEM)
    household.refresh_from_db()
    assert household.head is None
    assert list(HouseholdMember.objects.values_list("person_id", "role")) == [(two.pk, "child")]


def test_tags_are_applied_on_behalf_of_a_team():
    team, other = make_team("Events"), make_team("Sales")
    member = make_user("m", teams=[(team, "member")])
    person = make_person()
    tag = ps.check_create_tag(data={"name": "vip"}, team=team, actor=member)
    tagging = ps.check_tag(person, tag, actor=member)
    assert (tagging.team, ps.check_tag(person, tag, actor=member)) == (team, tagging)
    with pytest.raises(ValidationError) as info:
        ps.check_tag(person, tag, team=other, actor=member)
    assert list(info.value.message_dict) == ["tag"]
    global_tag = ps.check_create_tag(data={"name": "press"}, actor=SYSTEM)
    with pytest.raises(ValidationError) as info:
        ps.check_tag(person, global_tag, actor=member)
    assert list(info.value.message_dict) == ["team"]
    assert PersonTag.objects.count() == 1


def test_lists_add_remove_and_delete():
    team = make_team("Events")
    member = make_user("m", teams=[(team, "member")])
    person = make_person()
    gala = ps.check_create_list(team=team, data={"name": "Gala"}, actor=member)
    entry = ps.check_add_to_list(gala, person, actor=member)
    assert ps.check_add_to_list(gala, person, actor=member) == entry
    assert entry.added_by == member
    ps.check_delete_list(gala, actor=member)
    assert ListMembership.objects.count() == 0
    assert ChangeRecord.objects.filter(action="delete").count() == 2


def test_delete_person_cascades_with_audit():
    team = make_team("Events")
    manager = make_user("boss", teams=[(team, "manager")])
    person = make_person(
        emails=[{"email": "a@example.org"}],
        phones=[{"number": "+44 20 7946 0958"}],
        external_ids=[{"system": "s", "value": "1"}],
    )
    other = make_person()
    rtype = ps.check_create_relationship_type(
        data={"name": "friend", "forward_label": "friend of"}, actor=SYSTEM
    )
    ps.check_create_relationship(person, other, rtype, actor=SYSTEM)
    tag = ps.check_create_tag(data={"name": "vip"}, team=team, actor=manager)
    ps.check_tag(person, tag, actor=manager)
    ps.check_delete_person(person, actor=manager)
    deleted = sorted(
        ChangeRecord.objects.filter(action="delete").values_list("object_type__model", flat=True)
    )
    assert deleted == ["emailaddress", "externalid", "person", "persontag", "phonenumber", "relationship"]
    assert Person.objects.count() == 1
    assert ChangeRecord.objects.filter(person_id=other.pk, action="unlink").count() == 1
