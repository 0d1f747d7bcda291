"""Read path for users, teams and memberships."""

from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models


class UserQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """Every user of the organisation can see who else works in it (names, not data)."""
        return self.filter(is_active=True) if not actor.is_org_admin else self

    @classmethod
    def as_manager_for_users(cls):
        return UserManager()


class UserManager(DjangoUserManager.from_queryset(UserQuerySet)):
    pass


class TeamQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """All teams are known by name across the organisation; their data is scoped separately."""
        return self


class MembershipQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """Memberships of the actor's own teams (administrators: all)."""
        if actor.is_org_admin:
            return self
        return self.filter(team_id__in=actor.team_ids)


class ApiTokenQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """A user's own tokens (administrators: everyone's)."""
        if actor.is_org_admin and not getattr(actor, "api_token", None):
            return self
        return self.filter(user_id=actor.pk)
