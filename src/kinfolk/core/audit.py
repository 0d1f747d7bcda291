"""Audit trail writers: snapshot a record's fields and store a ChangeRecord naming who, where and what."""

import datetime
import decimal
import uuid

from django.contrib.contenttypes.models import ContentType
from django.db import models

from kinfolk.core.context import current_via
from kinfolk.core.models import ChangeRecord

_PLAIN = (str, int, float, bool, type(None))  # (bool is an int) values JSON takes as they are
_TIMES = (datetime.datetime, datetime.date, datetime.time)
_AS_TEXT = (decimal.Decimal, uuid.UUID)


def _json_value(value):
    if type(value) in _PLAIN:  # most values: one test rather than six (an import makes millions)
        return value
    if isinstance(value, _TIMES):
        return value.isoformat()
    if isinstance(value, _AS_TEXT):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if hasattr(value, "code"):  # django-countries Country
        return value.code or ""
    return value


def audited_fields(model):
    """The concrete, non-primary-key fields of a model that the audit trail records."""
    exclude = set(getattr(model, "audit_exclude", ()))
    return [f for f in model._meta.concrete_fields if not f.primary_key and f.name not in exclude]


def snapshot(obj, fields=None):
    """The JSON-ready values of obj's audited fields (foreign keys as ids)."""
    chosen = audited_fields(type(obj))
    if fields is not None:
        wanted = set(fields)
        chosen = [f for f in chosen if f.name in wanted]
    return {f.name: _json_value(getattr(obj, f.attname)) for f in chosen}


def diff(before, after):
    """{field: {before, after}} for the fields whose value differs."""
    keys = before.keys() | after.keys()
    return {
        k: {"before": before.get(k), "after": after.get(k)}
        for k in sorted(keys)
        if before.get(k) != after.get(k)
    }


def actor_user(actor):
    """The User row behind an actor, or None for the system actor."""
    return actor if getattr(actor, "pk", None) and not getattr(actor, "is_system", False) else None


def build_record(obj, *, action, before, after, actor):
    """An unsaved ChangeRecord for obj (bulk writers save many at once)."""
    via = current_via()
    person_id, organisation_id, team_id = obj.audit_subjects()
    details = [
        v
        for v in (
            via.token and f"token {via.token}",
            via.job and f"job {via.job}",
            via.plugin and f"plugin {via.plugin}",
        )
        if v
    ]
    return ChangeRecord(
        user=actor_user(actor),
        actor_label=str(getattr(actor, "username", "") or "system")[:200],
        source=via.source,
        via=", ".join(details)[:200],
        request_id=via.request_id,
        action=action,
        object_type=ContentType.objects.get_for_model(type(obj)),
        object_id=obj.pk,
        object_repr=str(obj)[:200],
        person_id=person_id,
        organisation_id=organisation_id,
        team_id=team_id,
        changes=diff(before, after)
        if action != ChangeRecord.Action.CREATE
        else diff({}, _without_empty(after)),
    )


EMPTY_VALUES = (None, "", {}, [])  # values a create's changes leave out


def _without_empty(values):
    return {k: v for k, v in values.items() if v not in EMPTY_VALUES}


def record_change(obj, *, action, before, after, actor):
    """Store one ChangeRecord for obj; an update that changed nothing records nothing."""
    record = build_record(obj, action=action, before=before, after=after, actor=actor)
    if action == ChangeRecord.Action.UPDATE and not record.changes:
        return None
    record.save()
    return record
