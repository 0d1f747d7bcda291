"""The webhooks, webhook-deliveries, jobs and search API resources."""

import pytest

from kinfolk.access.models import Role, Team
from kinfolk.core.jobs import enqueue_job, run_pending_jobs
from kinfolk.core.models import Job
from kinfolk.people import services as ps
from kinfolk.webhooks.models import WebhookDelivery, WebhookSubscription
from kinfolk.webhooks.tasks import DELIVER
from tests.api.conftest import Api, make_token
from tests.conftest import make_person, make_team, make_user
from tests.webhooks.conftest import run_deliveries
from tests.webhooks.receiver import verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    team_a = make_team("Fundraising", sharing=Team.Sharing.TEAM)
    team_b = make_team("Events", sharing=Team.Sharing.TEAM)
    manager = make_user("mia", teams=[(team_a, Role.MANAGER)])
    member = make_user("max", teams=[(team_a, Role.MEMBER)])
    return {
        "team_a": team_a,
        "team_b": team_b,
        "manager": manager,
        "member": member,
        "api": Api(make_token(manager, team_a, "write")),
    }


def test_create_shows_the_secret_once_and_deliveries_are_listed_with_attempts(
    org, receiver, django_capture_on_commit_callbacks
):
    # Given a manager's token and a receiver
    r = receiver(fail_share=0.0)
    api = org["api"]
    # When they subscribe to organisations
    created = api.post(
        "webhooks/",
        {
            "url": r.url,
            "team": org["team_a"].pk,
            "event_types": ["organisation.*"],
            "description": "CRM sync",
        },
    )
    # Then the secret is in the answer, and never again
    assert created.status_code == 201, created.json()
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert body["event_types"] == ["organisation.*"] and body["is_active"] is True
    again = api.get(f"webhooks/{body['id']}/").json()
    assert "secret" not in again and secret not in str(again)
    assert secret not in str(api.get("webhooks/").json())
    # When an organisation is created and the deliveries run
    with django_capture_on_commit_callbacks(execute=True):
        ps.check_create_organisation(data={"name": "Acme"}, actor=org["manager"])
    run_deliveries()
    # Then the delivery is listed with its attempt, and the receiver could verify it
    listed = api.get("webhook-deliveries/", {"subscription": body["id"]}).json()["results"]
    assert [(d["event_type"], d["status"], d["attempts"]) for d in listed] == [
        ("organisation.created", "delivered", 1)
    ]
    assert listed[0]["attempt_log"][0]["status_code"] == 200
    assert listed[0]["payload"]["data"]["name"] == "Acme"
    assert verify(secret, r.requests[0])
    # When it is redelivered through the API, then it is sent again
    redelivered = api.post(f"webhook-deliveries/{listed[0]['id']}/redeliver/", {})
    assert redelivered.status_code == 200 and redelivered.json()["status"] == "pending"
    run_deliveries()
    assert len(r.requests) == 2 and r.requests[1]["headers"]["webhook-id"] == listed[0]["event_id"]


def test_rotate_secret_returns_the_new_secret(org):
    api = org["api"]
    created = api.post(
        "webhooks/", {"url": "https://hooks.example.org/in", "team": org["team_a"].pk, "event_types": ["*"]}
    ).json()
    rotated = api.post(f"webhooks/{created['id']}/rotate-secret/", {})
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_") and rotated.json()["secret"] != created["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None
    sub = WebhookSubscription.objects.get(pk=created["id"])
    assert sub.active_secrets() == [rotated.json()["secret"], created["secret"]]


@pytest.mark.parametrize(
    "body,field,words",
    [
        ({"url": "http://127.0.0.1/x", "event_types": ["*"]}, "url", "loopback"),
        ({"url": "gopher://example.org/", "event_types": ["*"]}, "url", "http"),
        (
            {"url": "https://example.org/", "event_types": ["person.exploded"]},
            "event_types",
            "person.exploded",
        ),
        ({"url": "https://example.org/", "event_types": []}, "event_types", ""),
        ({"url": "https://example.org/", "event_types": ["*"], "secret": "mine"}, "secret", "Unknown field"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(org, body, field, words):
    response = org["api"].post("webhooks/", {**body, "team": org["team_a"].pk})
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert any(e["field"].startswith(field) for e in problem["errors"])
    assert words in str(problem["errors"])
    assert WebhookSubscription.objects.count() == 0


def test_members_see_but_only_managers_change_and_other_teams_see_nothing(org):
    created = (
        org["api"]
        .post(
            "webhooks/",
            {"url": "https://hooks.example.org/in", "team": org["team_a"].pk, "event_types": ["*"]},
        )
        .json()
    )
    member_api = Api(make_token(org["member"], org["team_a"], "write"))
    assert member_api.get(f"webhooks/{created['id']}/").status_code == 200
    assert member_api.patch(f"webhooks/{created['id']}/", {"description": "x"}).status_code == 403
    assert member_api.post(f"webhooks/{created['id']}/rotate-secret/", {}).status_code == 403
    outsider = make_user("olga", teams=[(org["team_b"], Role.MANAGER)])
    outsider_api = Api(make_token(outsider, org["team_b"], "write"))
    assert outsider_api.get(f"webhooks/{created['id']}/").status_code == 404
    assert outsider_api.get("webhooks/").json()["results"] == []
    # an org-wide webhook (no team) is for administrators only
    response = org["api"].post("webhooks/", {"url": "https://hooks.example.org/all", "event_types": ["*"]})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "team"


def test_disabling_and_enabling_through_patch(org):
    api = org["api"]
    created = api.post(
        "webhooks/", {"url": "https://hooks.example.org/in", "team": org["team_a"].pk, "event_types": ["*"]}
    ).json()
    off = api.patch(f"webhooks/{created['id']}/", {"is_active": False, "event_types": ["person.created"]})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert off.json()["event_types"] == ["person.created"]
    on = api.patch(f"webhooks/{created['id']}/", {"is_active": True})
    assert on.json()["is_active"] is True and on.json()["disabled_reason"] == ""
    assert api.delete(f"webhooks/{created['id']}/").status_code == 204
    assert not WebhookSubscription.objects.exists()


def test_jobs_are_listed_for_their_starter_and_team_and_can_be_cancelled(org):
    # Given a job started by the manager for team A, and one of team B
    own = enqueue_job(DELIVER, actor=org["manager"], team=org["team_a"])
    other_user = make_user("ola", teams=[(org["team_b"], Role.MEMBER)])
    theirs = enqueue_job(DELIVER, actor=other_user, team=org["team_b"])
    # Then the member of team A sees team A's job but not team B's
    member_api = Api(make_token(org["member"], org["team_a"], "write"))
    ids = [j["id"] for j in member_api.get("jobs/").json()["results"]]
    assert ids == [own.pk]
    assert member_api.get(f"jobs/{theirs.pk}/").status_code == 404
    detail = org["api"].get(f"jobs/{own.pk}/").json()
    assert (detail["kind"], detail["status"], detail["team"]) == (DELIVER, "queued", org["team_a"].pk)
    # and a member may not cancel a colleague's job of the team
    colleague = enqueue_job(DELIVER, actor=org["manager"], team=org["team_a"])
    refused = member_api.post(f"jobs/{colleague.pk}/cancel/", {})
    assert refused.status_code == 403 and Job.objects.get(pk=colleague.pk).status == "queued"
    # When the manager cancels it, then it is cancelled and never runs
    cancelled = org["api"].post(f"jobs/{own.pk}/cancel/", {})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert org["api"].post(f"jobs/{theirs.pk}/cancel/", {}).status_code == 404
    run_pending_jobs()
    assert Job.objects.get(pk=own.pk).status == "cancelled"


def test_search_finds_only_what_the_caller_may_see(org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        seen = make_person(actor=org["manager"], given_name="Augusta", family_name="Byron")
        other = make_user("bea", teams=[(org["team_b"], Role.MEMBER)])
        make_person(
            actor=other, given_name="Augusta", family_name="Hidden", restricted_to_teams=[org["team_b"].pk]
        )
    response = org["api"].get("search/", {"q": "augusta"})
    assert response.status_code == 200
    assert [(r["kind"], r["id"]) for r in response.json()["results"]] == [("person", seen.pk)]
    assert org["api"].get("search/", {"q": "augusta", "kind": "organisation"}).json()["results"] == []
    for params, field in (
        ({}, "q"),
        ({"q": " "}, "q"),
        ({"q": "a", "limit": "0"}, "limit"),
        ({"q": "a", "kind": "x"}, "kind"),
    ):
        bad = org["api"].get("search/", params)
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == field


def test_deliveries_of_other_teams_are_invisible(org, receiver, django_capture_on_commit_callbacks):
    r = receiver()
    org["api"].post("webhooks/", {"url": r.url, "team": org["team_a"].pk, "event_types": ["*"]})
    with django_capture_on_commit_callbacks(execute=True):
        ps.check_create_organisation(data={"name": "Acme"}, actor=org["manager"])
    delivery = WebhookDelivery.objects.get()
    outsider = make_user("olga", teams=[(org["team_b"], Role.MANAGER)])
    outsider_api = Api(make_token(outsider, org["team_b"], "write"))
    assert outsider_api.get("webhook-deliveries/").json()["results"] == []
    assert outsider_api.get(f"webhook-deliveries/{delivery.pk}/").status_code == 404
    assert outsider_api.post(f"webhook-deliveries/{delivery.pk}/redeliver/", {}).status_code == 404
