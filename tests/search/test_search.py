"""Global search on the database in use: accents, typos, emails and phones, visibility, and an index kept current."""

import pytest

from kinfolk.access.actors import SYSTEM
from kinfolk.people import services as ps
from kinfolk.search import search
from kinfolk.search.index import bulk_indexing, reindex_all
from kinfolk.search.models import SearchEntry
from kinfolk.search.query import matching_ids_sql
from tests.conftest import make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the after-commit events (the index handlers) of the block, as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def titles(results):
    return [r.title for r in results]


def test_accent_insensitive_and_german_spelling(admin, committed):
    # Given Jürgen Müller and an unrelated person
    with committed():
        make_person(given_name="Jürgen", family_name="Müller")
        make_person(given_name="Ada", family_name="Lovelace")
    # When searching without the accent, with the German spelling, or with it / Then Müller is found, alone
    for query in ("muller", "Mueller", "Müller", "jurgen mul", "MÜLL"):
        assert titles(search(admin, query)) == ["Jürgen Müller"], query


def test_typos_are_tolerated_but_unrelated_names_are_not_found(admin, committed):
    with committed():
        make_person(given_name="Jürgen", family_name="Müller")
        make_person(given_name="Lisa", family_name="Mills")
    assert titles(search(admin, "mulller")) == ["Jürgen Müller"]
    assert titles(search(admin, "mueler")) == ["Jürgen Müller"]
    assert titles(search(admin, "zzzqqq")) == []


def test_email_phone_and_short_prefixes(admin, committed):
    with committed():
        make_person(
            given_name="Ada",
            family_name="Lovelace",
            emails=[{"email": "countess@analytical.example"}],
            phones=[{"number": "+49 151 23456789"}],
        )
        make_person(given_name="Adam", family_name="Smith")
    assert titles(search(admin, "countess@analyt")) == ["Ada Lovelace"]
    assert titles(search(admin, "015123456")) == ["Ada Lovelace"]
    assert titles(search(admin, "+4915123")) == ["Ada Lovelace"]
    assert titles(search(admin, "ad")) == ["Ada Lovelace", "Adam Smith"]
    assert search(admin, "countess")[0].subtitle == "countess@analytical.example · +4915123456789"


def test_organisations_and_lists_are_found_with_their_kind(admin, team_a, committed):
    with committed():
        org = ps.check_create_organisation(
            data={"name": "Zürich Rowing Club", "domains": ["rowing.example"]}, actor=admin
        )
        lst = ps.check_create_list(team=team_a, data={"name": "Rowing gala guests"}, actor=admin)
    results = search(admin, "rowing")
    assert {(r.kind, r.object_id) for r in results} == {("organisation", org.pk), ("list", lst.pk)}
    assert [r.kind for r in search(admin, "zurich", kinds=["organisation"])] == ["organisation"]
    assert search(admin, "rowing", kinds=["person"]) == []


def test_restricted_people_and_hidden_lists_are_only_found_by_those_who_may_see_them(
    users, team_a, team_b, committed
):
    from kinfolk.access.services import check_update_team

    with committed():
        make_person(
            actor=users["b_member"], given_name="Hidden", family_name="Donor", restricted_to_teams=[team_b.pk]
        )
        check_update_team(team_b, changes={"sharing": "team"}, actor=SYSTEM)
        ps.check_create_list(team=team_b, data={"name": "Donor circle"}, actor=users["b_member"])
    assert titles(search(users["b_viewer"], "donor")) == ["Donor circle", "Hidden Donor"]
    assert titles(search(users["a_manager"], "donor")) == []
    assert titles(search(users["a_manager"], "hiden donr")) == []


def test_the_index_follows_every_change_through_the_services(admin, committed):
    # Given a person in the index
    with committed():
        person = make_person(given_name="Grace", family_name="Hopper")
    # When their name changes, an email is added, then they are deleted
    with committed():
        ps.check_update_person(person, changes={"family_name": "Brewster"}, actor=admin)
    assert titles(search(admin, "brewster")) == ["Grace Brewster"]
    assert search(admin, "hopper") == []
    with committed():
        ps.check_add_detail(person, "emails", data={"email": "amazing@navy.example"}, actor=admin)
    assert titles(search(admin, "amazing@")) == ["Grace Brewster"]
    with committed():
        ps.check_delete_person(person, actor=admin)
    # Then search follows, and nothing of the person is left in the index
    assert search(admin, "grace") == []
    assert not SearchEntry.objects.filter(kind="person", object_id=person.pk).exists()


def test_an_update_of_fields_the_entry_is_not_made_of_leaves_the_entry_as_it_is(admin, committed):
    # Given a person in the index
    with committed():
        person = make_person(given_name="Katherine", family_name="Johnson")
    entry = SearchEntry.objects.get(kind="person", object_id=person.pk)
    # When only their birth date and language change, the entry is not rewritten
    with committed():
        ps.check_update_person(person, changes={"birth_date": "1918-08-26", "language": "en"}, actor=admin)
    assert SearchEntry.objects.get(kind="person", object_id=person.pk).pk == entry.pk
    # When their preferred name changes with them, it is
    with committed():
        ps.check_update_person(
            person, changes={"preferred_name": "Kate", "birth_date": "1918-08-27"}, actor=admin
        )
    rewritten = SearchEntry.objects.get(kind="person", object_id=person.pk)
    assert rewritten.pk != entry.pk and "kate" in rewritten.document
    assert titles(search(admin, "kate")) == ["Kate Johnson"]


def test_bulk_indexing_writes_once_at_the_end(admin, committed):
    with committed(), bulk_indexing():
        for i in range(5):
            make_person(given_name=f"Bulk{i}", family_name="Loaded")
        # inside the block the events were only noted
        assert SearchEntry.objects.filter(kind="person").count() == 0
    assert SearchEntry.objects.filter(kind="person").count() == 5
    assert len(search(admin, "loaded")) == 5


def test_reindex_all_rebuilds_from_the_database(admin):
    # Given people created without their events running (as a raw bulk load would)
    make_person(given_name="Katherine", family_name="Johnson")
    make_person(given_name="Dorothy", family_name="Vaughan")
    assert search(admin, "johnson") == []
    # When the index is rebuilt / Then everyone is found
    assert reindex_all() == {"person": 2, "organisation": 0, "list": 0}
    assert titles(search(admin, "johnson")) == ["Katherine Johnson"]
    assert reindex_all()["person"] == 2  # again: same entries, no doubles
    assert SearchEntry.objects.count() == 2


def test_matching_ids_subquery_for_list_filters(admin, committed):
    from django.db.models.expressions import RawSQL

    from kinfolk.people.models import Person

    with committed():
        ada = make_person(given_name="Ada", family_name="Lovelace")
        make_person(given_name="Charles", family_name="Babbage")
    sql = matching_ids_sql("person", "lovelace")
    assert list(Person.objects.filter(pk__in=RawSQL(*sql)).values_list("pk", flat=True)) == [ada.pk]
    assert matching_ids_sql("person", "  ") is None


def test_queries_that_are_not_words_find_nothing_and_never_fail(admin, committed):
    with committed():
        make_person(given_name="Ada", family_name="Lovelace")
    for query in ("", "   ", '"', "'", "a:*&|!()", "%_%", "\\", "*" * 300, "ä" * 200):
        assert search(admin, query) == [], query


def test_the_demo_loader_indexes_everyone_it_creates(admin, committed):
    from kinfolk.demo import generate
    from kinfolk.people.models import List, Organisation, Person

    with committed():
        generate(people=60, seed=3)
    assert SearchEntry.objects.filter(kind="person").count() == Person.objects.count() == 60
    assert SearchEntry.objects.filter(kind="organisation").count() == Organisation.objects.count()
    assert SearchEntry.objects.filter(kind="list").count() == List.objects.count() == 3
    someone = Person.objects.order_by("pk").first()
    assert someone.pk in {r.object_id for r in search(admin, someone.display_name, limit=20)}


def test_the_reindex_command(admin):
    from io import StringIO

    from django.core.management import call_command

    make_person(given_name="Mary", family_name="Jackson")
    out = StringIO()
    call_command("search_reindex", stdout=out)
    assert out.getvalue().strip() == "person: 1, organisation: 0, list: 0"
    assert titles(search(admin, "jackson")) == ["Mary Jackson"]


def test_short_words_stay_with_their_neighbour_for_the_trigram_index():
    from kinfolk.search.backends import trigram_terms

    assert trigram_terms(["muller", "4"]) == ["muller 4"]
    assert trigram_terms(["ada", "lo", "x"]) == ["ada lo x"]
    assert trigram_terms(["4", "muller", "ada"]) == ["4 muller", "ada"]
    assert trigram_terms(["a", "b"]) == ["a b"]
    assert trigram_terms(["a"]) == []
