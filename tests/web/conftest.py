"""Fixtures for the web application: a small organisation made through the services, and signed-in clients."""

import pytest
from django.test import Client

from kinfolk.access.actors import SYSTEM
from kinfolk.access.models import Role, Team
from kinfolk.people import services as ps
from tests.conftest import make_person, make_team, make_user


@pytest.fixture
def world(db):
    """Two teams (B keeps its data to itself), a member of each, people (one restricted to B), tags and a list."""
    team_a = make_team("Fundraising")
    team_b = make_team("Events", sharing=Team.Sharing.TEAM)
    w = {
        "team_a": team_a,
        "team_b": team_b,
        "admin": make_user("root", admin=True),
        "a": make_user("alice", teams=[(team_a, Role.MEMBER)]),
        "b": make_user("bob", teams=[(team_b, Role.MEMBER)]),
    }
    w["ada"] = make_person(
        given_name="Ada", family_name="Lovelace", emails=[{"email": "ada@example.org"}], country="GB"
    )
    w["charles"] = make_person(given_name="Charles", family_name="Babbage")
    w["secret"] = make_person(
        actor=w["b"], given_name="Secret", family_name="Donor", restricted_to_teams=[team_b.pk]
    )
    w["org"] = ps.check_create_organisation(data={"name": "Analytical Engines Ltd"}, actor=SYSTEM)
    ps.check_create_affiliation(w["ada"], w["org"], data={"title": "Countess"}, actor=SYSTEM)
    w["tag"] = ps.check_create_tag(data={"name": "donor"}, team=team_a, actor=SYSTEM)
    w["list"] = ps.check_create_list(team=team_a, data={"name": "Gala guests"}, actor=SYSTEM)
    w["rtype"] = ps.check_create_relationship_type(
        data={"name": "mentor", "forward_label": "mentor of", "reverse_label": "mentee of"}, actor=SYSTEM
    )
    return w


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_user():
    return client_for


def add_lookalikes(world):
    """Two pairs to review: Ada Lovelace twice (same email), Charles Babbage twice (same phone)."""
    world["ada2"] = make_person(
        given_name="Ada", family_name="Lovelace", emails=[{"email": "ADA@example.org"}], country="GB"
    )
    world["charles2"] = make_person(
        given_name="Charles", family_name="Babbage", phones=[{"number": "+44 20 7946 0001"}]
    )
    ps.check_add_detail(world["charles"], "phones", data={"number": "+44 20 7946 0001"}, actor=world["admin"])
    return world
