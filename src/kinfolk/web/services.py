"""The one way the web application's own records change: saved views and follows."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kinfolk.access.permissions import require_permission
from kinfolk.core.services import do_create, do_delete, do_update
from kinfolk.core.validation import clean_values
from kinfolk.identity.normalize import clean_text
from kinfolk.web.models import Follow, SavedView


def check_save_view(*, kind, name, params, actor, team=None):
    """Save list filters as a view for the actor alone or, with a team, for the team (members of it)."""
    from kinfolk.web.lists import LISTS, params_for_storage

    if kind not in LISTS:
        raise ValidationError({"kind": [_("%(kind)r: expected people or organisations.") % {"kind": kind}]})
    values = clean_values(SavedView, {"name": name}, allowed=("name",), required=("name",),
                          normalizers={"name": clean_text})  # fmt: skip
    cleaned, errors = LISTS[kind].clean_params(params, actor)
    if errors:
        raise ValidationError(errors)
    cleaned = params_for_storage(cleaned)
    probe = SavedView(team=team, owner=None if team else actor)
    if team is not None:
        require_permission(actor, "create", probe)
    elif not getattr(actor, "pk", None):
        raise PermissionDenied(_("Sign in first."))
    existing = SavedView.objects.filter(kind=kind, name=values["name"], team=team,
                                        owner=None if team else actor).first()  # fmt: skip
    if existing:
        return do_update(existing, changes={"params": cleaned}, actor=actor)
    return do_create(
        SavedView,
        values={**values, "kind": kind, "params": cleaned, "team": team, "owner": None if team else actor},
        actor=actor,
    )


def check_delete_view(view, *, actor):
    require_permission(actor, "delete", view)
    return do_delete(view, actor=actor)


def check_follow(person, *, actor):
    """Follow a person the actor may see; following twice is following once."""
    require_permission(actor, "view", person)
    follow, _created = Follow.objects.get_or_create(user=actor, person=person)
    return follow


@transaction.atomic
def check_unfollow(person, *, actor):
    Follow.objects.filter(user=actor, person=person).delete()
