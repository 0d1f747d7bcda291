"""Event handlers: keep the matching keys of a person current as they change."""

from kinfolk.core.events import on_event


@on_event("person.*", batch=True)
def refresh_keys(events):
    """Recompute the matching keys of the people these events touched, once they have committed."""
    from kinfolk.identity.services import rebuild_keys

    rebuild_keys(list(dict.fromkeys(e.object_id for e in events)))  # a deleted person loses its keys
