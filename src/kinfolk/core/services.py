"""The shared machinery of every app's services: atomic writes with audit and events.

Apps' `check_*` functions validate and check permission, then call their `do_*`
functions, which use these helpers. Nothing else writes Kinfolk records.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from kinfolk.core.audit import build_record, record_change, snapshot
from kinfolk.core.events import emit_on_commit
from kinfolk.core.models import ChangeRecord


def _save_checked(obj, **save_kwargs):
    """Validate constraints before saving, so a duplicate becomes a field error rather than a 500."""
    obj.validate_constraints()
    try:
        with transaction.atomic():
            obj.save(**save_kwargs)
    except IntegrityError as exc:  # a race lost to a concurrent writer
        raise ValidationError(str(exc)) from exc


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
