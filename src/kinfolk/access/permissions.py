"""Write permission: one function every service calls; the rules themselves live on the models (`allows`)."""

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kinfolk.access.models import ROLE_RANK, Role
from kinfolk.access.scoping import can_write_anywhere, readable_team_ids, writable_team_ids

# One whole sentence per action, so that each language can word it its own way.
REFUSALS = {
    "view": gettext_lazy("You may not view this %(kind)s."),
    "create": gettext_lazy("You may not create this %(kind)s."),
    "change": gettext_lazy("You may not change this %(kind)s."),
    "delete": gettext_lazy("You may not delete this %(kind)s."),
}


def require_permission(actor, action, obj):
    """Raise PermissionDenied unless actor may `action` ('view', 'create', 'change', 'delete') obj."""
    if (
        actor is None
        or not getattr(actor, "is_authenticated", False)
        or not getattr(actor, "is_active", True)
    ):
        raise PermissionDenied(_("Sign in first."))
    if actor.is_org_admin:
        return
    if not obj.allows(actor, action):
        refusal = REFUSALS.get(action, REFUSALS["change"])
        raise PermissionDenied(refusal % {"kind": obj._meta.verbose_name})


def is_manager_anywhere(actor):
    return actor.is_org_admin or any(
        ROLE_RANK[r] >= ROLE_RANK[Role.MANAGER] for r in actor.team_roles.values()
    )


def team_data_allows(actor, action, team_id):
    """The rule for team data: read by sharing, write by role (or an org-writable team)."""
    if actor.is_org_admin:
        return True
    if action == "view":
        return team_id in readable_team_ids(actor)
    return team_id in writable_team_ids(actor)


def shared_record_allows(actor, action):
    """The rule for shared records (organisations, households): any member may write, managers delete."""
    if action == "view":
        return True
    if action == "delete":
        return is_manager_anywhere(actor)
    return can_write_anywhere(actor)
