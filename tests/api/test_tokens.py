"""API tokens: made once and stored hashed; expiry, revocation, team and scope; the CLI; rate limits."""

import datetime
import os
import subprocess
import sys

import pytest
from django.utils import timezone

from kinfolk.access.models import ApiToken, Role
from kinfolk.access.services import check_create_token, check_revoke_token
from kinfolk.access.tokens import hash_secret
from kinfolk.api.throttling import DatabaseCounter, RedisCounter
from kinfolk.people.models import Person
from tests.api.conftest import Api, make_token
from tests.conftest import make_person, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(team_a):
    return make_user("member", teams=[(team_a, Role.MEMBER)])


def test_token_is_stored_hashed_and_works_as_bearer(member, team_a):
    token, secret = check_create_token(user=member, data={"name": "form", "team": team_a.pk}, actor=member)
    assert secret.startswith("kf_") and len(secret) >= 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.key_hash == hash_secret(secret)
    assert secret not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert stored.scope == "read"
    assert stored.expires_at > timezone.now() + datetime.timedelta(days=89)
    response = Api(secret).get("me/")
    assert response.status_code == 200
    assert response.json()["token"]["name"] == "form"
    assert "token" not in response.json()["token"]  # the secret is never shown again


@pytest.mark.parametrize("header", ["Bearer kf_nope", "Bearer", "Bearer a b", "Basic abc"])
def test_bad_credentials_are_401_with_a_challenge(db, header):
    client = Api()
    response = client.client.get("/api/v1/people/", secure=True, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["code"] == "not_authenticated"


def test_revoked_and_expired_tokens_are_refused(member, team_a):
    token, secret = check_create_token(user=member, data={"name": "x", "team": team_a.pk}, actor=member)
    assert Api(secret).get("people/").status_code == 200
    check_revoke_token(token, actor=member)
    assert Api(secret).get("people/").status_code == 401
    token2, secret2 = check_create_token(user=member, data={"name": "y", "team": team_a.pk}, actor=member)
    ApiToken.objects.filter(pk=token2.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert Api(secret2).get("people/").status_code == 401


def test_token_is_limited_to_its_team(team_a, team_b):
    # Given a user in teams A and B, and a token for team A only
    user = make_user("both", teams=[(team_a, Role.MEMBER), (team_b, Role.MEMBER)])
    b_only = make_person(actor=user, given_name="B only", restricted_to_teams=[team_b.pk])
    api = Api(make_token(user, team_a, "write"))
    # Then the token does not see what only team B may see, and cannot write for team B
    assert api.get(f"people/{b_only.pk}/").status_code == 404
    assert api.get("me/").json()["teams"] == [{"id": team_a.pk, "name": team_a.name, "role": "member"}]
    refused = api.post("lists/", {"team": team_b.pk, "name": "Sneaky"})
    assert refused.status_code == 403
    assert api.post("lists/", {"team": team_a.pk, "name": "Fine"}).status_code == 201


def test_token_stops_working_when_its_user_leaves_the_team(member, team_a):
    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.models import Membership
    from kinfolk.access.services import check_remove_member

    api = Api(make_token(member, team_a, "write"))
    assert api.get("people/").status_code == 200
    check_remove_member(Membership.objects.get(user=member, team=team_a), actor=SYSTEM)
    assert api.get("people/").status_code == 401


def test_a_token_seen_before_still_sees_every_change_on_the_next_request(member, team_a):
    # Given a token this process has already recognised (and keeps)
    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.services import check_add_member, check_set_user_active
    from kinfolk.access.tokens import _SEEN

    token, secret = check_create_token(
        user=member, data={"name": "k", "team": team_a.pk, "scope": "write"}, actor=member
    )
    api = Api(secret)
    assert api.post("lists/", {"team": team_a.pk, "name": "One"}).status_code == 201
    assert token.key_hash in _SEEN
    # When its user becomes a viewer, the very next write is refused and reads still work
    check_add_member(team_a, member, role=Role.VIEWER, actor=SYSTEM)
    assert api.post("lists/", {"team": team_a.pk, "name": "Two"}).status_code == 403
    assert api.get("people/").status_code == 200
    # A change made behind the services' back (no hook to tell anyone) is seen as well
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert api.get("people/").status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + datetime.timedelta(days=1))
    assert api.get("people/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert api.get("people/").status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=None)
    assert api.get("me/").json()["teams"][0]["role"] == "viewer"
    # And a deactivated user's token stops at once
    check_set_user_active(member, active=False, actor=SYSTEM)
    assert api.get("people/").status_code == 401


def test_a_kept_token_is_each_request_s_own_copy(member, team_a):
    from kinfolk.access.tokens import _SEEN, actor_for, find_active

    _token, secret = check_create_token(user=member, data={"name": "c", "team": team_a.pk}, actor=member)
    first = find_active(secret)
    # What one request caches on its token, its user and its actor...
    assert first.user.team_roles == {team_a.pk: Role.MEMBER}
    assert first.team == team_a
    assert actor_for(first).team_ids == {team_a.pk}
    second = find_active(secret)
    assert second is not first and second.user is not first.user
    kept = _SEEN[first.key_hash][1]
    assert "team_roles" not in kept.user.__dict__  # ...never reaches the kept token or the next request
    assert "team" not in kept._state.fields_cache


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "x"}, "team"),
        ({"name": "x", "team": 99999}, "team"),
        ({"name": "", "team": "TEAM"}, "name"),
        ({"name": "x", "team": "TEAM", "scope": "admin"}, "scope"),
        ({"name": "x", "team": "TEAM", "expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
    ],
)
def test_token_creation_errors_name_the_field(member, team_a, data, field):
    from django.core.exceptions import ValidationError

    data = {k: (team_a.pk if v == "TEAM" else v) for k, v in data.items()}
    with pytest.raises(ValidationError) as exc:
        check_create_token(user=member, data=data, actor=member)
    assert field in exc.value.message_dict


def test_tokens_through_the_api_create_list_revoke(member, team_a):
    api = Api(make_token(member, team_a, "write", name="admin tool"))
    created = api.post("tokens/", {"name": "child", "team": team_a.pk, "scope": "read"})
    assert created.status_code == 201
    secret = created.json()["token"]
    assert Api(secret).get("people/").status_code == 200
    listed = api.get("tokens/").json()["results"]
    assert sorted(t["name"] for t in listed) == ["admin tool", "child"]
    assert all("token" not in t for t in listed)
    assert api.delete(f"tokens/{created.json()['id']}/").status_code == 204
    assert Api(secret).get("people/").status_code == 401
    # A read token cannot mint a write token
    reader = Api(secret=make_token(member, team_a, "read"))
    assert reader.post("tokens/", {"name": "up", "team": team_a.pk, "scope": "write"}).status_code == 403


def test_rate_limit_answers_429_with_retry_after(member, team_a):
    api = Api(make_token(member, team_a, "read", rate_limit=3))
    codes = [api.get("people/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = api.get("people/")
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    # Another token has its own allowance
    assert Api(make_token(member, team_a, "read")).get("people/").status_code == 200


def test_database_counter_is_shared_not_per_process(db):
    # Two counters stand for two web processes: they count in one place
    first, second = DatabaseCounter(), DatabaseCounter()
    assert [first.hit("t", 3, 60), second.hit("t", 3, 60), first.hit("t", 3, 60)] == [True, True, True]
    assert second.hit("t", 3, 60) is False
    assert first.hit("t", 3, 120) is True  # a new window starts afresh


def test_database_counter_leases_never_exceed_the_limit(db):
    # Given two web processes and a limit of 300 a minute: each takes 3 requests per UPDATE
    from kinfolk.api.models import RateCounter
    from kinfolk.api.throttling import lease_size

    assert lease_size(300) == 3 and lease_size(199) == 1 and lease_size(10**9) == 16
    first, second = DatabaseCounter(), DatabaseCounter()
    allowed = sum(counter.hit("lease", 300, 60) for _ in range(200) for counter in (first, second))
    # Then the shared row never passes the limit, and only unspent leases (< 2 x 3) are refused early
    assert RateCounter.objects.get(bucket="lease", window=60).count <= 300
    assert 300 - 2 * 3 < allowed <= 300
    assert first.hit("lease", 300, 120) is True  # a new window starts afresh


REDIS_URL = os.environ.get("KINFOLK_TEST_REDIS_URL") or "redis://127.0.0.1:6379/2"


def _redis_or_skip():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")


def test_redis_counter_is_shared_by_separate_processes(tmp_path):
    _redis_or_skip()
    import uuid

    prefix = f"kinfolk-test-{uuid.uuid4().hex}:"
    code = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'kinfolk.settings'; django.setup();"
        "from kinfolk.api.throttling import RedisCounter;"
        f"c = RedisCounter({REDIS_URL!r}, {prefix!r});"
        "print(sum(c.hit('tok', 10, 60) for _ in range(8)))"
    )
    env = {**os.environ, "KINFOLK_HOME": str(tmp_path)}
    runs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60)[0] for run in runs]
    # 16 requests from two processes against a limit of 10: exactly 10 allowed in total
    assert sum(int(o) for o in outputs) == 10
    RedisCounter(REDIS_URL, prefix).client.delete(f"{prefix}tok:60")


def test_cli_creates_lists_and_revokes_tokens(member, team_a, capsys):
    from kinfolk import cli

    assert cli.cmd_token(_args("create", user="member", team=team_a.slug, scope="write", name="cli")) == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert Api(secret).post("people/", {"given_name": "From CLI"}).status_code == 201
    token = ApiToken.objects.get(name="cli")
    assert cli.cmd_token(_args("list")) == 0
    listing = capsys.readouterr().out
    assert f"{token.pk}\tcli\tmember\t{team_a.slug}\twrite\t{token.prefix}" in listing
    assert secret not in listing
    assert cli.cmd_token(_args("revoke", id=token.pk)) == 0
    assert Api(secret).get("people/").status_code == 401
    assert cli.cmd_token(_args("create", user="nobody", team=team_a.slug, scope="read", name=None)) == 2
    assert Person.objects.filter(given_name="From CLI").count() == 1


def _args(action, **kw):
    import argparse

    defaults = {"user": None, "team": None, "scope": "read", "name": None, "expires_days": None, "id": None}
    return argparse.Namespace(token_command=action, **{**defaults, **kw})


@pytest.mark.slow_cli
def test_cli_token_create_prints_the_secret_last(tmp_path):
    env = {**os.environ, "KINFOLK_HOME": str(tmp_path), "KINFOLK_DATABASE_URL": ""}
    kinfolk = [sys.executable, "-m", "kinfolk.cli"]
    subprocess.run(
        [*kinfolk, "init", "--admin-password", "a long enough password"],
        env=env,
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [*kinfolk, "token", "create", "--user", "admin", "--scope", "write", "--name", "ci"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip().splitlines()[-1].startswith("kf_")
    listing = subprocess.run(
        [*kinfolk, "token", "list"], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert "\tci\tadmin\t-\twrite\t" in listing


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow_cli
def test_database_counter_is_shared_by_separate_processes(tmp_path):
    # Given the database this suite runs on (PostgreSQL), or a SQLite file (the suite's SQLite is in memory)
    from django.db import connection

    env = {**os.environ, "KINFOLK_HOME": str(tmp_path)}
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        env["KINFOLK_DATABASE_URL"] = (
            f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        )
    else:
        env["KINFOLK_DATABASE_URL"] = ""
        subprocess.run(
            [sys.executable, "-m", "kinfolk.cli", "manage", "migrate", "api", "-v0"], env=env, check=True
        )
    code = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE'] = 'kinfolk.settings'; django.setup();"
        "from kinfolk.api.throttling import DatabaseCounter; c = DatabaseCounter();"
        "print(sum(c.hit('shared', 10, 60) for _ in range(8)))"
    )
    # When two processes each make 8 requests against a limit of 10
    runs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    # Then exactly 10 are allowed in total
    assert sum(int(o) for o in outputs) == 10
