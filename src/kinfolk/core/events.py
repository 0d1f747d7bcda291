"""Internal events: queued with transaction.on_commit, so that rolled-back work announces nothing."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from kinfolk.core.context import Via, current_via

log = logging.getLogger("kinfolk.events")
_handlers = defaultdict(list)


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
    transaction.on_commit(lambda: dispatch(event))
    return event


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
