"""Settings → Users: administrators deactivate and reactivate accounts and give or take the administrator role."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from kinfolk.access import services as access_services
from kinfolk.access.actors import SYSTEM
from kinfolk.access.models import User
from kinfolk.core.models import ChangeRecord
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def test_an_administrator_deactivates_a_user_who_then_cannot_sign_in_and_reactivates_them(world, as_user):
    # given Alice signed in, and the administrator on Settings → Users
    alice = world["a"]
    alice_browser = Client()
    assert alice_browser.login(username="alice", password=PASSWORD)
    admin = as_user(world["admin"])
    assert 'value="deactivate"' in admin.get("/settings/users/").content.decode()
    # when the administrator deactivates her
    response = admin.post(f"/settings/users/{alice.pk}/", {"action": "deactivate"})
    # then she is inactive, her open session ends, she cannot sign in, and the change is recorded
    assert response.status_code == 302
    alice.refresh_from_db()
    assert not alice.is_active
    assert alice_browser.get("/people/").status_code == 302  # back to the sign-in page
    assert not Client().login(username="alice", password=PASSWORD)
    record = ChangeRecord.objects.filter(object_id=alice.pk, object_type__model="user").latest("id")
    assert (
        record.changes["is_active"] == {"before": True, "after": False}
        and record.user_id == world["admin"].pk
    )
    # when she is reactivated, then she can sign in again
    admin.post(f"/settings/users/{alice.pk}/", {"action": "reactivate"})
    assert Client().login(username="alice", password=PASSWORD)


def test_an_administrator_gives_and_takes_the_administrator_role(world, as_user):
    admin = as_user(world["admin"])
    bob = world["b"]
    admin.post(f"/settings/users/{bob.pk}/", {"action": "make_admin"})
    bob.refresh_from_db()
    assert bob.is_org_admin and bob.is_staff
    admin.post(f"/settings/users/{bob.pk}/", {"action": "remove_admin"})
    bob.refresh_from_db()
    assert not bob.is_org_admin and not bob.is_staff


def test_nobody_locks_the_organisation_out(world):
    root = world["admin"]
    with pytest.raises(ValidationError, match="cannot deactivate yourself"):
        access_services.check_set_user_active(root, active=False, actor=root)
    with pytest.raises(ValidationError, match="cannot remove your own administrator role"):
        access_services.check_set_org_admin(root, admin=False, actor=root)
    other = make_user("second", admin=True)
    access_services.check_set_user_active(root, active=False, actor=other)  # another admin still exists
    with pytest.raises(ValidationError, match="last active administrator"):  # e.g. from the command line
        access_services.check_set_user_active(other, active=False, actor=SYSTEM)
    assert User.objects.get(pk=other.pk).is_active


def test_only_administrators_manage_accounts_and_a_bad_action_changes_nothing(world, as_user):
    alice, bob = world["a"], world["b"]
    with pytest.raises(PermissionDenied):
        access_services.check_set_user_active(bob, active=False, actor=alice)
    response = as_user(alice).post(f"/settings/users/{bob.pk}/", {"action": "deactivate"}, follow=True)
    assert "Only organisation administrators may do this." in response.content.decode()
    response = as_user(world["admin"]).post(f"/settings/users/{bob.pk}/", {"action": "delete_everything"})
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.is_active and not bob.is_org_admin
    assert (
        as_user(world["admin"]).post("/settings/users/999999/", {"action": "deactivate"}).status_code == 404
    )
