"""Database helpers: the same rows whichever SQL they choose."""

import math

import pytest
from django.db import DatabaseError, connection, transaction

from kinfolk.access.actors import SYSTEM
from kinfolk.core.db import GrowthStatistics, fetch_each, ids_lookup, refresh_statistics, rows_for_each
from kinfolk.imports.services import check_create_import
from kinfolk.people.models import EmailAddress, Person, PhoneNumber
from tests.conftest import make_person


def test_consecutive_ascending_ids_become_a_range_and_anything_else_a_list():
    assert ids_lookup("pk", [4, 5, 6]) == {"pk__gte": 4, "pk__lte": 6}
    assert ids_lookup("person_id", range(7, 10)) == {"person_id__gte": 7, "person_id__lte": 9}
    assert ids_lookup("pk", [4, 6, 7]) == {"pk__in": [4, 6, 7]}
    assert ids_lookup("pk", [6, 5, 4]) == {"pk__in": [6, 5, 4]}
    assert ids_lookup("pk", [4, 4, 5]) == {"pk__in": [4, 4, 5]}
    assert ids_lookup("pk", [4]) == {"pk__in": [4]}
    assert ids_lookup("pk", []) == {"pk__in": []}


@pytest.mark.django_db
def test_a_range_and_a_list_find_the_same_people_and_details():
    people = [make_person(given_name=f"P{i}", emails=[{"email": f"p{i}@example.org"}]) for i in range(4)]
    ids = [p.pk for p in people]
    for chosen in (ids[:3], ids[1:], [ids[0], ids[2]], [ids[0]]):
        found = Person.objects.filter(**ids_lookup("pk", chosen)).values_list("pk", flat=True)
        assert sorted(found) == sorted(chosen)
        owners = EmailAddress.objects.filter(**ids_lookup("person_id", chosen)).values_list(
            "person_id", flat=True
        )
        assert sorted(owners) == sorted(chosen)


def _estimated_rows(model):
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_statistics_are_refreshed_each_time_a_table_has_grown_by_half_on_postgresql():
    stats = GrowthStatistics(Person, EmailAddress, minimum=2, growth=0.5)
    for i in range(3):
        make_person(given_name=f"S{i}", emails=[{"email": f"s{i}@example.org"}])
    stats.added(3)
    if connection.vendor != "postgresql":
        # SQLite plans these lookups by index without statistics; its ANALYZE would read every row
        assert stats.refreshed == 0
        return
    assert stats.refreshed == 1
    people = Person.objects.count()
    assert _estimated_rows(Person) == people and _estimated_rows(EmailAddress) >= 3
    threshold = max(2, 0.5 * people)
    grown = math.ceil(threshold)
    for i in range(grown):
        make_person(given_name=f"T{i}")
    stats.added(grown - 1)
    assert stats.refreshed == 1, "not yet grown by half"
    stats.added(1)
    assert stats.refreshed == 2
    assert _estimated_rows(Person) == people + grown


@pytest.mark.django_db
def test_a_long_import_keeps_the_statistics_of_the_tables_it_fills(tmp_path):
    from kinfolk.imports.engine import Engine
    from kinfolk.imports.models import ImportRun
    from tests.imports.helpers import write_csv

    if connection.vendor == "postgresql":
        refresh_statistics(Person)  # statistics of what the table holds now, as autovacuum would leave them
    rows = [[f"G{i}", f"F{i}", f"g{i}@example.org", f"+4915112346{i:03d}"] for i in range(40)]
    path = write_csv(tmp_path / "grow.csv", ["First Name", "Last Name", "Email", "Phone"], rows)
    run = check_create_import(path=path, actor=SYSTEM)
    engine = Engine(ImportRun.objects.get(pk=run.pk), batch_size=5)
    engine.execute()
    assert Person.objects.filter(emails__normalized__startswith="g").count() == 40
    if connection.vendor == "postgresql":
        assert engine.statistics.refreshed >= 2
        # the last refresh saw all but at most half of what the table holds now
        assert _estimated_rows(Person) >= Person.objects.count() / 1.5
    else:
        assert engine.statistics.refreshed == 0


@pytest.mark.django_db
def test_rows_for_each_gives_what_the_orm_gives_in_the_order_asked():
    people = [
        make_person(
            given_name=f"R{i}",
            emails=[{"email": f"r{i}@example.org"}, {"email": f"r{i}.b@example.org"}],
            phones=[{"number": f"+4915112347{i:03d}"}] if i % 2 else [],
        )
        for i in range(3)
    ]
    ids = [p.pk for p in people]
    emails, phones, none, one = rows_for_each(
        [
            (EmailAddress, "person_id", ids),
            (PhoneNumber, "person_id", ids + ids),  # repeated ids count once
            (EmailAddress, "person_id", []),
            (EmailAddress, "person_id", ids[:1]),
        ]
    )
    assert emails == list(EmailAddress.objects.filter(person_id__in=ids))
    assert [(e.person_id, e.email) for e in emails] == [
        (e.person_id, e.email) for e in EmailAddress.objects.filter(person_id__in=ids)
    ]
    assert phones == list(PhoneNumber.objects.filter(person_id__in=ids)) and len(phones) == 1
    assert none == []
    assert one == list(EmailAddress.objects.filter(person_id=ids[0]))
    assert all(type(e.created_at) is type(EmailAddress.objects.first().created_at) for e in emails)


@pytest.mark.django_db
def test_statements_sent_together_fail_as_django_errors_and_leave_the_connection_usable():
    with pytest.raises(DatabaseError), transaction.atomic():
        fetch_each(connection, [("SELECT 1", []), ("SELECT * FROM no_such_table", []), ("SELECT 2", [])])
    assert fetch_each(connection, [("SELECT %s", [3]), ("SELECT %s", [4])]) == [[(3,)], [(4,)]]
    assert Person.objects.count() >= 0


@pytest.mark.django_db
def test_rows_for_each_gives_rows_of_only_the_fields_asked_for_as_instances_hold_them():
    people = [make_person(given_name=f"O{i}", emails=[{"email": f"o{i}@example.org"}]) for i in range(3)]
    ids = [p.pk for p in people]
    fields = ("person_id", "id", "email", "created_at", "is_primary")
    (rows,) = rows_for_each([(EmailAddress, "person_id", ids, fields)], as_rows=True)
    instances = list(EmailAddress.objects.filter(person_id__in=ids))
    assert [sorted(vars(row)) for row in rows] == [sorted(fields)] * 3
    assert [{name: getattr(row, name) for name in fields} for row in rows] == [
        {name: getattr(instance, name) for name in fields} for instance in instances
    ]


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the server prepares statements on PostgreSQL")
def test_a_statement_run_often_is_prepared_by_the_server_and_logged_with_its_parameters():
    from django.test.utils import CaptureQueriesContext

    sql = "SELECT id FROM people_person WHERE id = %s AND is_restricted = %s"
    with CaptureQueriesContext(connection) as queries:
        for n in range(1, 8):
            assert fetch_each(connection, [(sql, [n, False])]) == [[]]
    assert [q["sql"] for q in queries] == [
        f"SELECT id FROM people_person WHERE id = {n} AND is_restricted = false" for n in range(1, 8)
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert "SELECT id FROM people_person WHERE id = $1 AND is_restricted = $2" in prepared
