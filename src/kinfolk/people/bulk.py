"""Bulk writes of people and their links: thousands of rows in a few statements, still audited.

These are `do_*` services for many rows at once (the demo generator, imports): they trust values
already cleaned by `validate_person` / the `check_*` validators, write in one transaction per
call, record one ChangeRecord per created row and queue events after commit.

Events at scale: `person.created` is announced once per person, all from one on_commit callback
per call (see kinfolk.imports.writer._announce_created). At 1M people that is 1M Event objects
made one batch at a time and dispatched after each batch commits; handlers that cannot keep up
(webhooks, search indexing) should queue a job rather than work inline. A single "people.created"
event per batch would be cheaper but would give webhook subscribers a second event shape to
handle, so the per-person event stays until a handler shows it is too slow.
"""

from django.db import transaction

from kinfolk.core.models import ChangeRecord
from kinfolk.core.services import bulk_record_creates
from kinfolk.imports import writer
from kinfolk.people.models import PersonRestriction, SocialProfile
from kinfolk.people.services import _finish_person_values

BATCH = 500  # rows per INSERT for bulk_create: under SQLite's variable limit for every model here


@transaction.atomic
def bulk_create_people(rows, *, actor, team=None, restricted_to=()):
    """Create people from [(values, details)] as validate_person returns them; returns their ids in order.

    restricted_to: teams that alone may see these people (the whole call's people are restricted).
    """
    rows = list(rows)
    if not rows:
        return []
    prepared = []
    for values, details in rows:
        values = _finish_person_values(dict(values))
        if not values.get("display_name") and details.get("emails"):
            values["display_name"] = details["emails"][0]["email"]
        if restricted_to:
            values["is_restricted"] = True
        prepared.append((values, details))
    ids = writer.bulk_create_people(prepared, actor=actor, team=team)
    profiles = []
    for pid, (_values, details) in zip(ids, prepared, strict=True):
        for item in details.get("social_profiles") or ():
            profiles.append(SocialProfile(person_id=pid, added_by_team=team, source=_source(), **item))
    bulk_create_audited(profiles, actor=actor)
    if restricted_to:
        PersonRestriction.objects.bulk_create(
            [PersonRestriction(person_id=pid, team=t) for pid in ids for t in restricted_to], batch_size=BATCH
        )
    return ids


def _source():
    from kinfolk.core.context import current_via

    return current_via().source


@transaction.atomic
def bulk_create_audited(objs, *, actor):
    """Insert unsaved model instances (one model) and record a ChangeRecord for each; returns them."""
    objs = list(objs)
    if not objs:
        return objs
    type(objs[0]).objects.bulk_create(objs, batch_size=BATCH)
    bulk_record_creates(objs, actor=actor)
    return objs


@transaction.atomic
def bulk_insert(model, rows, *, actor, probe=None):
    """Insert rows ({attname: value}, plus "repr": how the audit names the row) with one ChangeRecord each.

    The fast path for links at scale (relationships, tags, list memberships, activities): plain
    tuples through the import writer's vendor loader instead of model instances. Returns the new ids.
    probe: an unsaved instance whose str() needs no query, when the model's str() follows a link.
    """
    rows = list(rows)
    if not rows:
        return []
    load = writer.loader_for()
    ids = load.allocate_ids(model, len(rows))
    fields = writer.audited_fields(model)
    probe = probe if probe is not None else model()
    probe.pk = ids[0]
    template = writer.RecordTemplate(probe, actor=actor)
    records, plain = [], []
    for pk, row in zip(ids, rows, strict=True):
        label = row.pop("repr", "")
        row["id"] = pk
        plain.append(row)
        after = {f.name: writer._json_value(row[f.attname]) for f in fields if f.attname in row}
        record = template.row(
            object_id=pk,
            object_repr=label,
            person_id=row.get("person_id", row.get("from_person_id")),
            organisation_id=row.get("organisation_id"),
            after=after,
        )
        record["team_id"] = row.get("team_id")
        records.append(record)
    load.insert(model, plain)
    load.insert(ChangeRecord, records, with_ids=False)
    return ids


bulk_create_affiliations = writer.bulk_create_affiliations
