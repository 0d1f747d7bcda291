"""Settings → Webhooks: the pages through Django's client, and once in a real browser with axe."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from kinfolk.access.models import Role, Team
from kinfolk.people import services as ps
from kinfolk.webhooks import services as ws
from kinfolk.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.conftest import make_team, make_user
from tests.webhooks.conftest import run_deliveries


def _client(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_create_edit_and_delete_in_the_pages(receiver):
    team = make_team("Fundraising")
    manager = make_user("mia", teams=[(team, Role.MANAGER)])
    r = receiver()
    client = _client(manager)
    # When a manager adds a webhook with a bad address, then the form says why
    bad = client.post(
        "/settings/webhooks/", {"url": "http://10.0.0.1/", "team": team.pk, "event_types": ["*"]}
    )
    assert bad.status_code == 400 and "a private address" in bad.content.decode()
    # When they add a good one, then the secret is shown once
    page = client.post(
        "/settings/webhooks/",
        {"url": r.url, "team": team.pk, "event_types": ["person.*", "list.member_added"]},
    )
    sub = WebhookSubscription.objects.get()
    assert (
        page.status_code == 200 and "whsec_" in page.content.decode() and sub.secret in page.content.decode()
    )
    assert sub.secret not in client.get("/settings/webhooks/").content.decode()
    assert sub.event_types == ["person.*", "list.member_added"]
    # When they change its events and pause it
    client.post(f"/settings/webhooks/{sub.pk}/", {"action": "update", "url": r.url, "event_types": ["*"]})
    sub.refresh_from_db()
    assert (sub.event_types, sub.is_active) == (["*"], False)
    # When they rotate its secret, then the new one is shown once
    old = sub.secret
    rotated = client.post(f"/settings/webhooks/{sub.pk}/", {"action": "rotate"})
    sub.refresh_from_db()
    assert sub.secret != old and sub.secret in rotated.content.decode() and sub.previous_secret == old
    # When they delete it, then it is gone
    client.post(f"/settings/webhooks/{sub.pk}/", {"action": "delete"})
    assert not WebhookSubscription.objects.exists()


@pytest.mark.django_db
def test_other_teams_and_members_cannot_manage():
    team = make_team("Fundraising", sharing=Team.Sharing.TEAM)
    other = make_team("Events")
    manager = make_user("mia", teams=[(team, Role.MANAGER)])
    member = make_user("max", teams=[(team, Role.MEMBER)])
    outsider = make_user("olga", teams=[(other, Role.MANAGER)])
    sub, _secret = ws.check_create_subscription(
        data={"url": "https://hooks.example.org/", "team": team.pk, "event_types": ["*"]}, actor=manager
    )
    assert _client(outsider).get(f"/settings/webhooks/{sub.pk}/").status_code == 404
    assert "hooks.example.org" not in _client(outsider).get("/settings/webhooks/").content.decode()
    member_page = _client(member).get(f"/settings/webhooks/{sub.pk}/")
    assert member_page.status_code == 200 and "Rotate secret" not in member_page.content.decode()
    refused = _client(member).post(f"/settings/webhooks/{sub.pk}/", {"action": "rotate"})
    assert refused.status_code == 400
    sub.refresh_from_db()
    assert sub.previous_secret == ""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_webhooks_settings_page_in_the_browser(open_browser, receiver):
    # Given a manager of Fundraising signed in on Settings → Webhooks
    team = make_team("Fundraising")
    manager = make_user("maria", teams=[(team, Role.MANAGER)])
    r = receiver()
    s = open_browser()
    s.sign_in("maria")
    s.go("/settings/webhooks/")
    expect(s.page.get_by_role("heading", name="Webhooks", level=2)).to_be_visible()
    s.assert_accessible()
    # When they add a webhook for organisations
    s.page.get_by_label("Address (URL)").fill(r.url)
    s.page.get_by_label("Description").fill("CRM sync")
    s.page.get_by_label("Team").select_option(label="Fundraising")
    s.page.get_by_label("organisation.*", exact=True).check()
    s.page.get_by_role("button", name="Add webhook").click()
    # Then the secret is shown once
    secret = s.page.locator("#webhook-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    s.assert_accessible()
    # When an organisation is created and its event delivered
    ps.check_create_organisation(data={"name": "Acme"}, actor=manager)
    run_deliveries()
    assert WebhookDelivery.objects.get().status == "delivered"
    # Then the delivery log shows it, with its attempt, and it can be redelivered
    s.page.get_by_role("link", name="CRM sync").click()
    expect(s.page.get_by_role("heading", name="Delivery log")).to_be_visible()
    row = s.page.get_by_role("row", name="organisation.created")
    expect(row).to_contain_text("delivered")
    row.get_by_text("1 attempt").click()
    expect(row).to_contain_text("HTTP 200")
    s.assert_accessible()
    s.screenshot("webhook-delivery-log")
    row.get_by_role("button", name="Redeliver").click()
    expect(s.page.get_by_role("row", name="organisation.created")).to_contain_text("pending")
    run_deliveries()
    assert len(r.requests) == 2
    # When the webhook is disabled after failures, then the page says so
    sub = WebhookSubscription.objects.get()
    ws.do_disable_failing(sub, reason="Every delivery failed for 24 hours; the last error: HTTP 500.")
    s.go(f"/settings/webhooks/{sub.pk}/")
    expect(s.page.get_by_role("alert")).to_contain_text("Kinfolk disabled CRM sync")
    s.assert_accessible()
