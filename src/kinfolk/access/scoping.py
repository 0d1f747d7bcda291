"""The one place that decides which teams' data an actor may read and write, and which people it may see."""

from django.db.models import Exists, OuterRef, Q

from kinfolk.access.models import ROLE_RANK, Role, Team


def _cached(actor, key, compute):
    cache = actor.__dict__.setdefault("_kinfolk_scope", {}) if hasattr(actor, "__dict__") else {}
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _team_sharing(actor):
    """{team id: sharing} of every team, read once per actor for both the read and the write sets."""
    return _cached(actor, "sharing", lambda: dict(Team.objects.values_list("pk", "sharing")))


def readable_team_ids(actor):
    """Teams whose data the actor may read: its own, and those shared with the organisation."""
    if actor.is_org_admin:
        return _cached(actor, "read", lambda: set(_team_sharing(actor)))
    return _cached(
        actor,
        "read",
        lambda: (
            set(actor.team_ids)
            | {pk for pk, sharing in _team_sharing(actor).items() if sharing != Team.Sharing.TEAM}
        ),
    )


def can_write_anywhere(actor):
    """Whether the actor holds a member (or manager) role in at least one team."""
    return actor.is_org_admin or any(
        ROLE_RANK[r] >= ROLE_RANK[Role.MEMBER] for r in actor.team_roles.values()
    )


def writable_team_ids(actor):
    """Teams whose data the actor may change: where it is member or manager, and org-writable teams."""
    if actor.is_org_admin:
        return readable_team_ids(actor)

    def compute():
        own = {t for t, r in actor.team_roles.items() if ROLE_RANK[r] >= ROLE_RANK[Role.MEMBER]}
        if own:
            own |= {pk for pk, sharing in _team_sharing(actor).items() if sharing == Team.Sharing.ORG_WRITE}
        return own

    return _cached(actor, "write", compute)


def forget(actor):
    """Drop the cached scope, after the actor's memberships or a team's sharing changed."""
    if hasattr(actor, "__dict__"):
        actor.__dict__.pop("_kinfolk_scope", None)
        actor.__dict__.pop("team_roles", None)


def person_scope(actor):
    """What decides which people the actor sees: None for an administrator (all), else its teams' ids."""
    # person_visible_q is made from this alone, so that actors of equal scopes are given the same query,
    # and a query compiled for one may serve the others (core.db.compiled_query)
    return None if actor.is_org_admin else tuple(sorted(actor.team_ids))


def person_visible_q(actor, path=""):
    """A Q on a queryset that keeps rows whose person (at `path`, '' for Person itself) the actor may see.

    A restricted person is visible only to the teams it is restricted to (and administrators).
    """
    teams = person_scope(actor)
    if teams is None:
        return Q()
    from kinfolk.people.models import PersonRestriction

    prefix = f"{path}__" if path else ""
    ref = path if path else "pk"
    shared = PersonRestriction.objects.filter(person=OuterRef(ref), team_id__in=teams)
    return Q(**{f"{prefix}is_restricted": False}) | Q(Exists(shared))


def optional_person_visible_q(actor, path):
    """As person_visible_q, for a nullable link: rows with no person pass."""
    if person_scope(actor) is None:
        return Q()
    return Q(**{f"{path}__isnull": True}) | person_visible_q(actor, path)
