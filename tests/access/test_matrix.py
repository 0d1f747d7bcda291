"""The access matrix: for every change-logged model, every role of team A and every sharing setting of team B,
nothing team A may not see reaches it and nothing it may not change can be changed by it.

The table MODELS below must name every model of the registry: a new model without an entry fails the suite.
"""

import pytest
from django.core.exceptions import PermissionDenied

from kinfolk.access import services as access_services
from kinfolk.access.actors import SYSTEM
from kinfolk.access.models import ApiToken, Membership, Role, Team
from kinfolk.activities import services as activity_services
from kinfolk.activities.models import Activity
from kinfolk.core.models import ChangeRecord
from kinfolk.core.registry import models_with
from kinfolk.people import models as pm
from kinfolk.people import services as ps
from kinfolk.people.timeline import history, person_timeline
from kinfolk.web import services as web_services
from kinfolk.web.models import SavedView
from kinfolk.webhooks import services as webhook_services
from kinfolk.webhooks.models import WebhookSubscription
from tests.conftest import make_person, make_team, make_user

# How a record relates to team B decides what team A may do with it.
TEAM_DATA = "team data of B"  # readable if B shares with the organisation, writable if org_write (members)
RESTRICTED = "about a person restricted to B"  # never visible, never writable
SHARED = "shared record"  # visible to all; members write, managers delete
ADMIN_ONLY = "vocabulary"  # visible to all; only administrators change
TEAM_SETTINGS = "team settings"  # only B's managers and administrators change
OWN = "another user's own record"  # an API token: only its user (and administrators) see or revoke it


def _rtype():
    return ps.check_create_relationship_type(
        data={"name": "sibling", "forward_label": "sibling of", "is_symmetric": True}, actor=SYSTEM
    )


# model -> (kind, factory(world) -> instance owned by team B / about a person restricted to B)
MODELS = {
    Team: (TEAM_SETTINGS, lambda w: w["team_b"]),
    Membership: (TEAM_SETTINGS, lambda w: Membership.objects.get(user=w["b_member"], team=w["team_b"])),
    ApiToken: (
        OWN,
        lambda w: access_services.check_create_token(
            user=w["b_member"], data={"name": "b's form", "team": w["team_b"].pk}, actor=w["b_member"]
        )[0],
    ),
    WebhookSubscription: (
        TEAM_SETTINGS,
        lambda w: webhook_services.check_create_subscription(
            data={"url": "https://hooks.example.org/b", "team": w["team_b"].pk, "event_types": ["*"]},
            actor=SYSTEM,
        )[0],
    ),
    pm.Person: (RESTRICTED, lambda w: w["hidden"]),
    pm.EmailAddress: (RESTRICTED, lambda w: w["hidden"].emails.get()),
    pm.PhoneNumber: (
        RESTRICTED,
        lambda w: ps.check_add_detail(
            w["hidden"], "phones", data={"number": "+44 20 7946 0018"}, actor=w["b_member"]
        ),
    ),
    pm.PostalAddress: (
        RESTRICTED,
        lambda w: ps.check_add_detail(
            w["hidden"], "addresses", data={"locality": "Leeds", "country": "GB"}, actor=w["b_member"]
        ),
    ),
    pm.SocialProfile: (
        RESTRICTED,
        lambda w: ps.check_add_detail(
            w["hidden"],
            "social_profiles",
            data={"network": "mastodon", "handle": "@h@x.org"},
            actor=w["b_member"],
        ),
    ),
    pm.ExternalId: (
        RESTRICTED,
        lambda w: ps.check_add_detail(
            w["hidden"], "external_ids", data={"system": "shop", "value": "77"}, actor=w["b_member"]
        ),
    ),
    pm.Organisation: (SHARED, lambda w: w["org"]),
    pm.Affiliation: (
        RESTRICTED,
        lambda w: ps.check_create_affiliation(
            w["hidden"], w["org"], data={"title": "Chair"}, actor=w["b_member"]
        ),
    ),
    pm.RelationshipType: (ADMIN_ONLY, lambda w: w["rtype"]),
    pm.Relationship: (
        RESTRICTED,
        lambda w: ps.check_create_relationship(w["open"], w["hidden"], w["rtype"], actor=w["b_member"]),
    ),
    pm.Household: (SHARED, lambda w: w["household"]),
    pm.HouseholdMember: (
        RESTRICTED,
        lambda w: ps.check_add_household_member(w["household"], w["hidden"], actor=w["b_member"]),
    ),
    pm.Tag: (TEAM_DATA, lambda w: w["tag"]),
    pm.PersonTag: (TEAM_DATA, lambda w: ps.check_tag(w["open"], w["tag"], actor=w["b_member"])),
    pm.OrganisationTag: (TEAM_DATA, lambda w: ps.check_tag(w["org"], w["tag"], actor=w["b_member"])),
    pm.List: (TEAM_DATA, lambda w: w["list"]),
    pm.ListMembership: (TEAM_DATA, lambda w: ps.check_add_to_list(w["list"], w["open"], actor=w["b_member"])),
    Activity: (
        TEAM_DATA,
        lambda w: activity_services.check_create_activity(
            team=w["team_b"], person=w["open"], data={"subject": "Call"}, actor=w["b_member"]
        ),
    ),
    SavedView: (
        TEAM_DATA,
        lambda w: web_services.check_save_view(
            kind="people", name="Donors", params={"sort": "-created"}, team=w["team_b"], actor=w["b_member"]
        ),
    ),
}

# Team data about a restricted person is hidden whatever the sharing.
RESTRICTED_TEAM_DATA = {
    pm.PersonTag: lambda w: ps.check_tag(w["hidden"], w["tag"], actor=w["b_member"]),
    pm.ListMembership: lambda w: ps.check_add_to_list(w["list"], w["hidden"], actor=w["b_member"]),
    Activity: lambda w: activity_services.check_create_activity(
        team=w["team_b"], person=w["hidden"], data={"subject": "Secret"}, actor=w["b_member"]
    ),
}

_DETAIL_KINDS = {pm.PhoneNumber, pm.PostalAddress, pm.SocialProfile, pm.ExternalId, pm.EmailAddress}


def writes(obj, actor, w):
    """Every write service that changes or deletes obj, as (name, call)."""
    m = type(obj)
    if m is Team:
        return [
            (
                "update team",
                lambda: access_services.check_update_team(obj, changes={"name": "Renamed"}, actor=actor),
            ),
            (
                "add member",
                lambda: access_services.check_add_member(obj, actor, role=Role.MANAGER, actor=actor),
            ),
        ]
    if m is Membership:
        return [
            ("remove member", lambda: access_services.check_remove_member(obj, actor=actor)),
            (
                "change role",
                lambda: access_services.check_add_member(obj.team, obj.user, role="viewer", actor=actor),
            ),
        ]
    if m is ApiToken:
        return [("revoke", lambda: access_services.check_revoke_token(obj, actor=actor))]
    if m is WebhookSubscription:
        return [
            (
                "update",
                lambda: webhook_services.check_update_subscription(
                    obj, changes={"is_active": False}, actor=actor
                ),
            ),
            ("rotate secret", lambda: webhook_services.check_rotate_secret(obj, actor=actor)),
            ("delete", lambda: webhook_services.check_delete_subscription(obj, actor=actor)),
        ]
    if m is pm.Person:
        return [
            ("update", lambda: ps.check_update_person(obj, changes={"given_name": "Changed"}, actor=actor)),
            (
                "add detail",
                lambda: ps.check_add_detail(obj, "emails", data={"email": "z@example.org"}, actor=actor),
            ),
            ("restrict", lambda: ps.check_set_restriction(obj, team_ids=[], actor=actor)),
            ("delete", lambda: ps.check_delete_person(obj, actor=actor)),
        ]
    if m in _DETAIL_KINDS:
        return [("remove", lambda: ps.check_remove_detail(obj, actor=actor))]
    if m is pm.Organisation:
        return [
            ("update", lambda: ps.check_update_organisation(obj, changes={"name": "Changed"}, actor=actor)),
            ("delete", lambda: ps.check_delete_organisation(obj, actor=actor)),
        ]
    if m is pm.Affiliation:
        return [
            ("update", lambda: ps.check_update_affiliation(obj, changes={"title": "X"}, actor=actor)),
            ("delete", lambda: ps.check_delete_affiliation(obj, actor=actor)),
        ]
    if m is pm.RelationshipType:
        return [
            ("update", lambda: ps.check_update_relationship_type(obj, changes={"name": "x"}, actor=actor)),
            ("delete", lambda: ps.check_delete_relationship_type(obj, actor=actor)),
        ]
    if m is pm.Relationship:
        return [("delete", lambda: ps.check_delete_relationship(obj, actor=actor))]
    if m is pm.Household:
        return [("add member", lambda: ps.check_add_household_member(obj, w["open"], actor=actor))]
    if m is pm.HouseholdMember:
        return [("remove", lambda: ps.check_remove_household_member(obj, actor=actor))]
    if m is pm.Tag:
        return [
            ("delete", lambda: ps.check_delete_tag(obj, actor=actor)),
            ("tag on behalf of B", lambda: ps.check_tag(w["open2"], obj, actor=actor)),
        ]
    if m in (pm.PersonTag, pm.OrganisationTag):
        return [("untag", lambda: ps.check_untag(obj, actor=actor))]
    if m is pm.List:
        return [
            ("update", lambda: ps.check_update_list(obj, changes={"name": "Changed"}, actor=actor)),
            ("add person", lambda: ps.check_add_to_list(obj, w["open2"], actor=actor)),
            ("delete", lambda: ps.check_delete_list(obj, actor=actor)),
        ]
    if m is pm.ListMembership:
        return [("remove", lambda: ps.check_remove_from_list(obj, actor=actor))]
    if m is Activity:
        return [
            (
                "update",
                lambda: activity_services.check_update_activity(obj, changes={"subject": "X"}, actor=actor),
            ),
            ("delete", lambda: activity_services.check_delete_activity(obj, actor=actor)),
            (
                "create for B",
                lambda: activity_services.check_create_activity(
                    team=w["team_b"], person=w["open2"], data={"subject": "New"}, actor=actor
                ),
            ),
        ]
    if m is SavedView:
        return [
            (
                "change",
                lambda: web_services.check_save_view(
                    kind="people", name=obj.name, params={"sort": "name"}, team=w["team_b"], actor=actor
                ),
            ),
            ("delete", lambda: web_services.check_delete_view(obj, actor=actor)),
        ]
    raise AssertionError(f"no write services listed for {m.__name__}")


def expected(kind, sharing, role, action):
    """Whether a user with `role` in team A may `action` ('view' or a write) a record of this kind."""
    writer = role in (Role.MEMBER, Role.MANAGER)
    if kind == TEAM_DATA:
        return (
            sharing != Team.Sharing.TEAM
            if action == "view"
            else (sharing == Team.Sharing.ORG_WRITE and writer)
        )
    if kind == RESTRICTED:
        return False
    if kind == SHARED:
        if action == "view":
            return True
        return role == Role.MANAGER if action == "delete" else writer
    if kind == ADMIN_ONLY:
        return action == "view"
    if kind == OWN:
        return False
    if kind == TEAM_SETTINGS:
        return False  # teams are listed by name, but only B's managers change B's settings and members
    raise AssertionError(kind)


def test_every_change_logged_model_is_in_the_matrix():
    # Given the registry of change-logged models / When compared with the table / Then none is missing
    missing = {m.__name__ for m in models_with("change_logging")} - {m.__name__ for m in MODELS}
    assert missing == set()


def _world(sharing):
    team_a = make_team("Fundraising")
    team_b = make_team("Events", sharing=sharing)
    users = {role: make_user(f"a_{role}", teams=[(team_a, role)]) for role in Role.values}
    b_member = make_user("b_member", teams=[(team_b, Role.MEMBER)])
    w = {"team_a": team_a, "team_b": team_b, "users": users, "b_member": b_member}
    w["hidden"] = make_person(
        actor=b_member,
        given_name="Hidden",
        emails=[{"email": "hidden@example.org"}],
        restricted_to_teams=[team_b.pk],
    )
    w["open"] = make_person(actor=b_member, given_name="Open")
    w["open2"] = make_person(actor=b_member, given_name="Other")
    w["org"] = ps.check_create_organisation(data={"name": "Acme"}, actor=b_member)
    w["rtype"] = _rtype()
    w["household"] = ps.check_create_household(data={"name": "The Smiths"}, actor=b_member)
    w["tag"] = ps.check_create_tag(data={"name": "vip"}, team=team_b, actor=b_member)
    w["list"] = ps.check_create_list(team=team_b, data={"name": "Gala guests"}, actor=b_member)
    w["objects"] = {model: factory(w) for model, (_kind, factory) in MODELS.items()}
    w["restricted_team_data"] = {model: factory(w) for model, factory in RESTRICTED_TEAM_DATA.items()}
    return w


def _state(obj):
    row = list(type(obj).objects.filter(pk=obj.pk).values())
    return row, ChangeRecord.objects.count(), {m: m.objects.count() for m in MODELS}


SHARINGS = [Team.Sharing.TEAM, Team.Sharing.ORG_READ, Team.Sharing.ORG_WRITE]


@pytest.mark.django_db
@pytest.mark.parametrize("sharing", SHARINGS)
def test_visibility_matrix(sharing):
    # Given team B with this sharing, and for every model one record owned by B or about a person restricted to B
    w = _world(sharing)
    for role, user in w["users"].items():
        for model, (kind, _factory) in MODELS.items():
            obj = w["objects"][model]
            # When user of team A lists the model / Then the record is there exactly when it should be
            visible = model.objects.visible_to(user)
            want = model is Team if kind == TEAM_SETTINGS else expected(kind, sharing, role, "view")
            assert visible.filter(pk=obj.pk).exists() is want, (model.__name__, role, sharing)
            assert visible.filter(pk=obj.pk).count() == int(want), (model.__name__, role, sharing)
        for model, obj in w["restricted_team_data"].items():
            assert not model.objects.visible_to(user).filter(pk=obj.pk).exists(), (model.__name__, role)
        # Restricted people never show up in timelines or history
        hidden = w["hidden"]
        timeline = person_timeline(w["open"], actor=user)
        assert all(
            item.kind != "relationship" or hidden.pk not in (item.obj.from_person_id, item.obj.to_person_id)
            for item in timeline
        )
        assert list(history(hidden, actor=user)) == []
        assert not ChangeRecord.objects.visible_to(user).filter(person_id=hidden.pk).exists()
        assert person_timeline(hidden, actor=user) == []


@pytest.mark.django_db
@pytest.mark.parametrize("sharing", SHARINGS)
def test_write_matrix(sharing):
    # Given the same world; When each user of team A calls every write service on each record
    w = _world(sharing)
    failures = []
    for role, user in w["users"].items():
        for model, (kind, _factory) in MODELS.items():
            obj = w["objects"][model]
            obj.refresh_from_db()
            for name, call in writes(obj, user, w):
                action = "delete" if name == "delete" else "change"
                allowed = expected(kind, sharing, role, action)
                if allowed:
                    continue  # allowed writes are proved below, on a fresh record
                before = _state(obj)
                try:
                    call()
                except PermissionDenied:
                    pass
                else:
                    failures.append((model.__name__, name, role, "was allowed"))
                    continue
                # Then it is refused and nothing changed, not even the audit trail
                if _state(obj) != before:
                    failures.append((model.__name__, name, role, "changed the database"))
    assert failures == []


@pytest.mark.django_db
def test_org_write_lets_members_of_other_teams_change_team_data():
    # Given team B shares with org_write
    w = _world(Team.Sharing.ORG_WRITE)
    member = w["users"][Role.MEMBER]
    activity = w["objects"][Activity]
    # When a member of team A edits B's activity, adds to B's list and tags on behalf of B
    activity_services.check_update_activity(activity, changes={"subject": "Edited"}, actor=member)
    ps.check_add_to_list(w["list"], w["open2"], actor=member)
    ps.check_tag(w["open2"], w["tag"], actor=member)
    # Then the changes are made and recorded under that member
    activity.refresh_from_db()
    assert activity.subject == "Edited"
    assert pm.ListMembership.objects.filter(list=w["list"], person=w["open2"]).count() == 1
    assert ChangeRecord.objects.filter(user=member).count() == 3


@pytest.mark.django_db
def test_only_managers_and_admins_change_team_settings_and_members():
    team = make_team("Events")
    manager = make_user("m", teams=[(team, Role.MANAGER)])
    member = make_user("u", teams=[(team, Role.MEMBER)])
    outsider = make_user("o")
    admin = make_user("root", admin=True)
    for user in (member, outsider):
        with pytest.raises(PermissionDenied):
            access_services.check_update_team(team, changes={"sharing": "team"}, actor=user)
        with pytest.raises(PermissionDenied):
            access_services.check_add_member(team, outsider, role=Role.MANAGER, actor=user)
    access_services.check_update_team(team, changes={"sharing": "team"}, actor=manager)
    access_services.check_add_member(team, outsider, role=Role.VIEWER, actor=manager)
    access_services.check_update_team(team, changes={"sharing": "org_write"}, actor=admin)
    team.refresh_from_db()
    assert team.sharing == "org_write"
    assert Membership.objects.get(team=team, user=outsider).role == Role.VIEWER
