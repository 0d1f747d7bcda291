"""Database helpers: the same rows whichever SQL they choose."""

import pytest

from kinfolk.core.db import ids_lookup
from kinfolk.people.models import EmailAddress, Person
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
