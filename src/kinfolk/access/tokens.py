"""API tokens: how a secret is made, recognised, and turned into the actor a request acts as."""

import functools
import hashlib
import secrets

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import OuterRef, Subquery
from django.db.models.base import ModelState
from django.utils import timezone

from kinfolk.access.models import ROLE_RANK, ApiToken, Membership, Role
from kinfolk.core.db import fetch_each

PREFIX = "kf_"
TOUCH_EVERY = 60  # seconds: last_used_at is written at most this often per token, not on every request


def new_secret():
    """A fresh token: 'kf_' and 43 URL-safe characters (256 bits)."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(raw):
    """The stored form of a token; SHA-256 suffices for 256-bit random secrets and is cheap to look up."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


# What a request acts as, recognised again without the ORM: each web process keeps the tokens it has
# seen, and every request re-reads, in one short query, every column the actor is made of (the
# token's row, its user's, the user's role in the token's team). Only when these are exactly as they
# were is the kept token reused, so revocation, expiry, deactivation or a change of team or role takes
# effect on the very next request, in every process.
_SEEN = {}  # key hash -> (signature row, token with its user and team_role)
_SEEN_MAX = 1000
_TOKEN_COLUMNS = ("id", "user_id", "team_id", "name", "scope", "expires_at", "revoked_at", "rate_limit")
_USER_COLUMNS = ("is_active", "is_org_admin", "username", "first_name", "last_name", "email", "language",
                 "time_zone", "is_staff", "is_superuser")  # fmt: skip


def _team_role():
    """The token's user's role in the token's team (None if they are not a member), for annotate()."""
    # No ORDER BY: there is at most one membership per user and team, and Membership's default order
    # joined the team and the user to sort it (most of the database's work for a token)
    role = Membership.objects.filter(user_id=OuterRef("user_id"), team_id=OuterRef("team_id")).order_by()
    return Subquery(role.values("role")[:1])


@functools.cache
def _signature_sql(vendor):
    """The one query of a known token, compiled by the ORM once; it takes the key hash as its one parameter."""
    marker = "kinfolk-key-hash"
    rows = (
        ApiToken.objects.filter(key_hash=marker)
        .annotate(team_role=_team_role())
        .order_by()
        .values_list(*_TOKEN_COLUMNS, *(f"user__{c}" for c in _USER_COLUMNS), "team_role")
    )
    sql, params = rows.query.sql_with_params()
    if list(params) != [marker]:
        raise RuntimeError(f"The token query takes parameters {params!r}, not just the key hash.")
    return sql


def _signature(key_hash):
    db = connections[DEFAULT_DB_ALIAS]
    rows = fetch_each(db, [(_signature_sql(db.vendor), [key_hash])])[0]
    return rows[0] if rows else None


def _load(key_hash):
    return (
        ApiToken.objects.select_related("user")
        .annotate(team_role=_team_role())
        .filter(key_hash=key_hash)
        .first()
    )


def _copy(instance):
    """A model instance's copy with its own state and cache of related objects, as copy.copy makes it."""
    # In a third of copy.copy's time (which goes through pickling's protocol); a request makes three
    new = object.__new__(type(instance))
    new.__dict__.update(instance.__dict__)
    new._state = ModelState()
    new._state.__dict__.update(instance._state.__dict__)
    new._state.fields_cache = dict(instance._state.fields_cache)
    return new


def _fresh(kept):
    """A request's own copy of a kept token and its user: what one request caches on them stays its own."""
    token = _copy(kept)
    token._state.fields_cache = {"user": _copy(kept.user)}
    return token


def find_active(raw):
    """The active token for a presented secret (with its user and the user's role in its team), or None."""
    if not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    key_hash = hash_secret(raw)
    signature = _signature(key_hash)
    if signature is None:
        _SEEN.pop(key_hash, None)
        return None
    seen = _SEEN.get(key_hash)
    if seen is not None and seen[0] == signature:
        token = _fresh(seen[1])
    else:
        # Read after the signature: if something changed in between, the next request's signature differs
        # from the one kept here and the token is loaded again; a kept token is never newer than it claims.
        token = _load(key_hash)
        if token is None:
            return None
        if len(_SEEN) >= _SEEN_MAX:
            _SEEN.clear()
        _SEEN[key_hash] = (signature, token)
        token = _fresh(token)
    if not token.is_active or not token.user.is_active:
        return None
    return token


def _refuse_save(*args, **kwargs):
    raise RuntimeError("A token's actor is a restricted view of its user and is never saved.")


def actor_for(token):
    """The user as the token lets them act: only the token's team, capped at viewer for read tokens.

    Returns None when the token's user no longer belongs to its team (and is not an administrator).
    """
    user = token.user
    actor = _copy(user)
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


def note_touch(token, now):
    """After do_touch_token: the kept copy knows too, so that this process touches again in a minute, not now."""
    seen = _SEEN.get(token.key_hash)
    if seen is not None:
        seen[1].last_used_at = now


def scope_allows_writes(token):
    return token.scope == ApiToken.Scope.WRITE


def due_for_touch(token, now=None):
    now = now or timezone.now()
    return token.last_used_at is None or (now - token.last_used_at).total_seconds() >= TOUCH_EVERY


__all__ = ["ROLE_RANK", "actor_for", "find_active", "hash_secret", "new_secret"]
