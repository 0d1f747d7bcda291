"""People through the API as a program uses them: create, read, change, upsert, bulk, page, filter."""

import pytest

from kinfolk.access.models import Role
from kinfolk.core.models import ChangeRecord
from kinfolk.people import services as ps
from kinfolk.people.models import Person
from tests.api.conftest import Api
from tests.conftest import make_person, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(team_a):
    return make_user("member", teams=[(team_a, Role.MEMBER)])


@pytest.fixture
def api(member, team_a, api_for):
    return api_for(member, team_a, "write", name="website form")


def test_create_person_with_details_and_read_it_back(api):
    # Given a write token / When a person is created with nested details
    response = api.post(
        "people/",
        {
            "given_name": "Ada",
            "family_name": "Lovelace",
            "country": "Germany",
            "emails": [{"email": "Ada@Example.org", "kind": "work"}],
            "phones": [{"number": "030 1234567", "region": "DE"}],
            "external_ids": [{"system": "Shop", "value": "17"}],
        },
    )
    # Then it is created, normalised, and answered with its ETag
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["display_name"] == "Ada Lovelace"
    assert body["country"] == "DE"
    assert [e["email"] for e in body["emails"]] == ["Ada@example.org"]
    assert [p["number"] for p in body["phones"]] == ["+49301234567"]
    assert body["external_ids"][0]["system"] == "shop"
    assert response["ETag"].startswith('"')
    got = api.get(f"people/{body['id']}/")
    assert got.status_code == 200
    assert got.json() == body
    assert got["ETag"] == response["ETag"]
    # If-None-Match with the current ETag: nothing to send
    assert api.get(f"people/{body['id']}/", HTTP_IF_NONE_MATCH=got["ETag"]).status_code == 304


def test_audit_trail_names_the_token(api):
    response = api.post("people/", {"given_name": "Grace"})
    record = ChangeRecord.objects.get(
        object_id=response.json()["id"], action="create", person_id__isnull=False
    )
    assert (record.source, record.via, record.actor_label) == ("api", "token website form", "member")


def test_validation_errors_are_problem_details_naming_the_field(api):
    response = api.post("people/", {"given_name": "Ada", "emails": [{"email": "not-an-email"}]})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["type"] == "urn:kinfolk:problem:validation_error"
    assert [e["field"] for e in body["errors"]] == ["emails[0].email"]
    assert "not-an-email" in body["errors"][0]["message"]
    assert Person.objects.count() == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"given_name": 5}, "given_name"),
        ({"given_name": "A", "birth_date": "31/02/2000"}, "birth_date"),
        ({"given_name": "A", "emails": "a@example.org"}, "emails"),
        ({"given_name": "A", "restricted_to_teams": ["x"]}, "restricted_to_teams[0]"),
        ({"given_name": "A", "shoe_size": 44}, "shoe_size"),
        ({}, "given_name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, payload, field):
    response = api.post("people/", payload)
    assert response.status_code == 400, response.json()
    assert field in [e["field"] for e in response.json()["errors"]]
    assert Person.objects.count() == 0


def test_malformed_json_and_other_media_types_are_refused(api):
    bad = api.client.generic(
        "POST", "/api/v1/people/", "{nope", content_type="application/json", **api.headers
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "malformed_request")
    form = api.client.generic("POST", "/api/v1/people/", "a=1", content_type="text/plain", **api.headers)
    assert (form.status_code, form.json()["code"]) == (415, "unsupported_media_type")
    huge = api.get("people/99999999999999999999999/")
    assert (huge.status_code, huge.json()["code"]) == (404, "not_found")


def test_if_match_refuses_a_stale_update_and_delete(team_a, api_for):
    api = api_for(make_user("manager", teams=[(team_a, Role.MANAGER)]), team_a, "write")
    created = api.post("people/", {"given_name": "Ada"})
    pid, etag = created.json()["id"], created["ETag"]
    first = api.patch(f"people/{pid}/", {"family_name": "Lovelace"}, HTTP_IF_MATCH=etag)
    assert first.status_code == 200
    assert first.json()["display_name"] == "Ada Lovelace"
    # A second client still holding the old ETag is refused, and nothing changes
    stale = api.patch(f"people/{pid}/", {"family_name": "Byron"}, HTTP_IF_MATCH=etag)
    assert (stale.status_code, stale.json()["code"]) == (412, "precondition_failed")
    assert Person.objects.get(pk=pid).family_name == "Lovelace"
    assert api.delete(f"people/{pid}/", HTTP_IF_MATCH=etag).status_code == 412
    assert Person.objects.filter(pk=pid).exists()
    # With the current ETag the delete goes through
    assert api.delete(f"people/{pid}/", HTTP_IF_MATCH=first["ETag"]).status_code == 204
    assert not Person.objects.filter(pk=pid).exists()


def test_a_detail_change_changes_the_person_etag(api):
    created = api.post("people/", {"given_name": "Ada"})
    pid, etag = created.json()["id"], created["ETag"]
    assert api.post("email-addresses/", {"person": pid, "email": "ada@example.org"}).status_code == 201
    assert api.patch(f"people/{pid}/", {"given_name": "Augusta"}, HTTP_IF_MATCH=etag).status_code == 412


def test_upsert_by_external_id_then_by_email(api):
    # Given nothing / When a signup form upserts by external id / Then the person is created
    first = api.post(
        "people/upsert/", {"given_name": "Ada", "external_ids": [{"system": "web", "value": "u1"}]}
    )
    assert first.status_code == 201
    assert first.json()["status"] == "created"
    pid = first.json()["person"]["id"]
    # When the same external id comes with an email and a surname / Then the same person is updated
    second = api.post(
        "people/upsert/",
        {
            "family_name": "Lovelace",
            "emails": [{"email": "ada@example.org"}],
            "external_ids": [{"system": "web", "value": "u1"}],
        },
    )
    assert second.status_code == 200
    assert (second.json()["status"], second.json()["matched_by"]) == ("updated", "external_id")
    person = second.json()["person"]
    assert (person["id"], person["display_name"]) == (pid, "Ada Lovelace")
    assert [e["email"] for e in person["emails"]] == ["ada@example.org"]
    assert len(person["external_ids"]) == 1
    # When only the email comes (any case), with an empty name / Then it matches and nothing is blanked
    third = api.post("people/upsert/", {"given_name": "", "emails": [{"email": "ADA@example.org"}]})
    assert (third.json()["status"], third.json()["matched_by"]) == ("updated", "email")
    assert third.json()["person"]["display_name"] == "Ada Lovelace"
    assert len(third.json()["person"]["emails"]) == 1
    assert Person.objects.count() == 1


def test_upsert_does_not_match_people_the_token_cannot_see(api, team_b):
    b_member = make_user("bm", teams=[(team_b, Role.MEMBER)])
    hidden = make_person(
        actor=b_member,
        given_name="Hidden",
        emails=[{"email": "h@example.org"}],
        restricted_to_teams=[team_b.pk],
    )
    response = api.post("people/upsert/", {"given_name": "New", "emails": [{"email": "h@example.org"}]})
    assert response.json()["status"] == "created"
    assert response.json()["person"]["id"] != hidden.pk
    hidden.refresh_from_db()
    assert hidden.given_name == "Hidden"


def test_upsert_by_an_email_several_people_have_updates_the_one_the_token_sees(api, team_b):
    # given the address on a restricted person of team B (created first) and on a visible person
    b_member = make_user("bm", teams=[(team_b, Role.MEMBER)])
    hidden = make_person(
        actor=b_member,
        given_name="Hidden",
        emails=[{"email": "s@example.org"}],
        restricted_to_teams=[team_b.pk],
    )
    seen = api.post("people/", {"given_name": "Seen", "emails": [{"email": "s@example.org"}]}).json()
    # when the token upserts by that address
    response = api.post("people/upsert/", {"family_name": "Known", "emails": [{"email": "S@Example.org"}]})
    # then the visible person is updated and the hidden one left alone
    assert (response.json()["status"], response.json()["person"]["id"]) == ("updated", seen["id"])
    before = hidden.family_name
    hidden.refresh_from_db()
    assert (hidden.given_name, hidden.family_name) == ("Hidden", before)


def test_bulk_upsert_reports_each_item_and_one_bad_item_stops_nothing(api):
    existing = api.post("people/", {"given_name": "Old", "emails": [{"email": "old@example.org"}]}).json()
    response = api.post(
        "people/bulk/",
        {
            "people": [
                {"given_name": "New", "emails": [{"email": "new@example.org"}]},
                {"given_name": "Bad", "emails": [{"email": "nope"}]},
                {"family_name": "Updated", "emails": [{"email": "OLD@example.org"}]},
                {"given_name": 7},
                "not an object",
            ]
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["errors"]) == (1, 1, 3)
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [(0, "created"), (1, "error"), (2, "updated"), (3, "error"), (4, "error")]
    assert body["results"][1]["errors"][0]["field"] == "emails[0].email"
    assert body["results"][3]["errors"][0]["field"] == "given_name"
    assert body["results"][2]["id"] == existing["id"]
    assert Person.objects.get(pk=existing["id"]).family_name == "Updated"
    assert Person.objects.count() == 2


def test_bulk_refuses_more_than_a_thousand(api):
    response = api.post("people/bulk/", {"people": [{"given_name": "X"}] * 1001})
    assert response.status_code == 400
    assert "1000" in response.json()["errors"][0]["message"]
    assert Person.objects.count() == 0


def test_idempotency_key_replays_the_first_response(api):
    payload = {"given_name": "Once"}
    first = api.post("people/", payload, HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("people/", payload, HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["ETag"] == first["ETag"]
    assert Person.objects.filter(given_name="Once").count() == 1
    other = api.post("people/", {"given_name": "Twice"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert not Person.objects.filter(given_name="Twice").exists()


def test_keyset_pages_through_a_filtered_ordered_list(api, member):
    for name in ("Eve", "Bob", "Dan", "Ann", "Cat"):
        make_person(actor=member, given_name=name, family_name="Smith", country="GB")
    make_person(actor=member, given_name="Zed", family_name="Other", country="FR")
    seen, url = [], "/api/v1/people/?country=GB&ordering=display_name&page_size=2&fields=id,display_name"
    while url:
        page = api.get(url)
        assert page.status_code == 200
        assert all(set(item) == {"id", "display_name"} for item in page.json()["results"])
        seen += [item["display_name"] for item in page.json()["results"]]
        url = page.json()["next"]
    assert seen == ["Ann Smith", "Bob Smith", "Cat Smith", "Dan Smith", "Eve Smith"]


def test_filters(api, member, team_a, team_b):
    ada = make_person(
        actor=member,
        given_name="Ada",
        emails=[{"email": "ada@example.org"}],
        phones=[{"number": "+44 20 7946 0018"}],
    )
    bob = make_person(actor=member, given_name="Bob")
    org = ps.check_create_organisation(data={"name": "Acme"}, actor=member)
    ps.check_create_affiliation(bob, org, data={"title": "CTO"}, actor=member)
    tag = ps.check_create_tag(data={"name": "vip"}, team=team_a, actor=member)
    ps.check_tag(ada, tag, actor=member)
    lst = ps.check_create_list(team=team_a, data={"name": "Gala"}, actor=member)
    ps.check_add_to_list(lst, bob, actor=member)

    def ids(**params):
        response = api.get("people/", params)
        assert response.status_code == 200, response.json()
        return sorted(p["id"] for p in response.json()["results"])

    assert ids(name="ad") == [ada.pk]
    assert ids(email="ADA@example.org") == [ada.pk]
    assert ids(phone="+44 (20) 7946-0018") == [ada.pk]
    assert ids(tag=tag.pk) == [ada.pk]
    assert ids(list=lst.pk) == [bob.pk]
    assert ids(organisation=org.pk) == [bob.pk]
    assert ids(team=team_a.pk) == sorted([ada.pk, bob.pk])
    assert ids(team=team_b.pk) == []
    assert ids(created_after="2000-01-01T00:00:00Z") == sorted([ada.pk, bob.pk])
    assert ids(created_before="2000-01-01T00:00:00Z") == []
    for bad in (
        {"tag": "x"},
        {"created_after": "yesterday"},
        {"email": "nope"},
        {"page_size": "0"},
        {"fields": "id,shoe_size"},
        {"ordering": "-nope"},
    ):
        response = api.get("people/", bad)
        assert response.status_code == 400, bad
        assert response.json()["errors"][0]["field"] == next(iter(bad))


def test_hidden_team_tag_filter_leaks_nothing(api, member, team_b):
    from kinfolk.access.models import Team
    from kinfolk.access.services import check_update_team
    from tests.conftest import make_user as mk

    b_member = mk("b", teams=[(team_b, Role.MEMBER)])
    check_update_team(team_b, changes={"sharing": Team.Sharing.TEAM}, actor=mk("root", admin=True))
    tag = ps.check_create_tag(data={"name": "secret"}, team=team_b, actor=b_member)
    person = make_person(actor=b_member, given_name="Tagged")
    ps.check_tag(person, tag, actor=b_member)
    # Team A cannot tell who carries team B's private tag
    assert api.get("people/", {"tag": tag.pk}).json()["results"] == []
    assert api.get(f"tags/{tag.pk}/").status_code == 404


def test_history_of_a_record(api):
    pid = api.post("people/", {"given_name": "Ada"}).json()["id"]
    api.patch(f"people/{pid}/", {"family_name": "Lovelace"})
    history = api.get(f"people/{pid}/history/").json()["results"]
    assert [h["action"] for h in history] == ["update", "create"]
    assert history[0]["changes"]["family_name"] == {"before": "", "after": "Lovelace"}
    assert history[0]["via"] == "token website form"


def test_restricted_person_is_a_404_for_other_teams(api_for, member, team_a, team_b):
    b_member = make_user("bm", teams=[(team_b, Role.MEMBER)])
    hidden = make_person(actor=b_member, given_name="Hidden", restricted_to_teams=[team_b.pk])
    api = api_for(member, team_a, "write")
    assert api.get(f"people/{hidden.pk}/").status_code == 404
    assert api.patch(f"people/{hidden.pk}/", {"given_name": "X"}).status_code == 404
    assert hidden.pk not in [p["id"] for p in api.get("people/").json()["results"]]


def test_a_restricted_person_is_read_by_each_scope_as_its_own(api_for, member, team_a, team_b):
    # given a person restricted to team B, and readers whose scopes differ, or are the same but not
    # the reader's whose request compiled the query (the compiled query is kept per scope)
    b_member = make_user("bm2", teams=[(team_b, Role.MEMBER)])
    b_viewer = make_user("bv2", teams=[(team_b, Role.VIEWER)])
    both = make_user("both2", teams=[(team_a, Role.MEMBER), (team_b, Role.VIEWER)])
    admin = make_user("admin2", admin=True)
    hidden = make_person(actor=b_member, given_name="Hidden", restricted_to_teams=[team_b.pk])
    readers = [
        (api_for(member, team_a, "read"), 404),
        (api_for(b_member, team_b, "read"), 200),
        (api_for(member, team_a, "write"), 404),
        (api_for(b_viewer, team_b, "read"), 200),
        (api_for(both, team_a, "read"), 404),  # a token acts in its own team only
        (api_for(both, team_b, "read"), 200),
        (api_for(admin), 200),
        (api_for(admin, team_a, "read"), 404),
    ]
    # when each reads them, twice; then each gets what its own scope allows
    for _ in range(2):
        assert [api.get(f"people/{hidden.pk}/").status_code for api, _status in readers] == [
            status for _api, status in readers
        ]


def test_session_auth_needs_csrf_for_writes(member):
    client = Api(csrf=True)
    client.client.force_login(member)
    assert client.get("people/").status_code == 200
    refused = client.post("people/", {"given_name": "NoCsrf"})
    assert refused.status_code == 403
    assert not Person.objects.filter(given_name="NoCsrf").exists()


def test_idempotency_key_of_a_request_that_died_is_free_again_later(api):
    import datetime

    from django.utils import timezone

    from kinfolk.api.models import IdempotencyKey

    # Given a claim whose request never finished (its process was killed)
    first = api.post("people/", {"given_name": "Once"}, HTTP_IDEMPOTENCY_KEY="k-dead")
    claim = IdempotencyKey.objects.get(key="k-dead")
    IdempotencyKey.objects.filter(pk=claim.pk).update(completed=False)
    # When the client retries at once / Then it is told the first request is still running
    busy = api.post("people/", {"given_name": "Once"}, HTTP_IDEMPOTENCY_KEY="k-dead")
    assert (busy.status_code, busy.json()["code"]) == (409, "idempotency_key_in_use")
    # When it retries after the claim is abandoned / Then the request runs again
    IdempotencyKey.objects.filter(pk=claim.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=6)
    )
    again = api.post("people/", {"given_name": "Once"}, HTTP_IDEMPOTENCY_KEY="k-dead")
    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]
