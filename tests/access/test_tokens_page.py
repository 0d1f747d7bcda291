"""Settings → API tokens in a real browser against the live server: create, use, revoke; the API docs offline."""

import pytest
import requests
from playwright.sync_api import expect

from kinfolk.access.models import Role
from tests.conftest import make_team, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_use_and_revoke_a_token_in_the_browser(open_browser):
    # given a member of Fundraising signed in on Settings → API tokens
    team = make_team("Fundraising")
    make_user("maria", teams=[(team, Role.MEMBER)])
    s = open_browser()
    s.sign_in("maria")
    s.go("/settings/tokens/")
    expect(s.page.get_by_role("heading", name="API tokens", level=2)).to_be_visible()
    s.assert_accessible()
    # when they create a read-and-write token for the team
    s.page.get_by_label("Name").fill("signup form")
    s.page.get_by_label("Team").select_option(label="Fundraising")
    s.page.get_by_label("read and write").check()
    s.page.get_by_role("button", name="Create token").click()
    # then the secret is shown once, and it works against the API
    secret = s.page.locator("#token-secret").inner_text().strip()
    assert secret.startswith("kf_")
    s.assert_accessible()
    s.screenshot("token-created")
    headers = {"Authorization": f"Bearer {secret}"}
    created = requests.post(
        f"{s.base}/api/v1/people/", json={"given_name": "Ada"}, headers=headers, timeout=10
    )
    assert created.status_code == 201, created.text
    row = s.page.get_by_role("row", name="signup form")
    expect(row).to_contain_text("read and write")
    expect(row).to_contain_text("active")
    # and reloading never shows the secret again
    s.go("/settings/tokens/")
    assert secret not in s.page.content()
    # when the token is revoked, then the API refuses it
    s.page.get_by_role("button", name="Revoke signup form").click()
    expect(s.page.get_by_role("row", name="signup form")).to_contain_text("revoked")
    assert requests.get(f"{s.base}/api/v1/people/", headers=headers, timeout=10).status_code == 401


def test_api_docs_render_offline_from_local_static_files(open_browser):
    make_user("root", admin=True)
    s = open_browser()
    s.sign_in("root")
    outside = []
    s.page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(s.base) else None)
    s.go("/api/v1/docs/")
    s.page.wait_for_selector("text=Kinfolk API", timeout=15000)
    # Swagger UI renders a large schema's operations lazily (a virtual list): wait for the first tag's.
    s.page.wait_for_selector("text=/api/v1/activities/", timeout=15000)
    assert outside == []  # everything comes from this server: no CDN
