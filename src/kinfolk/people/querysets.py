"""The one way people, organisations and their links are read: `visible_to(actor)`."""

from django.db import models
from django.db.models import Q

from kinfolk.access.scoping import (
    optional_person_visible_q,
    person_scope,
    person_visible_q,
    readable_team_ids,
)


class PersonQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """People the actor may see: everyone not restricted, plus those restricted to its teams."""
        # Made from person_scope(actor) alone (PersonViewSet.fetch_one keeps the query compiled per scope)
        if person_scope(actor) is None:
            return self
        return self.filter(person_visible_q(actor))


class PersonDetailQuerySet(models.QuerySet):
    """Records that hang off one person (emails, affiliations, household places)."""

    def visible_to(self, actor):
        if actor.is_org_admin:
            return self
        return self.filter(person_visible_q(actor, "person"))


class OwnerDetailQuerySet(models.QuerySet):
    """Details of a person or an organisation: organisations' are shared, people's follow the person."""

    def visible_to(self, actor):
        if actor.is_org_admin:
            return self
        return self.filter(optional_person_visible_q(actor, "person"))


class OrganisationQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """Organisations are shared identity: every user may see them."""
        return self


class SharedQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """Shared vocabulary and groupings (relationship types, households): visible to all users."""
        return self


class RelationshipQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """Relationships whose two people the actor may both see."""
        if actor.is_org_admin:
            return self
        return self.filter(person_visible_q(actor, "from_person")).filter(
            person_visible_q(actor, "to_person")
        )

    def involving(self, person):
        return self.filter(Q(from_person=person) | Q(to_person=person))


class TagQuerySet(models.QuerySet):
    def visible_to(self, actor):
        """Global tags and the tags of teams whose data the actor may read."""
        if actor.is_org_admin:
            return self
        return self.filter(Q(team__isnull=True) | Q(team_id__in=readable_team_ids(actor)))


class TeamDataQuerySet(models.QuerySet):
    """Team-owned records: the team's sharing setting decides, and a hidden person hides them too."""

    def visible_to(self, actor):
        if actor.is_org_admin:
            return self
        result = self.filter(team_id__in=readable_team_ids(actor))
        names = {f.name for f in self.model._meta.get_fields()}
        if "person" in names:
            field = self.model._meta.get_field("person")
            result = result.filter(
                optional_person_visible_q(actor, "person")
                if field.null
                else person_visible_q(actor, "person")
            )
        return result
