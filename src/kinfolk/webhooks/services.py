"""The one way webhooks change: subscribe, edit, rotate the secret, redeliver, disable, delete."""

import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kinfolk.access.models import Role, Team
from kinfolk.access.permissions import require_permission
from kinfolk.core.audit import actor_user
from kinfolk.core.services import do_create, do_delete, do_update
from kinfolk.core.validation import clean_values, merge_errors
from kinfolk.webhooks import network, signing
from kinfolk.webhooks.models import EVENT_PATTERNS, WebhookDelivery, WebhookSubscription

FIELDS = ("url", "description", "event_types", "is_active")


def previous_secret_hours():
    return float(getattr(settings, "KINFOLK_WEBHOOK_PREVIOUS_SECRET_HOURS", 24))


def clean_url(value):
    if isinstance(value, str) and len(value) > 2000:
        raise ValidationError(_("At most 2000 characters."))
    try:
        network.check_url(value)
    except network.UnsafeTarget as exc:
        raise ValidationError(str(exc)) from exc
    return value.strip()


def clean_event_types(value):
    """A non-empty list of known event types or families ('person.*', '*')."""
    if not isinstance(value, list) or not value:
        raise ValidationError(_('Expected a list of event types, like ["person.created", "organisation.*"].'))
    unknown = [v for v in value if not isinstance(v, str) or v not in EVENT_PATTERNS]
    if unknown:
        raise ValidationError(
            _("Unknown event type %(types)s; expected some of: %(known)s.")
            % {"types": ", ".join(repr(u) for u in unknown), "known": ", ".join(EVENT_PATTERNS)}
        )
    return list(dict.fromkeys(value))


def clean_description(value):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(_("Expected text."))
    value = " ".join(value.split())
    if len(value) > 200:
        raise ValidationError(_("At most 200 characters."))
    return value


NORMALIZERS = {"url": clean_url, "event_types": clean_event_types, "description": clean_description}


def _team(value, actor):
    """The team a new subscription belongs to; only administrators may leave it empty (org-wide)."""
    if value in (None, ""):
        if not actor.is_org_admin or getattr(actor, "api_token", None) and actor.api_token.team_id:
            raise ValidationError({"team": [_("Choose the team the webhook sends events for.")]})
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError({"team": [_("%(value)r: expected the id of a team.") % {"value": value}]})
    team = Team.objects.filter(pk=value).first()
    if team is None:
        raise ValidationError({"team": [_("No team with id %(id)s.") % {"id": value}]})
    if not (actor.is_org_admin or actor.has_role(team.pk, Role.MANAGER)):
        raise ValidationError(
            {"team": [_("Only managers of %(team)s may add its webhooks.") % {"team": team}]}
        )
    return team


def _require_signed_in(actor):
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise PermissionDenied(_("Sign in first."))


def check_create_subscription(*, data, actor):
    """Validate a new subscription (team managers, or administrators org-wide); returns (subscription, secret)."""
    _require_signed_in(actor)
    if not isinstance(data, dict):
        raise ValidationError({"data": [_("Expected an object of field names and values.")]})
    data = dict(data)
    team = values = team_error = values_error = None
    try:
        team = _team(data.pop("team", None), actor)
    except ValidationError as exc:
        team_error = exc
    try:
        values = clean_values(
            WebhookSubscription,
            data,
            allowed=FIELDS,
            required=("url", "event_types"),
            normalizers=NORMALIZERS,
        )
    except ValidationError as exc:
        values_error = exc
    errors = merge_errors(team_error, values_error)
    if errors:
        raise errors  # every problem at once
    return do_create_subscription(team=team, values=values, actor=actor)


def do_create_subscription(*, team, values, actor):
    secret = signing.new_secret()
    subscription = do_create(
        WebhookSubscription,
        values={**values, "team": team, "created_by": actor_user(actor), "secret": secret},
        actor=actor,
    )
    return subscription, secret


def check_update_subscription(subscription, *, changes, actor):
    """Change the URL, description, event types or active flag; enabling again clears the failure run."""
    require_permission(actor, "change", subscription)
    values = clean_values(
        WebhookSubscription, changes, allowed=FIELDS, instance=subscription, normalizers=NORMALIZERS
    )
    return do_update_subscription(subscription, changes=values, actor=actor)


@transaction.atomic
def do_update_subscription(subscription, *, changes, actor):
    enabling = changes.get("is_active") is True and not subscription.is_active
    if enabling:
        changes = {**changes, "disabled_reason": "", "disabled_at": None}
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            consecutive_failures=0, failing_since=None
        )
        subscription.consecutive_failures, subscription.failing_since = 0, None
    if changes.get("is_active") is False and subscription.is_active:
        _abandon_pending(subscription)
    return do_update(subscription, changes=changes, actor=actor)


def check_delete_subscription(subscription, *, actor):
    require_permission(actor, "delete", subscription)
    return do_delete(subscription, actor=actor)


def check_rotate_secret(subscription, *, actor):
    """A new secret; the previous one keeps signing alongside it for a while. Returns (subscription, secret)."""
    require_permission(actor, "change", subscription)
    return do_rotate_secret(subscription, actor=actor)


@transaction.atomic
def do_rotate_secret(subscription, *, actor):
    secret = signing.new_secret()
    expires = timezone.now() + datetime.timedelta(hours=previous_secret_hours())
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        previous_secret=subscription.secret, previous_secret_expires_at=expires, secret=secret
    )
    subscription.previous_secret, subscription.previous_secret_expires_at = subscription.secret, expires
    subscription.secret = secret
    from kinfolk.core.audit import record_change
    from kinfolk.core.models import ChangeRecord

    record_change(
        subscription,
        action=ChangeRecord.Action.UPDATE,
        before={"secret": "(previous)"},
        after={"secret": "(rotated)", "previous_secret_expires_at": expires.isoformat()},
        actor=actor,
    )
    return subscription, secret


def check_redeliver(delivery, *, actor):
    """Send a delivery again now (and retry it on the usual schedule), whatever its status."""
    require_permission(actor, "change", delivery.subscription)
    if not delivery.subscription.is_active:
        raise ValidationError(
            {"subscription": [_("The webhook is disabled; enable it before redelivering.")]}
        )
    return do_redeliver(delivery)


def do_redeliver(delivery, *, now=None):
    now = now or timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=now, retry_base=delivery.attempts
    )
    delivery.refresh_from_db()
    from kinfolk.webhooks.tasks import ensure_delivery_job

    transaction.on_commit(ensure_delivery_job)
    return delivery


def _abandon_pending(subscription):
    WebhookDelivery.objects.filter(subscription=subscription, status=WebhookDelivery.Status.PENDING).update(
        status=WebhookDelivery.Status.ABANDONED, next_attempt_at=None
    )


@transaction.atomic
def do_disable_failing(subscription, *, reason, now=None):
    """Turn off a subscription that keeps failing, and tell whoever created it."""
    now = now or timezone.now()
    changed = WebhookSubscription.objects.filter(pk=subscription.pk, is_active=True).update(
        is_active=False, disabled_at=now, disabled_reason=reason
    )
    if not changed:
        return False
    subscription.is_active, subscription.disabled_at, subscription.disabled_reason = False, now, reason
    _abandon_pending(subscription)
    from kinfolk.access.actors import SYSTEM
    from kinfolk.core.audit import record_change
    from kinfolk.core.models import ChangeRecord

    record_change(
        subscription,
        action=ChangeRecord.Action.UPDATE,
        before={"is_active": True},
        after={"is_active": False, "disabled_reason": reason},
        actor=SYSTEM,
    )
    owner = subscription.created_by
    if owner is not None and owner.email:
        transaction.on_commit(lambda: _notify_disabled(subscription, owner, reason))
    return True


def _notify_disabled(subscription, owner, reason):
    send_mail(
        _("Kinfolk disabled your webhook %(name)s") % {"name": subscription},
        _(
            "Kinfolk stopped sending events to %(url)s because deliveries kept failing:\n\n%(reason)s\n\n"
            "Fix the receiver, then enable the webhook again under Settings → Webhooks; you can redeliver "
            "the events it missed from its delivery log."
        )
        % {"url": subscription.url, "reason": reason},
        None,
        [owner.email],
        fail_silently=True,
    )
