"""The one way users, teams and memberships change."""

import functools
import zoneinfo

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from kinfolk.access.models import Membership, Role, Team, User
from kinfolk.access.permissions import require_permission
from kinfolk.access.scoping import forget
from kinfolk.core.audit import record_change, snapshot
from kinfolk.core.models import ChangeRecord
from kinfolk.core.services import do_create, do_delete, do_update
from kinfolk.core.validation import clean_values
from kinfolk.identity.normalize import clean_text


def _require_admin(actor):
    if not getattr(actor, "is_org_admin", False):
        raise PermissionDenied(_("Only organisation administrators may do this."))


def _require_manager(actor, team):
    if not (actor.is_org_admin or actor.has_role(team.pk, Role.MANAGER)):
        raise PermissionDenied(_("Only the team's managers and administrators may do this."))


def check_create_team(*, data, actor):
    """Create a team (administrators only)."""
    _require_admin(actor)
    values = clean_values(
        Team,
        data,
        allowed=("name", "slug", "description", "sharing"),
        required=("name",),
        normalizers={"name": clean_text},
    )
    if not values.get("slug"):
        values["slug"] = slugify(values["name"])[:50] or "team"
    return do_create(Team, values=values, actor=actor, event="team.created")


def check_update_team(team, *, changes, actor):
    _require_manager(actor, team)
    values = clean_values(
        Team,
        changes,
        allowed=("name", "description", "sharing"),
        instance=team,
        normalizers={"name": clean_text},
    )
    team = do_update(team, changes=values, actor=actor, event="team.updated")
    forget(actor)
    return team


def check_delete_team(team, *, actor):
    _require_admin(actor)
    return do_delete(team, actor=actor, event="team.deleted")


def check_add_member(team, user, *, role, actor):
    """Give a user a role in a team (the team's managers and administrators)."""
    _require_manager(actor, team)
    if role not in Role.values:
        raise ValidationError(
            {
                "role": [
                    _("%(role)r: expected one of %(roles)s.")
                    % {"role": role, "roles": ", ".join(Role.values)}
                ]
            }
        )
    return do_set_membership(team, user, role=role, actor=actor)


@transaction.atomic
def do_set_membership(team, user, *, role, actor):
    membership = Membership.objects.filter(team=team, user=user).first()
    if membership:
        do_update(membership, changes={"role": role}, actor=actor)
    else:
        membership = do_create(Membership, values={"team": team, "user": user, "role": role}, actor=actor)
    forget(user)
    return membership


def check_remove_member(membership, *, actor):
    _require_manager(actor, membership.team)
    record = do_delete(membership, actor=actor)
    forget(membership.user)
    return record


def check_create_user(*, data, password=None, actor):
    """Create a user account (administrators only); the password passes Django's validators."""
    _require_admin(actor)
    values = clean_values(
        User,
        data,
        allowed=("username", "email", "first_name", "last_name", "is_org_admin"),
        required=("username",),
    )
    if User.objects.filter(username__iexact=values["username"]).exists():
        raise ValidationError({"username": [_("%(name)r is taken.") % {"name": values["username"]}]})
    return do_create_user(values=values, password=password, actor=actor)


@transaction.atomic
def do_create_user(*, values, password=None, actor):
    user = User(**{k: values[k] for k in values})
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        user.set_password(password)
    else:
        user.set_unusable_password()
    if values.get("is_org_admin"):
        user.is_staff = user.is_superuser = True
    user.save()
    record_change(user, action=ChangeRecord.Action.CREATE, before={}, after=snapshot(user), actor=actor)
    return user


def check_set_user_active(user, *, active, actor):
    """Deactivate a user (they can no longer sign in, and their API tokens stop working) or reactivate them.

    Administrators only; nobody deactivates themselves, so an organisation always keeps the
    administrator who is acting.
    """
    _require_admin(actor)
    if not active and user.pk == actor.pk:
        raise ValidationError({"is_active": [_("You cannot deactivate yourself.")]})
    if not active and user.is_org_admin and _other_active_admins(user) == 0:
        raise ValidationError(
            {"is_active": [_("%(name)s is the last active administrator.") % {"name": user}]}
        )
    return do_update_user(user, changes={"is_active": bool(active)}, actor=actor)


def check_set_org_admin(user, *, admin, actor):
    """Make a user an organisation administrator, or take that role away (administrators only)."""
    _require_admin(actor)
    if not admin and user.pk == actor.pk:
        raise ValidationError({"is_org_admin": [_("You cannot remove your own administrator role.")]})
    if admin and not user.is_active:
        raise ValidationError({"is_org_admin": [_("Reactivate %(name)s first.") % {"name": user}]})
    admin = bool(admin)
    return do_update_user(
        user, changes={"is_org_admin": admin, "is_staff": admin, "is_superuser": admin}, actor=actor
    )


def _other_active_admins(user):
    return User.objects.filter(is_org_admin=True, is_active=True).exclude(pk=user.pk).count()


@functools.cache
def time_zone_names():
    """Every IANA time zone name this machine knows (Europe/Berlin, America/New_York, UTC …)."""
    return frozenset(zoneinfo.available_timezones())


def _clean_language(value):
    value = str(value or "").strip()
    known = [code for code, _name in settings.LANGUAGES]
    if value and value not in known:
        raise ValidationError(
            _(
                "Not a language Kinfolk speaks; expected one of %(codes)s, or empty for the browser's language."
            )
            % {"codes": ", ".join(known)}
        )
    return value


def _clean_time_zone(value):
    value = str(value or "").strip()
    if value and value not in time_zone_names():
        raise ValidationError(
            _("Not a time zone; expected a name like Europe/Berlin, or empty for %(default)s.")
            % {"default": settings.TIME_ZONE}
        )
    return value


def check_update_preferences(user, *, data, actor):
    """Change a user's language and time zone: their own, or anyone's for an administrator."""
    if getattr(actor, "pk", None) != user.pk:
        _require_admin(actor)
    values = clean_values(
        User,
        data,
        allowed=("language", "time_zone"),
        normalizers={"language": _clean_language, "time_zone": _clean_time_zone},
    )
    return do_update_user(user, changes=values, actor=actor) if values else user


@transaction.atomic
def do_update_user(user, *, changes, actor):
    """Apply validated changes to a user account and record them."""
    user = User.objects.select_for_update().get(pk=user.pk)
    before = snapshot(user)
    for field, value in changes.items():
        setattr(user, field, value)
    user.save(update_fields=list(changes))
    record_change(user, action=ChangeRecord.Action.UPDATE, before=before, after=snapshot(user), actor=actor)
    forget(user)
    return user


# ---- API tokens ---------------------------------------------------------------------------------

TOKEN_DEFAULT_DAYS = 90
TOKEN_MAX_DAYS = 366


def check_create_token(*, user, data, actor):
    """Create an API token for `user` (themselves, or anyone for an administrator); returns (token, secret).

    data: name, scope ('read' or 'write'), team (id or short name; empty only for administrators),
    expires_at (a datetime, default TOKEN_DEFAULT_DAYS from now). The secret is shown once, never stored.
    """
    import datetime

    from django.utils import timezone

    from kinfolk.access.models import ApiToken

    if not (actor.is_org_admin or getattr(actor, "pk", None) == user.pk):
        raise PermissionDenied(_("You may only create tokens for yourself."))
    if not isinstance(data, dict):
        raise ValidationError({"data": [_("Expected an object of field names and values.")]})
    team = _token_team(data.get("team"), user)
    values = clean_values(
        ApiToken,
        {k: v for k, v in data.items() if k != "team"},
        allowed=("name", "scope", "expires_at", "rate_limit"),
        required=("name",),
        normalizers={"name": clean_text},
    )
    values.setdefault("scope", ApiToken.Scope.READ)
    now = timezone.now()
    expires = values.get("expires_at") or now + datetime.timedelta(days=TOKEN_DEFAULT_DAYS)
    if expires <= now:
        raise ValidationError({"expires_at": [_("The expiry must be in the future.")]})
    if expires > now + datetime.timedelta(days=TOKEN_MAX_DAYS):
        raise ValidationError(
            {"expires_at": [_("A token lives at most %(days)d days.") % {"days": TOKEN_MAX_DAYS}]}
        )
    values["expires_at"] = expires
    parent = getattr(actor, "api_token", None)
    if parent is not None:
        # A token may only make tokens no stronger than itself.
        if parent.team_id != (team.pk if team else None):
            raise PermissionDenied(_("A token may only create tokens for its own team."))
        if parent.scope == ApiToken.Scope.READ and values["scope"] != ApiToken.Scope.READ:
            raise PermissionDenied(_("A read-only token may only create read-only tokens."))
        if parent.expires_at and expires > parent.expires_at:
            values["expires_at"] = parent.expires_at
    return do_create_token(user=user, team=team, values=values, actor=actor)


def _token_team(value, user):
    if value in (None, ""):
        if not user.is_org_admin:
            raise ValidationError({"team": [_("Choose the team the token works for.")]})
        return None
    team = None
    if isinstance(value, int) and not isinstance(value, bool):
        team = Team.objects.filter(pk=value).first()
    elif isinstance(value, str):
        team = Team.objects.filter(slug=value).first() or Team.objects.filter(name=value).first()
    if team is None:
        raise ValidationError({"team": [_("No team %(team)r.") % {"team": value}]})
    if not (user.is_org_admin or team.pk in user.team_ids):
        raise ValidationError(
            {"team": [_("%(user)s is not a member of %(team)s.") % {"user": user.username, "team": team}]}
        )
    return team


@transaction.atomic
def do_create_token(*, user, team, values, actor):
    """Store a new token's hash; returns (token, secret)."""
    from kinfolk.access.models import ApiToken
    from kinfolk.access.tokens import hash_secret, new_secret

    secret = new_secret()
    token = do_create(
        ApiToken,
        values={
            **values,
            "user": user,
            "team": team,
            "prefix": secret[:10],
            "key_hash": hash_secret(secret),
        },
        actor=actor,
        event="token.created",
    )
    return token, secret


def check_revoke_token(token, *, actor):
    """Revoke a token (its owner or an administrator); revoking twice changes nothing."""
    require_permission(actor, "delete", token)
    return do_revoke_token(token, actor=actor)


def do_revoke_token(token, *, actor):
    from django.utils import timezone

    if token.revoked_at is not None:
        return token
    return do_update(token, changes={"revoked_at": timezone.now()}, actor=actor, event="token.revoked")


def do_touch_token(token, *, now):
    """Note when a token was last used: bookkeeping, not a change of the token, so not audited."""
    from kinfolk.access.models import ApiToken

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
