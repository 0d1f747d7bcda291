"""A person's timeline: their activities, the changes to their record and their relationships, newest first."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from kinfolk.activities.models import Activity
from kinfolk.core.models import ChangeRecord
from kinfolk.people.models import Relationship


@dataclass(frozen=True)
class TimelineItem:
    """One line of a timeline: what kind, when, and the record behind it."""

    kind: str  # "activity", "change", "relationship"
    time: datetime
    obj: object


def person_timeline(
    person, *, actor, limit=200, kinds=None, team_ids=None, activity_kinds=None, skip_changes_of=()
):
    """The `limit` newest timeline items of `person` that `actor` may see.

    activity_kinds: only these kinds of activity ('note', 'call'…); team_ids: only these teams' activities;
    skip_changes_of: models whose change records to leave out (those with timeline items of their own).
    """
    items = []
    if kinds is None or "activity" in kinds:
        activities = Activity.objects.visible_to(actor).filter(person=person)
        if activity_kinds:
            activities = activities.filter(kind__in=activity_kinds)
        if team_ids:
            activities = activities.filter(team_id__in=team_ids)
        activities = activities.select_related("team", "author", "assignee").order_by("-occurred_at", "-id")
        items += [TimelineItem("activity", a.occurred_at, a) for a in activities[:limit]]
    if kinds is None or "change" in kinds:
        changes = (
            ChangeRecord.objects.visible_to(actor)
            .filter(person_id=person.pk)
            .select_related("object_type", "user")
            .order_by("-time", "-id")
        )
        if skip_changes_of:
            from django.contrib.contenttypes.models import ContentType

            skipped = [ct.pk for ct in ContentType.objects.get_for_models(*skip_changes_of).values()]
            changes = changes.exclude(object_type_id__in=skipped)
        items += [TimelineItem("change", c.time, c) for c in changes[:limit]]
    if kinds is None or "relationship" in kinds:
        rels = Relationship.objects.visible_to(actor).filter(Q(from_person=person) | Q(to_person=person))
        rels = rels.select_related("type", "from_person", "to_person").order_by("-created_at")
        items += [TimelineItem("relationship", r.created_at, r) for r in rels[:limit]]
    items.sort(key=lambda item: item.time, reverse=True)
    return items[:limit]


def history(obj, *, actor):
    """The change history of one record, oldest first, as far as the actor may see it."""
    return ChangeRecord.objects.visible_to(actor).for_object(obj).select_related("user")
