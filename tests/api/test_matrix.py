"""The API's authorization matrix, generated from the URL configuration.

For every /api/v1/ route and method: a token of team A asking for team B's objects (team B shares
nothing) is refused and changes nothing; a read-only token is refused every write and changes nothing.
ROUTES below must name every (route, method) the URLconf has: a new route without an entry fails the suite.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from kinfolk.access.actors import SYSTEM
from kinfolk.access.models import Role, Team
from kinfolk.access.services import check_create_token
from kinfolk.activities.services import check_create_activity
from kinfolk.core.context import Via
from kinfolk.core.events import Event
from kinfolk.core.jobs import enqueue_job
from kinfolk.core.models import ChangeRecord
from kinfolk.core.registry import models_with
from kinfolk.identity.merge import check_merge_people
from kinfolk.identity.models import DuplicateCandidate
from kinfolk.identity.services import run_duplicate_detection
from kinfolk.people import services as ps
from kinfolk.webhooks.events import announce
from kinfolk.webhooks.models import WebhookDelivery
from kinfolk.webhooks.services import check_create_subscription
from kinfolk.webhooks.tasks import DELIVER
from tests.api.conftest import Api, make_token
from tests.conftest import make_person, make_team, make_user

pytestmark = pytest.mark.django_db

TEAM_B = "team B's object"  # invisible to A: reads 404 / exclude it, writes refused
ADMIN_ONLY = "vocabulary"  # visible to all, changed by administrators only
SHARED = "shared record"  # organisations, households: every member may read and write by design
DIRECTORY = "directory"  # teams, users: names known to all, nothing to write
SELF = "the caller"  # /me/: only ever the caller
PUBLIC = "public"  # the schema and its documentation
SEARCH = "search"  # results only from what the caller may see


class OnObject:
    """A POST action on one of team B's records (`resource`): refused as if it did not exist."""

    def __init__(self, resource):
        self.resource = resource


class OnTeamB:
    """A route on one of team B's objects (of `resource`): not found, and nothing changes."""

    def __init__(self, resource):
        self.resource = resource


class Expect:
    """A route with its own request body and its own test of a refusal: ok(response, world)."""

    def __init__(self, body, ok):
        self.body, self.ok = body, ok


def api_routes():
    """{(url name, HTTP method)} for every route under /api/v1/, read from the URLconf."""
    found = set()

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and (prefix + str(p.pattern)).startswith("api/v1/"):
                actions = getattr(p.callback, "actions", None)
                methods = [m for m in actions if m not in ("head", "options")] if actions else ["get"]
                found.update((p.name, m) for m in methods)

    walk(get_resolver().url_patterns, "")
    return found


def _world():
    team_a = make_team("Fundraising")
    team_b = make_team("Events", sharing=Team.Sharing.TEAM)
    a = make_user("a_member", teams=[(team_a, Role.MEMBER)])
    b = make_user("b_member", teams=[(team_b, Role.MEMBER)])
    w = {"team_a": team_a, "team_b": team_b, "a": a, "b": b}
    hidden = make_person(
        actor=b,
        given_name="Hidden",
        emails=[{"email": "hidden@example.org"}],
        phones=[{"number": "+44 20 7946 0018"}],
        addresses=[{"locality": "Leeds", "country": "GB"}],
        social_profiles=[{"network": "github", "handle": "hidden"}],
        external_ids=[{"system": "shop", "value": "b-1"}],
        restricted_to_teams=[team_b.pk],
    )
    w["hidden"] = hidden
    w["open"] = make_person(actor=b, given_name="Open")
    w["org"] = ps.check_create_organisation(data={"name": "Acme"}, actor=b)
    w["rtype"] = ps.check_create_relationship_type(
        data={"name": "sibling", "forward_label": "sibling of", "is_symmetric": True}, actor=SYSTEM
    )
    w["household"] = ps.check_create_household(data={"name": "The Smiths"}, actor=b)
    # team B's duplicates: a look-alike of Hidden (an open pair), and a merge of two of its people
    make_person(
        actor=b,
        given_name="Hidden",
        emails=[{"email": "hidden@example.org"}],
        restricted_to_teams=[team_b.pk],
    )
    run_duplicate_detection(rebuild=True)
    kept, gone = (
        make_person(actor=b, given_name=n, restricted_to_teams=[team_b.pk]) for n in ("Kept", "Gone")
    )
    merge = check_merge_people(kept, gone, actor=b)
    w["tag"] = ps.check_create_tag(data={"name": "vip"}, team=team_b, actor=b)
    w["list"] = ps.check_create_list(team=team_b, data={"name": "Gala"}, actor=b)
    w["objects"] = {
        "people": hidden,
        "email-addresses": hidden.emails.get(),
        "phone-numbers": hidden.phonenumbers.get(),
        "postal-addresses": hidden.postaladdresss.get(),
        "social-profiles": hidden.socialprofiles.get(),
        "external-ids": hidden.externalids.get(),
        "organisations": w["org"],
        "affiliations": ps.check_create_affiliation(hidden, w["org"], data={"title": "Chair"}, actor=b),
        "relationship-types": w["rtype"],
        "relationships": ps.check_create_relationship(w["open"], hidden, w["rtype"], actor=b),
        "households": w["household"],
        "household-members": ps.check_add_household_member(w["household"], hidden, actor=b),
        "tags": w["tag"],
        "person-tags": ps.check_tag(w["open"], w["tag"], actor=b),
        "organisation-tags": ps.check_tag(w["org"], w["tag"], actor=b),
        "lists": w["list"],
        "list-memberships": ps.check_add_to_list(w["list"], w["open"], actor=b),
        "activities": check_create_activity(team=team_b, person=w["open"], data={"subject": "Call"}, actor=b),
        "teams": team_b,
        "users": b,
        "tokens": check_create_token(user=b, data={"name": "b form", "team": team_b.pk}, actor=b)[0],
        "duplicates": DuplicateCandidate.objects.get(first_id=hidden.pk),
        "merges": merge,
        "webhooks": check_create_subscription(
            data={"url": "https://hooks.example.org/b", "team": team_b.pk, "event_types": ["*"]}, actor=SYSTEM
        )[0],
        "jobs": enqueue_job(DELIVER, actor=b, team=team_b),
    }
    announce([Event("person.created", "people.person", hidden.pk, b.pk, Via())])
    w["objects"]["webhook-deliveries"] = WebhookDelivery.objects.get()
    return w


# resource -> (kind, body of a create that reaches for team B's things)
RESOURCES = {
    "people": (TEAM_B, lambda w: {"given_name": "X", "restricted_to_teams": [w["team_b"].pk]}),
    "email-addresses": (TEAM_B, lambda w: {"person": w["hidden"].pk, "email": "x@example.org"}),
    "phone-numbers": (TEAM_B, lambda w: {"person": w["hidden"].pk, "number": "+44 20 7946 0019"}),
    "postal-addresses": (TEAM_B, lambda w: {"person": w["hidden"].pk, "country": "GB"}),
    "social-profiles": (TEAM_B, lambda w: {"person": w["hidden"].pk, "network": "x", "handle": "h"}),
    "external-ids": (TEAM_B, lambda w: {"person": w["hidden"].pk, "system": "crm", "value": "9"}),
    "organisations": (SHARED, None),
    "affiliations": (TEAM_B, lambda w: {"person": w["hidden"].pk, "organisation": w["org"].pk}),
    "relationship-types": (ADMIN_ONLY, lambda w: {"name": "x", "forward_label": "x of"}),
    "relationships": (
        TEAM_B,
        lambda w: {"from_person": w["open"].pk, "to_person": w["hidden"].pk, "type": w["rtype"].pk},
    ),
    "households": (SHARED, None),
    "household-members": (TEAM_B, lambda w: {"household": w["household"].pk, "person": w["hidden"].pk}),
    "tags": (TEAM_B, lambda w: {"name": "mine now", "team": w["team_b"].pk}),
    "person-tags": (TEAM_B, lambda w: {"person": w["open"].pk, "tag": w["tag"].pk}),
    "organisation-tags": (TEAM_B, lambda w: {"organisation": w["org"].pk, "tag": w["tag"].pk}),
    "lists": (TEAM_B, lambda w: {"name": "Mine", "team": w["team_b"].pk}),
    "list-memberships": (TEAM_B, lambda w: {"list": w["list"].pk, "person": w["open"].pk}),
    "activities": (TEAM_B, lambda w: {"team": w["team_b"].pk, "person": w["open"].pk, "subject": "x"}),
    "teams": (DIRECTORY, None),
    "users": (DIRECTORY, None),
    "tokens": (TEAM_B, lambda w: {"name": "into B", "team": w["team_b"].pk, "scope": "write"}),
    "duplicates": (TEAM_B, None),
    "merges": (TEAM_B, lambda w: {"survivor": w["open"].pk, "merged": w["hidden"].pk}),
    "webhooks": (
        TEAM_B,
        lambda w: {"url": "https://hooks.example.org/a", "team": w["team_b"].pk, "event_types": ["*"]},
    ),
    "webhook-deliveries": (TEAM_B, None),
    "jobs": (TEAM_B, None),
}
# Routes outside the resources' list/detail/history pattern, and what a request to them needs.
EXTRA = {
    ("people-upsert", "post"): lambda w: {
        "given_name": "X",
        "external_ids": [{"system": "shop", "value": "b-1"}],
    },
    ("people-bulk", "post"): lambda w: {
        "people": [{"given_name": "X", "external_ids": [{"system": "shop", "value": "b-1"}]}]
    },
    ("me", "get"): SELF,
    ("duplicates-not-duplicate", "post"): OnTeamB("duplicates"),
    ("merges-undo", "post"): OnTeamB("merges"),
    # the check of a prospective person never names someone the caller may not see
    ("duplicates-check", "post"): Expect(
        lambda w: {"given_name": "Hidden", "emails": [{"email": "hidden@example.org"}]},
        lambda response, w: response.status_code == 200 and response.json()["results"] == [],
    ),
    ("duplicates-runs", "post"): Expect(lambda w: {}, lambda response, w: response.status_code == 403),
    ("schema", "get"): PUBLIC,
    ("docs", "get"): PUBLIC,
    ("webhooks-rotate-secret", "post"): OnObject("webhooks"),
    ("webhook-deliveries-redeliver", "post"): OnObject("webhook-deliveries"),
    ("jobs-cancel", "post"): OnObject("jobs"),
    ("search", "get"): SEARCH,
}
DETAIL_ACTIONS = {name for name, spec in EXTRA.items() if isinstance(spec, (OnObject, OnTeamB))}


def matrix():
    """Every (route, method) the matrix knows how to check."""
    covered = set(EXTRA)
    for resource in RESOURCES:
        for suffix, methods in (
            ("list", ("get", "post")),
            ("detail", ("get", "patch", "delete")),
            ("history", ("get",)),
        ):
            covered.update((f"{resource}-{suffix}", m) for m in methods)
    return covered


def test_every_api_route_is_in_the_matrix():
    # Given the URLconf / When compared with the matrix / Then every route and method is covered
    missing = api_routes() - matrix()
    assert missing == set()


def test_every_change_logged_model_has_an_api_resource_or_a_reason():
    # Why a model has no resource of its own: memberships are managed in the UI, restrictions through
    # people's restricted_to_teams, saved views are a page's state.
    exposed = {"Membership", "PersonRestriction", "SavedView"}
    models = {m.__name__ for m in models_with("change_logging")}
    from kinfolk.api.urls import router

    served = {vs.model.__name__ for _p, vs, _b in router.registry}
    assert models - served - exposed == set()


def _state(w):
    counts = {m.__name__: m.objects.count() for m in models_with("change_logging")}
    rows = {name: list(type(o).objects.filter(pk=o.pk).values()) for name, o in w["objects"].items()}
    return counts, ChangeRecord.objects.count(), rows


def _url(name, obj=None):
    return reverse(f"api:{name}", kwargs={"pk": obj.pk} if obj is not None else None)


def _call(api, method, url, body=None):
    return getattr(api, method)(url, body) if method in ("post", "patch") else getattr(api, method)(url)


def test_team_a_token_never_reaches_team_b():
    # Given team B, which shares nothing, and a write token of a member of team A
    w = _world()
    api = Api(make_token(w["a"], w["team_a"], "write"))
    failures = []
    for name, method in sorted(api_routes()):
        before = _state(w)
        resource, _sep, suffix = name.rpartition("-")
        kind, body = RESOURCES.get(resource, (None, None))
        if (name, method) in EXTRA:
            spec = EXTRA[(name, method)]
            if isinstance(spec, OnTeamB):
                response = api.post(_url(name, w["objects"][spec.resource]), {})
                ok = response.status_code == 404
            elif isinstance(spec, Expect):
                ok = spec.ok(api.post(_url(name), spec.body(w)), w)
            elif spec is PUBLIC:
                response = Api().get(_url(name))
                ok = response.status_code == 200
            elif spec is SEARCH:
                response = api.get(_url(name), {"q": "Hidden"})
                ok = response.status_code == 200 and all(
                    r["id"] != w["hidden"].pk for r in response.json()["results"] if r["kind"] == "person"
                )
            elif isinstance(spec, OnObject):
                response = api.post(_url(name, w["objects"][spec.resource]), {})
                ok = response.status_code == 404
            elif spec is SELF:
                me = api.get(_url(name)).json()
                ok = me["id"] == w["a"].pk and [t["id"] for t in me["teams"]] == [w["team_a"].pk]
            else:
                response = api.post(_url(name), spec(w))
                ok = response.status_code == 400 or (
                    response.status_code == 200 and response.json()["results"][0]["status"] == "error"
                )
        elif kind in (SHARED, DIRECTORY):
            continue  # visible to every member by design; read-only tokens are checked below
        elif suffix == "list" and method == "get":
            ids = [r["id"] for r in api.get(_url(name)).json()["results"]]
            ok = (w["objects"][resource].pk in ids) is (kind == ADMIN_ONLY)
        elif suffix == "list":
            ok = api.post(_url(name), body(w)).status_code in (400, 403, 404)
        else:
            obj = w["objects"][resource]
            response = _call(api, method, _url(name, obj), {"name": "changed"})
            if kind == ADMIN_ONLY:
                ok = response.status_code == 403 if method != "get" else response.status_code == 200
            elif suffix == "history" and resource == "teams":
                ok = response.json()["results"] == []
            else:
                ok = response.status_code == 404
        if not ok:
            failures.append((name, method, "not refused"))
        if _state(w) != before:
            failures.append((name, method, "changed the database"))
    assert failures == []


def test_read_only_token_may_not_write_anything():
    # Given team A's own records and a read-only token of a manager of team A
    w = _world()
    manager = make_user("a_manager", teams=[(w["team_a"], Role.MANAGER)])
    own = make_person(actor=manager, given_name="Own")
    api = Api(make_token(manager, w["team_a"], "read"))
    failures = []
    for name, method in sorted(api_routes()):
        if method == "get":
            continue
        before = _state(w), list(type(own).objects.filter(pk=own.pk).values())
        url = _url(name, own) if name.endswith("-detail") or (name, method) in DETAIL_ACTIONS else _url(name)
        response = _call(api, method, url, {"given_name": "Written"})
        if response.status_code != 403 or response.json()["code"] != "permission_denied":
            failures.append((name, method, response.status_code))
        if (_state(w), list(type(own).objects.filter(pk=own.pk).values())) != before:
            failures.append((name, method, "changed the database"))
    assert failures == []
