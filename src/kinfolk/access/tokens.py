"""API tokens: how a secret is made, recognised, and turned into the actor a request acts as."""

import copy
import hashlib
import secrets

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from kinfolk.access.models import ROLE_RANK, ApiToken, Membership, Role

PREFIX = "kf_"
TOUCH_EVERY = 60  # seconds: last_used_at is written at most this often per token, not on every request


def new_secret():
    """A fresh token: 'kf_' and 43 URL-safe characters (256 bits)."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(raw):
    """The stored form of a token; SHA-256 suffices for 256-bit random secrets and is cheap to look up."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def find_active(raw):
    """The active token for a presented secret (with its user and the user's role in its team), or None."""
    if not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    role = Membership.objects.filter(user_id=OuterRef("user_id"), team_id=OuterRef("team_id")).values("role")
    token = (
        ApiToken.objects.select_related("user")
        .annotate(team_role=Subquery(role[:1]))
        .filter(key_hash=hash_secret(raw))
        .first()
    )
    if token is None or not token.is_active or not token.user.is_active:
        return None
    return token


def _refuse_save(*args, **kwargs):
    raise RuntimeError("A token's actor is a restricted view of its user and is never saved.")


def actor_for(token):
    """The user as the token lets them act: only the token's team, capped at viewer for read tokens.

    Returns None when the token's user no longer belongs to its team (and is not an administrator).
    """
    user = token.user
    actor = copy.copy(user)
    actor.__dict__.pop("_kinfolk_scope", None)
    if token.team_id is None:
        # Only administrators hold organisation-wide tokens; they act as administrators.
        if not user.is_org_admin:
            return None
        roles = {}
    else:
        role = getattr(token, "team_role", None) or (Role.MANAGER if user.is_org_admin else None)
        if role is None:
            return None
        if token.scope == ApiToken.Scope.READ:
            role = Role.VIEWER
        roles = {token.team_id: role}
        actor.is_org_admin = False
    actor.__dict__["team_roles"] = roles
    actor.api_token = token
    actor.save = _refuse_save
    return actor


def scope_allows_writes(token):
    return token.scope == ApiToken.Scope.WRITE


def due_for_touch(token, now=None):
    now = now or timezone.now()
    return token.last_used_at is None or (now - token.last_used_at).total_seconds() >= TOUCH_EVERY


__all__ = ["ROLE_RANK", "actor_for", "find_active", "hash_secret", "new_secret"]
