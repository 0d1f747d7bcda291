"""The audit trail: every write through a service leaves a ChangeRecord saying who, from where and what changed."""

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import path

from kinfolk.access.actors import SYSTEM
from kinfolk.core.context import acting, current_via
from kinfolk.core.events import on_event, remove_handler
from kinfolk.core.middleware import ActorContextMiddleware
from kinfolk.core.models import ChangeRecord
from kinfolk.people import services as ps
from kinfolk.people.models import Person
from kinfolk.people.timeline import history
from tests.conftest import make_person, make_team, make_user

pytestmark = pytest.mark.django_db


def _records(obj):
    return list(ChangeRecord.objects.for_object(obj).order_by("time", "id"))


@pytest.fixture
def writer():
    team = make_team("Fundraising")
    return make_user("ada", teams=[(team, "member")])


def test_create_records_actor_source_and_non_empty_values(writer):
    # Given a member / When they create a person from the shell
    with acting("shell", request_id="req-1"):
        person = make_person(actor=writer, given_name="Ada", family_name="Lovelace")
    # Then one create record names the user, the source, the request id and the values set
    [record] = _records(person)
    assert (record.action, record.user, record.actor_label, record.source, record.request_id) == (
        "create",
        writer,
        "ada",
        "shell",
        "req-1",
    )
    assert record.person_id == person.pk
    assert record.changes["given_name"] == {"before": None, "after": "Ada"}
    assert record.changes["display_name"] == {"before": None, "after": "Ada Lovelace"}
    assert "middle_name" not in record.changes


def test_update_records_only_changed_fields_and_noop_records_nothing(writer):
    person = make_person(actor=writer, given_name="Ada", family_name="Lovelace", country="GB")
    # When the given name changes and the family name is sent unchanged
    ps.check_update_person(person, changes={"given_name": "Augusta", "family_name": "Lovelace"}, actor=writer)
    # Then the update record holds exactly the changed fields
    update = _records(person)[-1]
    assert update.action == "update"
    assert update.changes == {
        "given_name": {"before": "Ada", "after": "Augusta"},
        "display_name": {"before": "Ada Lovelace", "after": "Augusta Lovelace"},
    }
    # And an edit that changes nothing records nothing
    count = ChangeRecord.objects.count()
    ps.check_update_person(person, changes={"given_name": "Augusta", "country": "GB"}, actor=writer)
    assert ChangeRecord.objects.count() == count


def test_delete_records_last_values():
    writer = make_user("boss", teams=[(make_team("Events"), "manager")])
    person = make_person(actor=writer, given_name="Ada", emails=[{"email": "ada@example.org"}])
    email = person.emails.get()
    ps.check_delete_person(person, actor=writer)
    actions = [(r.object_type.model, r.action) for r in ChangeRecord.objects.filter(action="delete")]
    assert actions == [("emailaddress", "delete"), ("person", "delete")]
    email_delete = ChangeRecord.objects.get(
        action="delete", object_id=email.pk, object_type__model="emailaddress"
    )
    assert email_delete.changes["email"] == {"before": "ada@example.org", "after": None}
    assert Person.objects.count() == 0


@pytest.mark.parametrize(
    ("source", "fields", "via"),
    [("cli", {}, ""), ("job", {"job": "12"}, "job 12"), ("api", {"token": "website"}, "token website")],
)
def test_writes_outside_a_request_carry_their_channel(writer, source, fields, via):
    with acting(source, **fields) as ctx:
        person = make_person(actor=writer)
    [record] = _records(person)
    assert (record.source, record.via, record.request_id) == (source, via, ctx.request_id)
    assert record.request_id != ""


def test_system_writes_are_labelled_system():
    with acting("job", job="7"):
        person = make_person(actor=SYSTEM)
    [record] = _records(person)
    assert (record.user, record.actor_label, record.source, record.via) == (None, "system", "job", "job 7")


def _write_view(request):
    person = make_person(actor=SYSTEM, given_name="Web")
    return HttpResponse(f"{person.pk} {current_via().source} {current_via().request_id}")


urlpatterns = [path("write/", _write_view), path("api/write/", _write_view)]


@pytest.mark.urls(__name__)
def test_request_sets_source_ui_and_request_id(client):
    response = client.get("/write/", headers={"X-Request-ID": "abc-123"}, secure=True)
    assert response.status_code == 200, response.content[:300]
    pk, source, request_id = response.content.decode().split()
    assert (source, request_id, response["X-Request-ID"]) == ("ui", "abc-123", "abc-123")
    [record] = ChangeRecord.objects.filter(object_id=int(pk), object_type__model="person")
    assert (record.source, record.request_id) == ("ui", "abc-123")


@pytest.mark.urls(__name__)
def test_api_request_and_unsafe_request_id(client):
    response = client.get("/api/write/", headers={"X-Request-ID": "bad id; drop"}, secure=True)
    _pk, source, request_id = response.content.decode().split()
    assert source == "api"
    assert request_id != "bad id; drop" and len(request_id) == 32
    assert response["X-Request-ID"] == request_id


def test_middleware_restores_the_context_after_the_request():
    before = current_via()
    middleware = ActorContextMiddleware(lambda request: HttpResponse(current_via().source))
    response = middleware(RequestFactory().get("/x"))
    assert response.content == b"ui"
    assert current_via() == before


def test_history_is_in_time_order(writer):
    person = make_person(actor=writer, given_name="A")
    for name in ("B", "C"):
        ps.check_update_person(person, changes={"given_name": name}, actor=writer)
    actions = [
        (r.action, r.changes.get("given_name", {}).get("after")) for r in history(person, actor=writer)
    ]
    assert actions == [("create", "A"), ("update", "B"), ("update", "C")]


def test_relationship_create_and_delete_show_on_both_people(writer):
    one, two = make_person(actor=writer), make_person(actor=writer)
    rtype = ps.check_create_relationship_type(
        data={"name": "friend", "forward_label": "friend of", "is_symmetric": True}, actor=SYSTEM
    )
    rel = ps.check_create_relationship(one, two, rtype, actor=writer)
    ps.check_delete_relationship(rel, actor=writer)
    for person in (one, two):
        actions = list(
            ChangeRecord.objects.filter(person_id=person.pk)
            .exclude(object_type__model="person", action="create")
            .values_list("action", flat=True)
        )
        assert actions in (["create", "delete"], ["link", "unlink"]), (person, actions)
    assert sorted(ChangeRecord.objects.filter(person_id=two.pk).values_list("action", flat=True)) == [
        "create",
        "link",
        "unlink",
    ]


@pytest.mark.django_db(transaction=True)
def test_rolled_back_work_leaves_no_record_and_fires_no_event():
    seen = []

    def handler(event):
        seen.append(event.type)

    on_event("*")(handler)
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            make_person(actor=SYSTEM, given_name="Ghost")
            raise RuntimeError("stop")
        assert (ChangeRecord.objects.count(), Person.objects.count(), seen) == (0, 0, [])
        make_person(actor=SYSTEM, given_name="Real")
        assert seen == ["person.created"]
    finally:
        remove_handler("*", handler)


def _trail(person):
    return [(r.action, r.changes, r.object_repr, r.actor_label, r.source) for r in _records(person)]


def test_bulk_person_updates_leave_the_same_trail_fields_and_events_as_one_update_at_a_time(
    writer, django_capture_on_commit_callbacks
):
    # Given two people alike, each to be changed twice (the second change building on the first)
    one = make_person(actor=writer, given_name="Ada", family_name="Byron")
    two = make_person(actor=writer, given_name="Ada", family_name="Byron")
    changes = [{"family_name": "Lovelace", "display_name": "Ada Lovelace"}, {"birth_date": "1815-12-10"}]
    events = []

    def heard(batch):
        events.extend((e.type, e.object_id, e.data) for e in batch)

    on_event("person.*", batch=True)(heard)
    try:
        # When the first is changed one update at a time and the second in bulk
        with django_capture_on_commit_callbacks(execute=True), acting("import", job="import-1"):
            for change in changes:
                ps.do_update_person(one, changes=change, actor=writer)
            updates = ps.bulk_person_updates(actor=writer)
            for change in changes:
                updates.update(two, changes=change)
            updates.update(two, changes={"given_name": "Ada"})  # no change: no record, no event
            assert Person.objects.get(pk=two.pk).family_name == "Byron"  # nothing written yet
            updates.save()
    finally:
        remove_handler("person.*", heard)
    # Then both have the same fields, the same audit records and the same events
    saved_one, saved_two = Person.objects.get(pk=one.pk), Person.objects.get(pk=two.pk)
    fields = ("given_name", "family_name", "display_name", "birth_date")
    assert [getattr(saved_two, f) for f in fields] == [getattr(saved_one, f) for f in fields]
    assert str(saved_two.birth_date) == "1815-12-10"
    assert saved_two.updated_at > two.created_at
    assert _trail(saved_two) == _trail(saved_one)
    assert len(_trail(saved_two)) == 3
    assert [e[::2] for e in events if e[1] == two.pk] == [e[::2] for e in events if e[1] == one.pk]
    assert len([e for e in events if e[1] == two.pk]) == 2
