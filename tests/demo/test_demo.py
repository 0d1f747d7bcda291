"""The demo organisation and the bulk people writer."""

import csv

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType

from kinfolk.access.models import Role, Team, User
from kinfolk.core.context import acting
from kinfolk.core.events import on_event, remove_handler
from kinfolk.core.models import ChangeRecord
from kinfolk.demo import generate, planted_duplicates
from kinfolk.identity.normalize import normalize_email, normalize_phone
from kinfolk.people.bulk import bulk_create_people
from kinfolk.people.models import EmailAddress, ExternalId, Person, PhoneNumber, SocialProfile
from kinfolk.people.services import validate_person
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def created_events():
    seen = []

    def handler(event):
        seen.append(event.object_id)

    on_event("person.created")(handler)
    yield seen
    remove_handler("person.created", handler)


@pytest.fixture
def demo_home(tmp_path, settings):
    settings.HOME = tmp_path
    return tmp_path


def test_bulk_create_people_writes_details_primaries_audit_and_events_after_commit(
    django_capture_on_commit_callbacks, created_events, system
):
    # given two validated people, one with two emails and a social profile
    rows = [
        validate_person(
            {
                "given_name": "Ada",
                "family_name": "Lovelace",
                "country": "GB",
                "emails": [{"email": "Ada@Example.org"}, {"email": "ada@work.example"}],
                "phones": [{"number": "020 7946 0958"}],
                "social_profiles": [{"network": "github", "handle": "ada"}],
            }
        ),
        validate_person({"emails": [{"email": "grace@example.org"}]}),
    ]
    # when they are written in bulk from the command line
    with acting("cli"), django_capture_on_commit_callbacks(execute=False) as callbacks:
        ids = bulk_create_people(rows, actor=system)
        assert created_events == []  # nothing announced before commit
    for callback in callbacks:
        callback()
    # then
    ada, grace = Person.objects.get(pk=ids[0]), Person.objects.get(pk=ids[1])
    assert (ada.display_name, grace.display_name) == ("Ada Lovelace", "grace@example.org")
    assert list(ada.emails.values_list("normalized", "is_primary", "source")) == [
        ("ada@example.org", True, "cli"),
        ("ada@work.example", False, "cli"),
    ]
    assert list(PhoneNumber.objects.filter(person=ada).values_list("number", "is_primary")) == [
        ("+442079460958", True)
    ]
    assert list(SocialProfile.objects.filter(person=ada).values_list("handle", flat=True)) == ["ada"]
    person_type = ContentType.objects.get_for_model(Person)
    records = ChangeRecord.objects.filter(object_type=person_type, object_id__in=ids)
    assert sorted(records.values_list("object_id", "action", "source")) == [
        (ids[0], "create", "cli"),
        (ids[1], "create", "cli"),
    ]
    assert created_events == ids


def test_bulk_create_people_restricted_to_a_team_is_invisible_to_other_teams(system):
    # given two teams and a viewer in the second
    from kinfolk.access.services import check_create_team

    fundraising = check_create_team(data={"name": "Fundraising"}, actor=system)
    events = check_create_team(data={"name": "Events"}, actor=system)
    outsider = make_user("outsider", teams=[(events, Role.MEMBER)])
    insider = make_user("insider", teams=[(fundraising, Role.VIEWER)])
    # when a person is written restricted to Fundraising
    [pid] = bulk_create_people(
        [validate_person({"given_name": "Major"})], actor=system, restricted_to=[fundraising]
    )
    # then
    assert list(Person.objects.visible_to(outsider).filter(pk=pid)) == []
    assert list(Person.objects.visible_to(insider).filter(pk=pid).values_list("pk", flat=True)) == [pid]


def _projection():
    people = Person.objects.order_by("pk")
    return [
        (
            p.given_name,
            p.family_name,
            sorted(e.email for e in p.emails.all()),
            sorted(n.number for n in p.phonenumbers.all()),
        )
        for p in people.prefetch_related("emails", "phonenumbers")
    ]


def test_demo_is_reproducible_by_seed(demo_home):
    # given a demo of 200 people with seed 7
    with acting("cli"):
        generate(people=200, seed=7)
    first = _projection()
    # when the same seed runs again (a second batch is added, not a crash)
    with acting("cli"):
        summary = generate(people=200, seed=7)
    # then the second batch is the same people, and teams are reused
    both = _projection()
    assert len(first) == 200
    assert both[200:] == first
    assert summary["people"] == 200
    assert Team.objects.count() == 4


def test_demo_people_are_named_normalised_and_duplicates_are_known(demo_home):
    # given
    with acting("cli"):
        summary = generate(people=200, seed=3)
    # then every person has a name
    assert Person.objects.filter(display_name="").count() == 0
    assert Person.objects.filter(given_name="", family_name="").count() == 0
    # every email and phone is in its normal form
    for email, normalized in EmailAddress.objects.values_list("email", "normalized"):
        assert normalize_email(email)[1] == normalized
    for number, original in PhoneNumber.objects.values_list("number", "original"):
        assert normalize_phone(number) == number
        assert (
            normalize_phone(original, region=None if original.startswith("+") else _region(number)) == number
        )
    # planted duplicates are 5-10% and read back exactly as the CSV lists them
    pairs = planted_duplicates()
    assert 10 <= len(pairs) <= 20
    assert summary["duplicates planted"] == len(pairs)
    with open(settings.HOME / "demo-duplicates.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((int(r["original person id"]), int(r["duplicate person id"])) for r in rows) == pairs
    assert all(r["kinds of distortion"] for r in rows)
    assert ExternalId.objects.filter(system="demo", value__startswith="dup-of:").count() == len(pairs)
    # every created person is audited with the CLI as source
    person_type = ContentType.objects.get_for_model(Person)
    sources = set(ChangeRecord.objects.filter(object_type=person_type).values_list("source", flat=True))
    assert sources == {"cli"}
    assert ChangeRecord.objects.filter(object_type=person_type, action="create").count() == 200


def _region(number):
    import phonenumbers

    return phonenumbers.region_code_for_number(phonenumbers.parse(number))


def test_demo_restricted_people_are_hidden_from_other_teams(demo_home):
    # given
    with acting("cli"):
        summary = generate(people=400, seed=1)
    restricted = Person.objects.filter(is_restricted=True)
    # then the restricted people are Fundraising's alone
    assert summary["restricted people"] == restricted.count() > 0
    events_user = User.objects.get(username="events")
    fundraiser = User.objects.get(username="fundraiser")
    assert Person.objects.visible_to(events_user).filter(is_restricted=True).count() == 0
    assert Person.objects.visible_to(fundraiser).filter(is_restricted=True).count() == restricted.count()


def test_demo_families_share_a_home_but_strangers_do_not(demo_home):
    # given a demo of 1,000 people
    from collections import Counter

    from kinfolk.identity.matching import given_key
    from kinfolk.people.models import Household, HouseholdMember, PostalAddress

    with acting("cli"):
        summary = generate(people=1000, seed=5)
    # then some people live with relatives, each family one household with one head
    members = list(HouseholdMember.objects.values_list("household_id", "person_id", "role"))
    households = {h for h, _p, _r in members}
    assert summary["households"] == len(households) > 10
    heads = set(Household.objects.values_list("head_id", flat=True))
    assert {p for _h, p, role in members if role == ""} == heads
    assert {role for _h, _p, role in members} == {"", "partner", "child"}
    # relatives have a given name and an email of their own, and the address of their household
    planted = {pid for pair in planted_duplicates() for pid in pair}
    for household in households:
        people = list(
            Person.objects.filter(household_memberships__household_id=household).prefetch_related(
                "emails", "postaladdresss"
            )
        )
        assert len(people) >= 2
        assert len({given_key(p.given_name) for p in people}) == len(people)
        assert len({e.normalized for p in people for e in p.emails.all()}) == len(people)
        homes = {(a.street, a.postal_code) for p in people for a in p.postaladdresss.all()}
        assert len(homes) <= 1
    assert planted
    # outside households and planted duplicates, phones and homes are (nearly) everyone's own
    relatives = {p for _h, p, _r in members}
    numbers = Counter(
        PhoneNumber.objects.exclude(person_id__in=relatives | planted).values_list("number", flat=True)
    )
    assert max(numbers.values()) <= 2
    homes = Counter(
        PostalAddress.objects.exclude(person_id__in=relatives | planted).values_list("street", "postal_code")
    )
    assert max(homes.values()) <= 2


def test_demo_timeline_volume_follows_activities_per_person(demo_home):
    """The benchmark asks 10 timeline items per person (10M at 1M people): spread from 0 to 20 each."""
    from django.db.models import Count

    from kinfolk.activities.models import Activity

    with acting("cli"):
        summary = generate(people=400, seed=3, activities_per_person=10)
    people = Person.objects.count()
    assert summary["activities"] == Activity.objects.count()
    assert 8 * people <= summary["activities"] <= 12 * people
    per_person = Activity.objects.values("person_id").annotate(n=Count("id")).values_list("n", flat=True)
    assert max(per_person) <= 20
    # planted duplicates have a history of their own too, as records another team made would
    planted = {dup for _orig, dup in planted_duplicates()}
    assert Activity.objects.filter(person_id__in=planted).exists()
    with acting("cli"):
        none = generate(people=50, seed=4, activities_per_person=0)
    assert none["activities"] == 0
    with pytest.raises(ValueError, match="activities per person"):
        generate(people=10, activities_per_person=-1)
