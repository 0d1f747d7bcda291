"""Webhook delivery end to end: a real HTTP receiver on loopback, signatures checked independently."""

import datetime
import json
from collections import Counter

import pytest
from django.core import mail
from django.utils import timezone

from kinfolk.access.models import Role, Team
from kinfolk.activities.services import check_create_activity
from kinfolk.core.jobs import run_pending_jobs
from kinfolk.core.models import Job
from kinfolk.people import services as ps
from kinfolk.webhooks import services as ws
from kinfolk.webhooks.models import WebhookDelivery
from kinfolk.webhooks.tasks import DELIVER, ensure_delivery_job
from tests.conftest import make_person, make_team, make_user
from tests.webhooks.conftest import run_deliveries
from tests.webhooks.receiver import verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    team_a = make_team("Fundraising", sharing=Team.Sharing.TEAM)
    team_b = make_team("Events", sharing=Team.Sharing.TEAM)
    return {
        "team_a": team_a,
        "team_b": team_b,
        "a": make_user("anna", teams=[(team_a, Role.MANAGER)]),
        "b": make_user("ben", teams=[(team_b, Role.MANAGER)]),
    }


def subscribe(actor, team, url, events=("*",)):
    return ws.check_create_subscription(
        data={"url": url, "team": team.pk, "event_types": list(events)}, actor=actor
    )


def test_every_event_arrives_signed_at_least_once_and_retries_stop_once_delivered(
    org, receiver, django_capture_on_commit_callbacks
):
    # Given team A's webhook for every event, and a receiver that fails 30% of requests with 500
    r = receiver(fail_share=0.3, seed=11)
    sub, secret = subscribe(org["a"], org["team_a"], r.url)
    a = org["a"]
    # When people, organisations, activities and lists change
    with django_capture_on_commit_callbacks(execute=True):
        ada = make_person(actor=a, given_name="Ada", emails=[{"email": "ada@example.org"}])
        ps.check_update_person(ada, changes={"family_name": "Lovelace"}, actor=a)
        gone = make_person(actor=a, given_name="Gone")
        gone_id = gone.pk
        ps.check_delete_person(gone, actor=a)
        org_ = ps.check_create_organisation(data={"name": "Acme"}, actor=a)
        check_create_activity(team=org["team_a"], person=ada, data={"subject": "Call"}, actor=a)
        gala = ps.check_create_list(team=org["team_a"], data={"name": "Gala"}, actor=a)
        membership = ps.check_add_to_list(gala, ada, actor=a)
        ps.check_remove_from_list(membership, actor=a)
    expected = Counter(
        {
            "person.created": 2,
            "person.updated": 1,
            "person.deleted": 1,
            "organisation.created": 1,
            "activity.created": 1,
            "list.created": 1,
            "list.member_added": 1,
            "list.member_removed": 1,
        }
    )
    # and the deliveries run until none is pending (the clock jumps to each retry)
    run_deliveries()
    # Then every delivery was delivered, each event type as often as it happened
    deliveries = list(WebhookDelivery.objects.filter(subscription=sub))
    assert {d.status for d in deliveries} == {"delivered"}
    assert Counter(d.event_type for d in deliveries) == expected
    # and every request the receiver saw is validly signed with the subscription's secret
    assert r.requests and all(verify(secret, req) for req in r.requests)
    assert any(req["status"] == 500 for req in r.requests)  # some needed a retry
    # and each event was accepted exactly once: retries stopped at the first success
    accepted_ids = Counter(req["headers"]["webhook-id"] for req in r.accepted())
    assert accepted_ids == Counter({d.event_id: 1 for d in deliveries})
    # and each delivery's logged attempts match what the receiver saw for it
    seen = Counter(req["headers"]["webhook-id"] for req in r.requests)
    for d in deliveries:
        assert d.attempts == seen[d.event_id] == d.attempt_log.count()
        assert d.attempt_log.last().succeeded and d.attempt_log.last().status_code == 200
    # and the payloads carry the record as the API shows it
    by_type = {e["type"]: e for e in r.events()}
    assert by_type["person.updated"]["data"]["family_name"] == "Lovelace"
    assert by_type["person.updated"]["data"]["changed_fields"] == ["display_name", "family_name"]
    created = {e["data"]["id"]: e["data"] for e in r.events() if e["type"] == "person.created"}
    assert [x["email"] for x in created[ada.pk]["emails"]] == ["ada@example.org"]
    assert by_type["person.deleted"]["data"] == {"id": gone_id}
    assert by_type["organisation.created"]["data"]["name"] == org_.name
    assert r.requests[0]["headers"]["content-type"] == "application/json"


def test_another_team_never_hears_of_a_restricted_person(org, receiver, django_capture_on_commit_callbacks):
    # Given webhooks of team A and of team B for people
    ra, rb = receiver(), receiver(seed=3)
    sub_a, _ = subscribe(org["a"], org["team_a"], ra.url, ["person.*"])
    sub_b, _ = subscribe(org["b"], org["team_b"], rb.url, ["person.*"])
    # When team A creates, edits and deletes a person restricted to team A, and an open person
    # (each change commits on its own, as requests do)
    with django_capture_on_commit_callbacks(execute=True):
        hidden = make_person(actor=org["a"], given_name="Hidden", restricted_to_teams=[org["team_a"].pk])
    with django_capture_on_commit_callbacks(execute=True):
        ps.check_update_person(hidden, changes={"family_name": "Person"}, actor=org["a"])
    hidden_id = hidden.pk
    # (and a second webhook of team A, added after the person was made)
    ra2 = receiver(seed=5)
    subscribe(org["a"], org["team_a"], ra2.url, ["person.deleted"])
    with django_capture_on_commit_callbacks(execute=True):
        ps.check_delete_person(hidden, actor=org["a"])
    with django_capture_on_commit_callbacks(execute=True):
        open_ = make_person(actor=org["a"], given_name="Open")
    run_deliveries()
    # Then team A hears of all of it, team B only of the open person
    assert [(e["type"], e["data"]["id"]) for e in ra.events()] == [
        ("person.created", hidden_id),
        ("person.updated", hidden_id),
        ("person.deleted", hidden_id),
        ("person.created", open_.pk),
    ]
    assert [(e["type"], e["data"]["id"]) for e in ra2.events()] == [("person.deleted", hidden_id)]
    assert [(e["type"], e["data"]["id"]) for e in rb.events()] == [("person.created", open_.pk)]
    assert not WebhookDelivery.objects.filter(subscription=sub_b, object_id=hidden_id).exists()
    assert b"Hidden" not in b"".join(req["body"] for req in rb.requests)


def test_rotation_signs_with_both_secrets_until_the_previous_one_expires(
    org, receiver, settings, django_capture_on_commit_callbacks
):
    # Given a webhook whose secret was rotated
    r = receiver()
    sub, old = subscribe(org["a"], org["team_a"], r.url, ["organisation.created"])
    sub, new = ws.check_rotate_secret(sub, actor=org["a"])
    assert new != old and new.startswith("whsec_")
    # When an event is delivered now
    with django_capture_on_commit_callbacks(execute=True):
        ps.check_create_organisation(data={"name": "Acme"}, actor=org["a"])
    run_deliveries()
    # Then it carries two signatures, valid under the new and the previous secret
    first = r.requests[-1]
    assert len(first["headers"]["webhook-signature"].split()) == 2
    assert verify(new, first) and verify(old, first)
    # When the previous secret has expired, then only the new one signs
    with django_capture_on_commit_callbacks(execute=True):
        ps.check_create_organisation(data={"name": "Later"}, actor=org["a"])
    run_deliveries(now=timezone.now() + datetime.timedelta(hours=25))
    last = r.requests[-1]
    assert len(last["headers"]["webhook-signature"].split()) == 1
    assert verify(new, last) and not verify(old, last)


def test_a_failing_receiver_is_disabled_after_a_day_and_its_owner_told(
    org, receiver, django_capture_on_commit_callbacks
):
    # Given a webhook whose receiver always answers 500
    r = receiver(fail_share=1.0)
    sub, _ = subscribe(org["a"], org["team_a"], r.url, ["organisation.*"])
    start = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        ps.check_create_organisation(data={"name": "Acme"}, actor=org["a"])
        ps.check_create_organisation(data={"name": "Beta"}, actor=org["a"])
    # When deliveries are retried on their schedule
    with django_capture_on_commit_callbacks(execute=True):
        end = run_deliveries(now=start)
    # Then every retry happened over more than 24 hours, and then the webhook was disabled
    assert end - start > datetime.timedelta(hours=24)
    sub.refresh_from_db()
    assert sub.is_active is False
    assert "500" in sub.disabled_reason
    statuses = sorted(WebhookDelivery.objects.filter(subscription=sub).values_list("status", flat=True))
    assert statuses in (["abandoned", "failed"], ["failed", "failed"])
    attempts = sum(d.attempts for d in WebhookDelivery.objects.filter(subscription=sub))
    assert attempts == len(r.requests) >= 8
    # and its creator got an email saying so
    assert [m.to for m in mail.outbox] == [["anna@example.org"]]
    assert sub.url in mail.outbox[0].body
    # and nothing is sent while it stays disabled
    before = len(r.requests)
    run_deliveries(now=end + datetime.timedelta(days=2))
    assert len(r.requests) == before


def test_redelivery_sends_the_same_event_again(org, receiver, django_capture_on_commit_callbacks):
    # Given a delivered event
    r = receiver()
    sub, secret = subscribe(org["a"], org["team_a"], r.url, ["organisation.created"])
    with django_capture_on_commit_callbacks(execute=True):
        ps.check_create_organisation(data={"name": "Acme"}, actor=org["a"])
    run_deliveries()
    delivery = WebhookDelivery.objects.get(subscription=sub)
    # When its owner redelivers it
    with django_capture_on_commit_callbacks(execute=True):
        ws.check_redeliver(delivery, actor=org["a"])
    run_deliveries()
    # Then the receiver got it twice with the same id and body, both signed
    assert [req["headers"]["webhook-id"] for req in r.requests] == [delivery.event_id] * 2
    assert r.requests[0]["body"] == r.requests[1]["body"]
    assert all(verify(secret, req) for req in r.requests)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 2


def test_a_background_job_sends_the_deliveries(org, receiver, django_capture_on_commit_callbacks):
    # Given an event for a webhook
    r = receiver()
    sub, _ = subscribe(org["a"], org["team_a"], r.url, ["organisation.created"])
    with django_capture_on_commit_callbacks(execute=True):
        ps.check_create_organisation(data={"name": "Acme"}, actor=org["a"])
    # Then one delivery job was queued (and asking again queues no second one)
    assert Job.objects.filter(kind=DELIVER, status="queued").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        ensure_delivery_job()
    assert Job.objects.filter(kind=DELIVER).count() == 1
    # When the worker runs the queue
    run_pending_jobs()
    # Then the event was delivered and the job is done
    assert WebhookDelivery.objects.get(subscription=sub).status == "delivered"
    assert json.loads(r.requests[0]["body"])["data"]["name"] == "Acme"
    assert Job.objects.get(kind=DELIVER).status == "done"
