"""Read path of the web application's own records."""

from django.db import models
from django.db.models import Q

from kinfolk.access.scoping import person_visible_q, readable_team_ids


class SavedViewQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """The actor's own views and the views of teams whose data the actor may read."""
        if actor.is_org_admin:
            return self
        return self.filter(Q(team__isnull=True, owner_id=actor.pk) | Q(team_id__in=readable_team_ids(actor)))


class FollowQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """Only the actor's own follows, of people the actor may still see."""
        return self.filter(user_id=actor.pk).filter(person_visible_q(actor, "person"))
