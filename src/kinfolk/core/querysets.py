"""Read path of the audit trail: history is visible where the record it describes is visible."""

from django.db import models
from django.db.models import Exists, OuterRef, Q


class ChangeRecordQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """Changes of shared records the actor may see, and of team data of teams the actor may read."""
        if actor.is_org_admin:
            return self
        from kinfolk.access.scoping import readable_team_ids
        from kinfolk.people.models import Person, PersonRestriction

        # A change is hidden when its person is restricted and not shared with the actor's teams; asked
        # per change record (a primary-key lookup), not by listing every visible person.
        shared = PersonRestriction.objects.filter(person=OuterRef("pk"), team_id__in=actor.team_ids)
        hidden_person = Person.objects.filter(pk=OuterRef("person_id"), is_restricted=True).exclude(
            Exists(shared)
        )
        return self.filter(Q(team__isnull=True) | Q(team_id__in=readable_team_ids(actor))).exclude(
            Exists(hidden_person)
        )

    def for_object(self, obj):
        """The history of one record, oldest first."""
        from django.contrib.contenttypes.models import ContentType

        return self.filter(object_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)


class JobQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """Jobs the actor started and jobs of the actor's teams; administrators see every job."""
        if actor.is_org_admin:
            return self
        if not getattr(actor, "pk", None):
            return self.none()
        return self.filter(Q(created_by_id=actor.pk) | Q(team_id__in=actor.team_ids))
