"""Internal events: queued with transaction.on_commit, so that rolled-back work announces nothing."""

import logging
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from kinfolk.core.context import Via, current_via

log = logging.getLogger("kinfolk.events")
_handlers = defaultdict(list)

# Set in an event's data by a bulk writer that wrote the record's derived rows (a new person's matching
# profile and keys, its search entry) in the same transaction, from the values it wrote: the
# handlers that would otherwise read the record back to rebuild them leave it alone.
DERIVED_WRITTEN = "derived_written"
_collecting: ContextVar[list | None] = ContextVar("kinfolk_collected_events", default=None)


@dataclass(frozen=True)
class Event:
    """Something that happened to a record, after its transaction committed."""

    type: str  # "person.created"
    model: str  # "people.person"
    object_id: int
    actor_id: int | None
    via: Via
    occurred_at: object = field(default_factory=timezone.now)
    data: dict = field(default_factory=dict)


def on_event(pattern, *, batch=False):
    """Register a handler for an event type ('person.created'), a family ('person.*') or everything ('*').

    With batch=True the handler receives a list of events: bulk writers (imports, the demo)
    announce thousands of events at once, and a handler that works set-wise (matching keys, the
    search index) does one query per batch instead of one per event.
    """

    def register(handler):
        _handlers[pattern].append((handler, batch))
        return handler

    return register


def derived_written(events):
    """Ids of the records whose every event here says its derived rows were written with it (DERIVED_WRITTEN)."""
    written, other = set(), set()
    for event in events:
        (written if event.data.get(DERIVED_WRITTEN) else other).add(event.object_id)
    return written - other


def remove_handler(pattern, handler):
    _handlers[pattern] = [(h, b) for h, b in _handlers[pattern] if h is not handler]


def emit_on_commit(event_type, obj, *, actor, data=None):
    """Announce event_type for obj once the surrounding transaction commits; never for rolled-back work."""
    event = Event(
        type=event_type,
        model=obj._meta.label_lower,
        object_id=obj.pk,
        actor_id=getattr(actor, "pk", None),
        via=current_via(),
        data=dict(data or {}),
    )
    announce_on_commit([event])
    return event


def announce_on_commit(events):
    """Dispatch these events once the surrounding transaction commits (with a batch: with the batch's)."""
    buffer = _collecting.get()
    if buffer is not None:
        # Joins the batch's one dispatch; a savepoint that rolls back drops this callback, and the events.
        transaction.on_commit(lambda: buffer.extend(events))
    else:
        transaction.on_commit(lambda: dispatch_many(events))


@contextmanager
def collected_events():
    """Within this block (inside a transaction), committed events are dispatched together, in one call.

    Bulk writers that change many records a batch at a time (imports) wrap each batch's
    transaction in it: set-wise handlers (matching keys, the search index, webhooks) then run
    once per batch instead of once per updated person. Events of rolled-back work, and of
    savepoints rolled back inside the block, are still never dispatched.
    """
    buffer = []
    token = _collecting.set(buffer)
    try:
        yield
    finally:
        _collecting.reset(token)
    # Registered after every event's callback, so it runs after them when the transaction commits.
    transaction.on_commit(lambda: dispatch_many(buffer))


def dispatch(event):
    """Call every handler for one event."""
    dispatch_many([event])


def dispatch_many(events):
    """Call every handler for these events, in order; one failing handler stops neither the others nor the writer."""
    groups = defaultdict(list)  # pattern -> events it matches, in order
    for event in events:
        for pattern in (event.type, event.type.split(".", 1)[0] + ".*", "*"):
            if pattern in _handlers:
                groups[pattern].append(event)
    for pattern, matched in groups.items():
        for handler, batch in list(_handlers[pattern]):
            for payload in [matched] if batch else matched:
                try:
                    handler(payload)
                except Exception:
                    log.exception("event handler %r failed for %s", handler, pattern)
