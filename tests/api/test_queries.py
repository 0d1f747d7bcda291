"""No N+1: a list endpoint makes as many queries for many records as for a few."""

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kinfolk.access.actors import SYSTEM
from kinfolk.access.models import Role
from kinfolk.activities.services import check_create_activity
from kinfolk.identity.merge import check_merge_people
from kinfolk.identity.services import run_duplicate_detection
from kinfolk.people import services as ps
from tests.api.conftest import Api, make_token
from tests.conftest import make_person, make_team, make_user

pytestmark = pytest.mark.django_db
_n = itertools.count()
LAST = []  # the SQL of the last measured request, shown when a count differs


def _data_queries(queries):
    """The queries that read data: the rate counter (a new window every minute) and the token's
    last-use note (once a minute) cost a few statements at a clock boundary, whatever the page holds."""
    return [
        q["sql"]
        for q in queries
        if "api_ratecounter" not in q["sql"]
        and not q["sql"].startswith('UPDATE "access_apitoken"')
        and "SAVEPOINT" not in q["sql"]
        and not q["sql"].startswith("SET LOCAL")  # the rate counter's relaxed commit on PostgreSQL
    ]


def _person(w):
    return make_person(
        actor=w["user"],
        emails=[{"email": f"p{next(_n)}@example.org"}],
        phones=[{"number": f"+44 20 7946 {next(_n) % 10000:04d}"}],
        addresses=[{"locality": "Leeds", "country": "GB"}],
        social_profiles=[{"network": "github", "handle": f"h{next(_n)}"}],
        external_ids=[{"system": "shop", "value": str(next(_n))}],
        restricted_to_teams=[w["team"].pk],
    )


def _pair(w):
    """Two look-alike people (a candidate pair once the batch run has looked)."""
    email = f"twin{next(_n)}@example.org"
    pair = [
        make_person(
            actor=w["user"], given_name="Twin", emails=[{"email": email}], restricted_to_teams=[w["team"].pk]
        )
        for _ in range(2)
    ]
    run_duplicate_detection(rebuild=True)
    return pair


def _org(w):
    org = ps.check_create_organisation(data={"name": f"Org {next(_n)}"}, actor=w["user"])
    ps.check_add_detail(org, "phones", data={"number": "+44 20 7946 0000"}, actor=w["user"])
    return org


def _webhook(w):
    from kinfolk.webhooks.services import check_create_subscription

    data = {"url": f"https://hooks.example.org/{next(_n)}", "team": w["team"].pk, "event_types": ["*"]}
    return check_create_subscription(data=data, actor=SYSTEM)[0]


def _delivery(w):
    from kinfolk.core.context import Via
    from kinfolk.core.events import Event
    from kinfolk.webhooks.events import announce

    w.setdefault("webhook", _webhook(w))
    announce([Event("organisation.created", "people.organisation", w["org"].pk, w["user"].pk, Via())])


def _job(w):
    from kinfolk.core.jobs import enqueue_job
    from kinfolk.webhooks.tasks import DELIVER

    return enqueue_job(DELIVER, actor=w["user"], team=w["team"])


GROW = {
    "people": _person,
    "organisations": _org,
    "email-addresses": lambda w: _person(w),
    "phone-numbers": lambda w: _person(w),
    "affiliations": lambda w: ps.check_create_affiliation(_person(w), w["org"], data={}, actor=w["user"]),
    "relationships": lambda w: ps.check_create_relationship(
        _person(w), _person(w), w["rtype"], actor=w["user"]
    ),
    "household-members": lambda w: ps.check_add_household_member(w["household"], _person(w), actor=w["user"]),
    "tags": lambda w: ps.check_create_tag(data={"name": f"t{next(_n)}"}, team=w["team"], actor=w["user"]),
    "person-tags": lambda w: ps.check_tag(_person(w), w["tag"], actor=w["user"]),
    "lists": lambda w: ps.check_create_list(team=w["team"], data={"name": f"l{next(_n)}"}, actor=w["user"]),
    "list-memberships": lambda w: ps.check_add_to_list(w["list"], _person(w), actor=w["user"]),
    "activities": lambda w: check_create_activity(
        team=w["team"], person=_person(w), data={"subject": "x"}, actor=w["user"]
    ),
    "users": lambda w: make_user(f"u{next(_n)}", teams=[(w["team"], Role.VIEWER)]),
    "postal-addresses": lambda w: _person(w),
    "social-profiles": lambda w: _person(w),
    "external-ids": lambda w: _person(w),
    "organisation-tags": lambda w: ps.check_tag(_org(w), w["tag"], actor=w["user"]),
    "households": lambda w: ps.check_create_household(data={"name": f"h{next(_n)}"}, actor=w["user"]),
    "relationship-types": lambda w: ps.check_create_relationship_type(
        data={"name": f"r{next(_n)}", "forward_label": "x of"}, actor=SYSTEM
    ),
    "teams": lambda w: make_team(f"Team {next(_n)}"),
    "tokens": lambda w: make_token(w["user"], w["team"], "read"),
    "duplicates": lambda w: _pair(w),
    "merges": lambda w: check_merge_people(*_pair(w), actor=w["user"]),
    "webhooks": _webhook,
    "webhook-deliveries": _delivery,
    "jobs": _job,
}


@pytest.mark.parametrize("resource", sorted(GROW))
def test_list_queries_do_not_grow_with_the_page(resource, team_a):
    user = make_user(f"m{next(_n)}", teams=[(team_a, Role.MEMBER)])
    w = {"user": user, "team": team_a}
    w["org"] = ps.check_create_organisation(data={"name": "Acme"}, actor=user)
    w["rtype"] = ps.check_create_relationship_type(
        data={"name": "sibling", "forward_label": "sibling of", "is_symmetric": True}, actor=SYSTEM
    )
    w["household"] = ps.check_create_household(data={"name": "H"}, actor=user)
    w["tag"] = ps.check_create_tag(data={"name": "vip"}, team=team_a, actor=user)
    w["list"] = ps.check_create_list(team=team_a, data={"name": "Gala"}, actor=user)
    api = Api(make_token(user, team_a, "read", rate_limit=1000))
    api.get(f"{resource}/")  # warm: the token's last use is noted once a minute
    GROW[resource](w)

    def count():
        with CaptureQueriesContext(connection) as queries:
            response = api.get(f"{resource}/")
        assert response.status_code == 200
        LAST[:] = [sql[:120] for sql in _data_queries(queries)]
        return len(LAST), len(response.json()["results"])

    few, few_rows = count()
    for _ in range(4):
        GROW[resource](w)
    many, many_rows = count()
    assert many_rows > few_rows
    assert many == few, f"{resource}: {few} queries for {few_rows} rows, {many} for {many_rows}: {LAST}"


def test_get_one_person_is_a_handful_of_queries(team_a):
    user = make_user("reader", teams=[(team_a, Role.MEMBER)])
    person = _person({"user": user, "team": team_a})
    api = Api(make_token(user, team_a, "read"))
    api.get(f"people/{person.pk}/")
    with CaptureQueriesContext(connection) as queries:
        assert api.get(f"people/{person.pk}/").status_code == 200
    # token with its user and role, the person, five kinds of details, restrictions
    reads = _data_queries(queries)
    assert len(reads) == 8, [sql[:80] for sql in reads]


def test_every_list_endpoint_has_a_query_count_test():
    from kinfolk.api.urls import router

    assert {prefix for prefix, _viewset, _basename in router.registry} == set(GROW)


def test_get_one_unrestricted_person_does_not_ask_for_restrictions(team_a):
    user = make_user("reader2", teams=[(team_a, Role.MEMBER)])
    person = make_person(actor=user, emails=[{"email": "open@example.org"}])
    api = Api(make_token(user, team_a, "read"))
    api.get(f"people/{person.pk}/")
    with CaptureQueriesContext(connection) as queries:
        response = api.get(f"people/{person.pk}/")
    assert response.json()["restricted_to_teams"] == []
    # token with its user and role, the person, five kinds of details
    reads = _data_queries(queries)
    assert len(reads) == 7, [sql[:80] for sql in reads]
    assert not any("people_personrestriction" in sql.split(" WHERE ")[0] for sql in reads)


def test_a_list_fetches_only_the_details_its_fields_ask_for(team_a):
    user = make_user("reader3", teams=[(team_a, Role.MEMBER)])
    _person({"user": user, "team": team_a})
    api = Api(make_token(user, team_a, "read"))
    api.get("people/")
    with CaptureQueriesContext(connection) as queries:
        response = api.get("people/", {"fields": "id,display_name,emails"})
    assert set(response.json()["results"][0]) == {"id", "display_name", "emails"}
    assert response.json()["results"][0]["emails"][0]["email"].endswith("@example.org")
    reads = _data_queries(queries)
    # token, the page, its emails: no phones, addresses, …, nor the restricted person's teams
    assert len(reads) == 3, [sql[:80] for sql in reads]
    assert not any("people_phonenumber" in sql for sql in reads)
    assert not any("people_personrestriction" in sql.split(" WHERE ")[0] for sql in reads)
