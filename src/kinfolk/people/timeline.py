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


# What a timeline line shows of an activity (a 200-item page reads no more than these columns).
ACTIVITY_FIELDS = (
    "kind",
    "subject",
    "body",
    "occurred_at",
    "due_at",
    "completed_at",
    "person_id",
    "organisation_id",
    "team__name",
    "author__username",
    "author__first_name",
    "author__last_name",
)

# Items are ordered newest first by (time, kind, id); the kind breaks ties between sources.
KIND_RANK = {"activity": 0, "change": 1, "relationship": 2}


def timeline_cursor(item):
    """An opaque position after which the next page of a timeline starts."""
    return f"{item.time.isoformat()}~{KIND_RANK[item.kind]}~{item.obj.pk}"


def parse_timeline_cursor(value):
    """(time, rank, id) from timeline_cursor's text, or None when it is not one."""
    parts = str(value or "").split("~")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit() or len(parts[2]) > 18:
        return None
    try:
        moment = datetime.fromisoformat(parts[0])
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment, int(parts[1]), int(parts[2])


def _older_than(queryset, field, kind, cursor):
    """Rows of one source that come after the cursor in (time, kind, id) descending order."""
    if cursor is None:
        return queryset
    moment, rank, pk = cursor
    own = KIND_RANK[kind]
    if own < rank:
        return queryset.filter(**{f"{field}__lte": moment})
    if own > rank:
        return queryset.filter(**{f"{field}__lt": moment})
    return queryset.filter(Q(**{f"{field}__lt": moment}) | Q(**{field: moment, "pk__lt": pk}))


def _is_older(moment, kind, pk, cursor):
    """_older_than for a row already in memory: whether (moment, kind, pk) comes after the cursor."""
    return (moment, KIND_RANK[kind], pk) < tuple(cursor)


def person_timeline(
    person,
    *,
    actor,
    limit=200,
    kinds=None,
    team_ids=None,
    activity_kinds=None,
    skip_changes_of=(),
    before=None,
    relationships=None,
):
    """The `limit` newest timeline items of `person` that `actor` may see (older than `before`, if given).

    activity_kinds: only these kinds of activity ('note', 'call'…); team_ids: only these teams' activities;
    skip_changes_of: models whose change records to leave out (those with timeline items of their own);
    before: a cursor from parse_timeline_cursor, to read the next page;
    relationships: every relationship of the person the actor may see, when the caller has read them
    already (the person page lists them beside the timeline), instead of a query of their own.
    """
    items = []
    if kinds is None or "activity" in kinds:
        activities = Activity.objects.visible_to(actor).filter(person=person)
        if activity_kinds:
            activities = activities.filter(kind__in=activity_kinds)
        if team_ids:
            activities = activities.filter(team_id__in=team_ids)
        activities = _older_than(activities, "occurred_at", "activity", before)
        activities = (
            activities.select_related("team", "author").only(*ACTIVITY_FIELDS).order_by("-occurred_at", "-id")
        )
        items += [TimelineItem("activity", a.occurred_at, a) for a in activities[:limit]]
    if kinds is None or "change" in kinds:
        changes = (
            ChangeRecord.objects.visible_to(actor)
            .filter(person_id=person.pk)
            .select_related("object_type")
            .order_by("-time", "-id")
        )
        if skip_changes_of:
            from django.contrib.contenttypes.models import ContentType

            skipped = [ct.pk for ct in ContentType.objects.get_for_models(*skip_changes_of).values()]
            changes = changes.exclude(object_type_id__in=skipped)
        changes = _older_than(changes, "time", "change", before)
        items += [TimelineItem("change", c.time, c) for c in changes[:limit]]
    if (kinds is None or "relationship" in kinds) and relationships is not None:
        if before is not None:
            relationships = [
                r for r in relationships if _is_older(r.created_at, "relationship", r.pk, before)
            ]
        rels = sorted(relationships, key=lambda r: (r.created_at, r.pk), reverse=True)
        items += [TimelineItem("relationship", r.created_at, r) for r in rels[:limit]]
    elif kinds is None or "relationship" in kinds:
        rels = Relationship.objects.visible_to(actor).involving(person)
        rels = _older_than(rels, "created_at", "relationship", before)
        rels = rels.select_related("type", "from_person", "to_person").order_by("-created_at", "-id")
        items += [TimelineItem("relationship", r.created_at, r) for r in rels[:limit]]
    items.sort(key=lambda item: (item.time, KIND_RANK[item.kind], item.obj.pk), reverse=True)
    return items[:limit]


def history(obj, *, actor):
    """The change history of one record, oldest first, as far as the actor may see it."""
    return ChangeRecord.objects.visible_to(actor).for_object(obj).select_related("user")
