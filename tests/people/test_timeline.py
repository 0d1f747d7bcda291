"""A person's timeline pages newest first by (time, kind, id), whether it reads the relationships or is handed them."""

import pytest
from freezegun import freeze_time

from kinfolk.access.actors import SYSTEM
from kinfolk.activities.services import check_create_activity
from kinfolk.people import services as ps
from kinfolk.people.models import Relationship
from kinfolk.people.timeline import parse_timeline_cursor, person_timeline, timeline_cursor
from tests.conftest import make_person

pytestmark = pytest.mark.django_db


def _keys(items):
    return [(item.kind, item.obj.pk) for item in items]


def test_relationships_handed_in_page_exactly_like_those_read_from_the_database(team_a, admin):
    # given Ada with notes, relationships and the changes they made, several of each at the same moment
    ada = make_person(given_name="Ada", family_name="Lovelace")
    rtype = ps.check_create_relationship_type(
        data={"name": "friend", "forward_label": "friend of", "is_symmetric": True}, actor=SYSTEM
    )
    with freeze_time("2025-03-01 12:00:00"):
        for i in range(3):
            friend = make_person(given_name=f"Friend {i}", family_name="Tied")
            ps.check_create_relationship(ada, friend, rtype, actor=SYSTEM)
            check_create_activity(team=team_a, person=ada, data={"subject": f"Tied {i}"}, actor=SYSTEM)
    for i in range(3):
        ps.check_create_relationship(
            make_person(given_name=f"Friend {i}", family_name="Later"), ada, rtype, actor=SYSTEM
        )
        check_create_activity(team=team_a, person=ada, data={"subject": f"Note {i}"}, actor=SYSTEM)
    relationships = list(
        Relationship.objects.visible_to(admin)
        .involving(ada)
        .select_related("type", "from_person", "to_person")
    )
    everything = person_timeline(ada, actor=admin, limit=100)
    assert {kind for kind, _pk in _keys(everything)} == {"activity", "change", "relationship"}
    # when the page is read with the relationships handed in, then it is the same page
    assert _keys(person_timeline(ada, actor=admin, limit=100, relationships=relationships)) == _keys(
        everything
    )
    # and after every item as a cursor, both ways give exactly the items after it, in order, at any page size
    for position, item in enumerate(everything):
        cursor = parse_timeline_cursor(timeline_cursor(item))
        for limit in (2, 100):
            after = _keys(everything[position + 1 : position + 1 + limit])
            assert _keys(person_timeline(ada, actor=admin, limit=limit, before=cursor)) == after
            handed_in = person_timeline(
                ada, actor=admin, limit=limit, before=cursor, relationships=relationships
            )
            assert _keys(handed_in) == after, (position, limit)
