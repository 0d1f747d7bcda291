"""Event dispatch: single handlers get each event, batch handlers get the whole batch, failures stay local."""

from kinfolk.core.context import Via
from kinfolk.core.events import Event, dispatch_many, on_event, remove_handler


def _event(kind, pk):
    return Event(type=kind, model="people.person", object_id=pk, actor_id=None, via=Via())


def test_batch_handlers_get_one_list_and_single_handlers_each_event_even_after_a_failure():
    singles, batches = [], []

    def single(event):
        singles.append(event.object_id)

    def batch(events):
        batches.append([e.object_id for e in events])

    def broken(event):
        raise RuntimeError("a broken handler")

    on_event("person.*")(broken)
    on_event("person.created")(single)
    on_event("person.*", batch=True)(batch)
    try:
        dispatch_many([_event("person.created", 1), _event("person.updated", 2), _event("person.created", 3)])
    finally:
        for pattern, handler in (("person.*", broken), ("person.created", single), ("person.*", batch)):
            remove_handler(pattern, handler)
    assert singles == [1, 3]
    assert batches == [[1, 2, 3]]
