"""The shared machinery of every app's services: atomic writes with audit and events.

Apps' `check_*` functions validate and check permission, then call their `do_*`
functions, which use these helpers. Nothing else writes Kinfolk records.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from kinfolk.core.audit import build_record, record_change, snapshot
from kinfolk.core.db import update_rows
from kinfolk.core.events import emit_on_commit
from kinfolk.core.models import ChangeRecord


def _save_checked(obj, **save_kwargs):
    """Save obj; a violated constraint becomes a field error rather than a 500.

    The database enforces every constraint, so the save is tried first, in a savepoint: Django's
    validate_constraints() costs a query per constraint (a check constraint too), which made each
    saved detail three round trips more. Only when the database refuses does it run, to name the
    field and say what is wrong in the user's words; what the savepoint undid is not half-written.
    """
    try:
        with transaction.atomic():
            obj.save(**save_kwargs)
    except IntegrityError as exc:
        obj.validate_constraints()  # raises the ValidationError that names the field
        raise ValidationError(str(exc)) from exc  # a race lost to a concurrent writer


@transaction.atomic
def do_create(model, *, values, actor, event=None):
    """Create model from already-validated values, record it, and announce `event` after commit."""
    obj = model()
    for name, value in values.items():
        setattr(obj, name, value)
    _save_checked(obj)
    record_change(obj, action=ChangeRecord.Action.CREATE, before={}, after=snapshot(obj), actor=actor)
    if event:
        emit_on_commit(event, obj, actor=actor)
    return obj


@transaction.atomic
def do_update(obj, *, changes, actor, event=None):
    """Apply validated changes to obj, record before/after, and announce `event` after commit."""
    fields = [name for name in changes if getattr(obj, name) != changes[name]]
    if not fields:
        return obj
    before = snapshot(obj, fields)
    for name in fields:
        setattr(obj, name, changes[name])
    update_fields = list(fields)
    if hasattr(obj, "updated_at"):
        update_fields.append("updated_at")
    _save_checked(obj, update_fields=update_fields)
    record = record_change(
        obj, action=ChangeRecord.Action.UPDATE, before=before, after=snapshot(obj, fields), actor=actor
    )
    if event and record:
        emit_on_commit(event, obj, actor=actor, data={"fields": sorted(record.changes)})
    return obj


class BulkUpdate:
    """do_update for many records of one model, written together: one UPDATE per set of changed fields.

    `update()` does in memory what do_update does (it may be called again for the same record)
    and raises the same ValidationError; `save()` writes every changed record, their ChangeRecords
    in one statement, and queues the events do_update would queue. Bulk writers (imports) use it:
    a batch that updates thousands of people then costs a few statements instead of two per person.
    """

    def __init__(self, *, actor, event=None):
        self.actor = actor
        self.event = event
        self.changed = {}  # pk -> (record, names of changed fields)
        self.records = []  # (record, ChangeRecord) in the order of the changes

    def update(self, obj, *, changes):
        fields = [name for name in changes if getattr(obj, name) != changes[name]]
        if not fields:
            return obj
        before = snapshot(obj, fields)
        old = {name: getattr(obj, name) for name in fields}
        for name in fields:
            setattr(obj, name, changes[name])
        try:
            obj.validate_constraints()
        except ValidationError:
            for name, value in old.items():
                setattr(obj, name, value)
            raise
        self.changed.setdefault(obj.pk, (obj, set()))[1].update(fields)
        record = build_record(
            obj,
            action=ChangeRecord.Action.UPDATE,
            before=before,
            after=snapshot(obj, fields),
            actor=self.actor,
        )
        if record.changes:  # as record_change: an update that changed nothing records nothing
            self.records.append((obj, record))
        return obj

    @transaction.atomic
    def save(self):
        if not self.changed:
            return
        now = timezone.now()
        groups = {}
        for obj, fields in self.changed.values():
            if hasattr(obj, "updated_at"):
                obj.updated_at = now  # what auto_now does in save(); bulk_update does not call pre_save
                fields = {*fields, "updated_at"}
            groups.setdefault(tuple(sorted(fields)), []).append(obj)
        for fields, objs in groups.items():
            update_rows(type(objs[0]), fields, objs)
        ChangeRecord.objects.bulk_create([record for _obj, record in self.records], batch_size=2000)
        if self.event:
            for obj, record in self.records:
                emit_on_commit(self.event, obj, actor=self.actor, data={"fields": sorted(record.changes)})
        self.changed, self.records = {}, []


@transaction.atomic
def do_delete(obj, *, actor, event=None):
    """Delete obj, recording its last state; the event carries the id it had."""
    before = snapshot(obj)
    record = build_record(obj, action=ChangeRecord.Action.DELETE, before=before, after={}, actor=actor)
    if event:
        emit_on_commit(event, obj, actor=actor)
    obj.delete()
    record.save()
    return record


def bulk_record_creates(objs, *, actor):
    """ChangeRecords for many freshly bulk-created rows, written in one statement."""
    records = [
        build_record(o, action=ChangeRecord.Action.CREATE, before={}, after=snapshot(o), actor=actor)
        for o in objs
    ]
    ChangeRecord.objects.bulk_create(records, batch_size=2000)
    return records
