"""Shared fixtures: two teams, a user for every role in each, and service-made people.

Data is always created through the services, as a user would create it.
"""

import itertools

import pytest

from kinfolk.access.actors import SYSTEM
from kinfolk.access.models import Role, Team
from kinfolk.access.services import check_add_member, check_create_team, do_create_user
from kinfolk.core.context import acting

# The browser fixtures are defined once, here, for the whole suite: a second definition would start a
# second Playwright (and its event loop) in the same process while the first still runs.
from tests.web.browser import browser, open_browser, web_server  # noqa: F401, E402

_counter = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def plain_http():
    """Tests talk plain http: the live server (browser, schemathesis) has no TLS in front of it.

    Production settings (HTTPS redirect, secure cookies, HSTS) are checked by `make check`
    (`manage.py check --deploy`). Set for the whole session, so that no test's outcome depends on
    which test happened to start the live server first.
    """
    from django.test import override_settings

    plain = override_settings(
        SECURE_SSL_REDIRECT=False,
        SECURE_HSTS_SECONDS=0,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
    )
    plain.enable()
    yield
    plain.disable()


@pytest.fixture(autouse=True)
def _test_source():
    """Writes made by tests are recorded with source 'shell' unless a test says otherwise."""
    with acting("shell"):
        yield


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language: a request as a German user leaves German active in
    the thread (LocaleMiddleware), and a later test run in the same process would read German words."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def system():
    return SYSTEM


def make_user(username=None, *, admin=False, teams=(), password="correct horse battery staple"):
    """A user made through the service; `teams` is [(team, role), …]."""
    user = do_create_user(
        values={
            "username": username or f"user{next(_counter)}",
            "is_org_admin": admin,
            "email": f"{username or 'user'}@example.org",
        },
        password=password,
        actor=SYSTEM,
    )
    for team, role in teams:
        check_add_member(team, user, role=role, actor=SYSTEM)
    user.refresh_from_db()
    return user


def make_team(name, sharing=Team.Sharing.ORG_READ):
    return check_create_team(data={"name": name, "sharing": sharing}, actor=SYSTEM)


def make_person(actor=SYSTEM, **data):
    """A person made through check_create_person; keyword arguments are the API's fields."""
    from kinfolk.people.services import check_create_person

    data.setdefault("given_name", f"Given{next(_counter)}")
    data.setdefault("family_name", "Example")
    team = data.pop("team", None)
    return check_create_person(data=data, actor=actor, team=team)


@pytest.fixture
def team_a(db):
    return make_team("Fundraising")


@pytest.fixture
def team_b(db):
    return make_team("Events")


@pytest.fixture
def admin(db):
    return make_user("admin", admin=True)


@pytest.fixture
def users(team_a, team_b):
    """{'a_viewer': user, 'a_member': …, 'a_manager': …, 'b_viewer': …, …}."""
    result = {}
    for label, team in (("a", team_a), ("b", team_b)):
        for role in Role.values:
            result[f"{label}_{role}"] = make_user(f"{label}_{role}", teams=[(team, role)])
    return result
