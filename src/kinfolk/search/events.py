"""Event handlers: the service layer's events keep the search index current, a batch at a time."""

import functools

from kinfolk.core.events import derived_written, on_event
from kinfolk.people.models import Person
from kinfolk.search.index import PERSON_FIELDS, note
from kinfolk.search.models import SearchEntry


@on_event("person.*", batch=True)
def people_changed(events):
    """Any change to people or their details (created, updated, merged, deleted) re-reads them, set-wise;
    except an update that names only fields of the person that its entry is not made of (a birth date),
    and new people whose entry their bulk writer wrote with them."""
    ids = []
    written = derived_written(events)  # new people whose bulk writer stored their entry with them
    for event in events:
        if event.object_id in written:
            continue
        if event.type == "person.updated" and _unsearched(event.data.get("fields")):
            continue
        ids.append(event.object_id)
        if event.data.get("merged_id"):
            ids.append(event.data["merged_id"])
    note(SearchEntry.Kind.PERSON, ids)


@functools.cache
def _unsearched_fields():
    """Person's own fields outside its search entry; details ("emails"...) and other names are not among them."""
    return frozenset(f.name for f in Person._meta.concrete_fields) - set(PERSON_FIELDS)


def _unsearched(fields):
    return bool(fields) and _unsearched_fields().issuperset(fields)


@on_event("organisation.*", batch=True)
def organisations_changed(events):
    note(SearchEntry.Kind.ORGANISATION, [e.object_id for e in events])


@on_event("list.*", batch=True)
def lists_changed(events):
    """Lists created, renamed or deleted (member changes leave the list's entry as it is)."""
    changed = [e.object_id for e in events if e.type in ("list.created", "list.updated", "list.deleted")]
    if changed:
        note(SearchEntry.Kind.LIST, changed)
