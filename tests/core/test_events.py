"""Event dispatch: single handlers get each event, batch handlers get the whole batch, failures stay local."""

import pytest

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


class _Thing:
    """Stands in for a saved record: emit_on_commit reads only its label and pk."""

    class _meta:  # noqa: N801 (the attribute Django models have)
        label_lower = "people.person"

    def __init__(self, pk):
        self.pk = pk


@pytest.mark.django_db
def test_collected_events_reach_a_batch_handler_once_and_a_rolled_back_savepoint_announces_nothing(
    django_capture_on_commit_callbacks,
):
    from django.db import transaction

    from kinfolk.core.events import collected_events, emit_on_commit

    batches = []

    def batch(events):
        batches.append([e.object_id for e in events])

    on_event("person.*", batch=True)(batch)
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic(), collected_events():
            emit_on_commit("person.updated", _Thing(1), actor=None)
            try:
                with transaction.atomic():
                    emit_on_commit("person.updated", _Thing(2), actor=None)
                    raise RuntimeError("rolled back")
            except RuntimeError:
                pass
            emit_on_commit("person.created", _Thing(3), actor=None)
            assert batches == []  # nothing before the commit
    finally:
        remove_handler("person.*", batch)
    assert batches == [[1, 3]]


@pytest.mark.django_db
def test_collected_events_of_a_rolled_back_batch_are_never_dispatched(django_capture_on_commit_callbacks):
    from django.db import transaction

    from kinfolk.core.events import collected_events, emit_on_commit

    batches = []

    def batch(events):
        batches.append([e.object_id for e in events])

    on_event("person.*", batch=True)(batch)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            try:
                with transaction.atomic(), collected_events():
                    emit_on_commit("person.updated", _Thing(1), actor=None)
                    raise RuntimeError("the batch fails")
            except RuntimeError:
                pass
    finally:
        remove_handler("person.*", batch)
    assert batches == []
