"""Every page in a signed-in user's hands: reachable, scoped by visible_to, and safe (CSP, CSRF, framing)."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def pages(w):
    return [
        "/",
        "/people/",
        "/organisations/",
        f"/people/{w['ada'].pk}/",
        f"/organisations/{w['org'].pk}/",
        "/people/new/",
        "/organisations/new/",
        "/search/?q=ada",
        "/settings/teams/",
        f"/settings/teams/{w['team_a'].pk}/",
        "/settings/users/",
        "/settings/relationship-types/",
        "/settings/tags/",
        "/imports/",
    ]


def test_every_page_needs_a_signed_in_user(world):
    client = Client()
    for url in pages(world):
        response = client.get(url, secure=True)
        assert response.status_code == 302, url
        assert response.url.startswith("/accounts/login/?next="), url


def test_every_page_renders_for_a_member_and_an_administrator(world, as_user):
    for user in (world["a"], world["admin"]):
        client = as_user(user)
        for url in pages(world):
            response = client.get(url)
            assert response.status_code == 200, (user.username, url)
            assert b'id="global-search"' in response.content


def test_security_headers_on_every_page(world, as_user):
    response = as_user(world["a"]).get("/people/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Frame-Options"] == "DENY"
    # and no inline script or style anywhere in the page
    html = response.content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert " style=" not in html and "<style" not in html


def test_forms_need_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["a"])
    response = client.post(f"/people/{world['ada'].pk}/edit/", {"given_name": "Eve"}, secure=True)
    assert response.status_code == 403
    world["ada"].refresh_from_db()
    assert world["ada"].given_name == "Ada"


def test_a_restricted_person_is_not_found_by_another_team(world, as_user):
    secret = world["secret"]
    assert as_user(world["b"]).get(f"/people/{secret.pk}/").status_code == 200
    client = as_user(world["a"])
    assert client.get(f"/people/{secret.pk}/").status_code == 404
    assert client.post(f"/people/{secret.pk}/edit/", {"given_name": "X"}).status_code == 404
    assert b"Secret Donor" not in client.get("/people/").content
    assert b"Secret Donor" in as_user(world["b"]).get("/people/").content


def test_first_run_sends_an_administrator_to_set_up_teams(db, as_user):
    from tests.conftest import make_user

    admin = make_user("first", admin=True)
    client = as_user(admin)
    response = client.get("/")
    assert response.status_code == 302 and response.url == "/setup/"
    response = client.post("/setup/", {"form": "team", "name": "Volunteers", "sharing": "org_read"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert as_user(make_user("plain")).get("/setup/").status_code == 403


def test_the_theme_is_remembered_without_javascript(world, as_user):
    client = as_user(world["a"])
    response = client.post("/theme/", {"theme": "dark", "next": "/people/"})
    assert response.status_code == 302 and response.url == "/people/"
    assert b'data-theme="dark"' in client.get("/people/").content
    response = client.post("/theme/", {"theme": "dark", "next": "https://evil.example/"})
    assert response.url == "/"


def test_user_language_and_time_zone(world, as_user):
    from kinfolk.activities.services import check_create_activity

    user = world["a"]
    user.language, user.time_zone = "de", "Asia/Tokyo"
    user.save(update_fields=["language", "time_zone"])
    import datetime

    when = datetime.datetime(2025, 3, 31, 23, 30, tzinfo=datetime.UTC)
    check_create_activity(
        team=world["team_a"],
        person=world["ada"],
        data={"subject": "Late call", "occurred_at": when},
        actor=user,
    )
    html = as_user(user).get(f"/people/{world['ada'].pk}/?show=note").content.decode()
    assert '<html lang="de"' in html
    assert "01.04.2025 08:30" in html  # 23:30 UTC is 08:30 the next day in Tokyo, written the German way


def test_ids_that_are_not_numbers_are_not_found_never_a_server_error(world, as_user):
    client = as_user(world["admin"])
    pk = world["ada"].pk
    posts = [
        ("/people/bulk/", {"ids": ["x", "1e9", "9" * 30], "action": "tag", "tag": "abc"}),
        (f"/people/{pk}/tags/", {"tag": "abc", "team": "x"}),
        (f"/people/{pk}/lists/", {"list": "abc"}),
        (f"/people/{pk}/relationships/", {"other": "abc", "type": "x:f"}),
        (f"/people/{pk}/activities/", {"team": "abc", "kind": "note"}),
        ("/settings/relationship-types/", {"action": "delete", "type": "abc"}),
        ("/settings/tags/", {"action": "delete_tag", "tag": "abc"}),
        ("/settings/tags/", {"action": "create_list", "team": "abc", "name": "x"}),
        (f"/settings/teams/{world['team_a'].pk}/", {"action": "add", "user": "abc", "role": "member"}),
        ("/views/people/save/", {"name": "x", "team": "abc"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code in (200, 302, 400, 404), url
    assert client.get("/people/?view=abc").status_code == 404
    assert client.get(f"/people/?tag={'9' * 30}&list=-1&organisation=x").status_code == 200
    from kinfolk.web.lists import encode_cursor

    assert client.get(f"/people/?cursor={encode_cursor('after', 'A', 10**30)}").status_code == 200
    assert client.get(f"/people/{pk}/?team=abc&show=note").status_code == 200
    assert client.get(f"/people/{pk}/?team={'9' * 30}").status_code == 200
