"""Emission: after commit, each event becomes a delivery for every subscription whose team may see it."""

import uuid

from kinfolk.access.actors import SYSTEM
from kinfolk.access.models import Role, TeamRoles
from kinfolk.core.events import on_event
from kinfolk.webhooks.models import EVENT_TYPES, WebhookDelivery, WebhookSubscription


class TeamViewer(TeamRoles):
    """The actor a team's webhook reads as: a viewer of that one team, nothing more."""

    pk = None
    id = None
    is_system = False
    is_org_admin = False
    is_authenticated = True
    is_active = True

    def __init__(self, team_id):
        self.username = f"webhook of team {team_id}"
        self.team_roles = {team_id: Role.VIEWER}


def subscriber(subscription):
    """Whom a subscription reads as: its team as a viewer, or (org-wide) the whole organisation."""
    return SYSTEM if subscription.team_id is None else TeamViewer(subscription.team_id)


def new_event_id():
    return "msg_" + uuid.uuid4().hex


_RESOURCES = {}


def resource_for(label):
    """(model, serializer class, viewset) of the API resource that serializes records of `label`."""
    if not _RESOURCES:
        from kinfolk.api.urls import router

        for _prefix, viewset, _basename in router.registry:
            model = getattr(viewset, "model", None)
            if model is not None:
                _RESOURCES.setdefault(model._meta.label_lower, viewset)
    return _RESOURCES.get(label)


def _records(label, ids):
    """{id: the record as the API serializes it} for the records of `label` that still exist."""
    viewset = resource_for(label)
    if viewset is None or not ids:
        return {}
    queryset = viewset.model.objects.filter(pk__in=ids)
    if viewset.select_related:
        queryset = queryset.select_related(*viewset.select_related)
    if viewset.prefetch_related:
        queryset = queryset.prefetch_related(*viewset.prefetch_related)
    records = list(queryset)
    viewset.complete(records)
    serializer_class = viewset.serializer_class
    return {obj.pk: dict(serializer_class(obj).data) for obj in records}


def payload_for(event, record):
    data = dict(record) if record is not None else {"id": event.object_id}
    if event.type.endswith(".updated") and event.data.get("fields"):
        data["changed_fields"] = list(event.data["fields"])
    if event.type == "person.merged" and event.data.get("merged_id"):
        data["merged_id"] = event.data["merged_id"]
    return {"type": event.type, "timestamp": event.occurred_at.isoformat(), "data": data}


def _gone_visible(subscription, actor, event):
    """Whether a subscription may hear of a record that no longer exists (a deletion).

    A deleted person's event names the teams it was restricted to. Otherwise: when the subscription
    heard of the record before, or when the deletion's audit entry is one its team may see and the
    record was not a restricted person.
    """
    label, object_id = event.model, event.object_id
    if subscription.team_id is None:
        return True
    if event.type == "person.deleted" and "restricted_to_teams" in event.data:
        teams = event.data["restricted_to_teams"]
        return not teams or subscription.team_id in teams
    if WebhookDelivery.objects.filter(subscription=subscription, model=label, object_id=object_id).exists():
        return True
    from django.contrib.contenttypes.models import ContentType

    from kinfolk.core.models import ChangeRecord

    app_label, model_name = label.split(".")
    object_type = ContentType.objects.filter(app_label=app_label, model=model_name).first()
    if object_type is None:
        return False
    record = (
        ChangeRecord.objects.visible_to(actor)
        .filter(object_type=object_type, object_id=object_id, action=ChangeRecord.Action.DELETE)
        .order_by("-id")
        .first()
    )
    if record is None:
        return False
    return (record.changes.get("is_restricted") or {}).get("before") is not True


def deliveries_for(events):
    """The WebhookDelivery rows (unsaved) these events make, one per event and subscription that may see it."""
    events = [e for e in events if e.type in EVENT_TYPES]
    if not events:
        return []
    subscriptions = [
        s for s in WebhookSubscription.objects.filter(is_active=True) if any(s.wants(e.type) for e in events)
    ]
    if not subscriptions:
        return []
    ids_by_label = {}
    for event in events:
        ids_by_label.setdefault(event.model, set()).add(event.object_id)
    records = {label: _records(label, ids) for label, ids in ids_by_label.items()}
    event_ids = [new_event_id() for _e in events]
    rows = []
    for subscription in subscriptions:
        actor = subscriber(subscription)
        wanted = [(i, e) for i, e in enumerate(events) if subscription.wants(e.type)]
        visible = {}
        for label in {e.model for _i, e in wanted}:
            viewset = resource_for(label)
            ids = {e.object_id for _i, e in wanted if e.model == label}
            if viewset is None:
                visible[label] = set()
                continue
            visible[label] = set(
                viewset.model.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", flat=True)
            )
        for i, event in wanted:
            exists = event.object_id in records[event.model]
            if exists and event.object_id not in visible[event.model]:
                continue
            if not exists and not _gone_visible(subscription, actor, event):
                continue
            rows.append(
                WebhookDelivery(
                    subscription=subscription,
                    event_id=event_ids[i],
                    event_type=event.type,
                    model=event.model,
                    object_id=event.object_id,
                    payload=payload_for(event, records[event.model].get(event.object_id)),
                    next_attempt_at=event.occurred_at,
                )
            )
    return rows


@on_event("*", batch=True)
def announce(events):
    """Queue the deliveries of committed events, then make sure a worker will send them."""
    rows = deliveries_for(events)
    if not rows:
        return
    WebhookDelivery.objects.bulk_create(rows, batch_size=500)
    from kinfolk.webhooks.tasks import ensure_delivery_job

    ensure_delivery_job()
