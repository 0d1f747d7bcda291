"""Event handlers: keep the matching keys of a person current as they change."""

from kinfolk.core.events import derived_written, on_event


@on_event("person.*", batch=True)
def refresh_keys(events):
    """Recompute the matching keys of the people these events touched, once they have committed."""
    from kinfolk.identity.services import rebuild_keys

    written = derived_written(events)  # new people whose bulk writer stored their keys with them
    # a deleted person loses its keys
    rebuild_keys([pk for pk in dict.fromkeys(e.object_id for e in events) if pk not in written])
