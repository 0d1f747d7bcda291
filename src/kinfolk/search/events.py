"""Event handlers: the service layer's events keep the search index current, a batch at a time."""

from kinfolk.core.events import on_event
from kinfolk.search.index import note
from kinfolk.search.models import SearchEntry


@on_event("person.*", batch=True)
def people_changed(events):
    """Any change to people or their details (created, updated, merged, deleted) re-reads them, set-wise."""
    ids = []
    for event in events:
        ids.append(event.object_id)
        if event.data.get("merged_id"):
            ids.append(event.data["merged_id"])
    note(SearchEntry.Kind.PERSON, ids)


@on_event("organisation.*", batch=True)
def organisations_changed(events):
    note(SearchEntry.Kind.ORGANISATION, [e.object_id for e in events])


@on_event("list.*", batch=True)
def lists_changed(events):
    """Lists created, renamed or deleted (member changes leave the list's entry as it is)."""
    changed = [e.object_id for e in events if e.type in ("list.created", "list.updated", "list.deleted")]
    if changed:
        note(SearchEntry.Kind.LIST, changed)
