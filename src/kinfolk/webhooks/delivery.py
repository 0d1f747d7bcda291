"""Sending: due deliveries are claimed, POSTed through the guarded client, logged, and retried with backoff.

The deliveries table is an outbox. A delivery is claimed by moving its next_attempt_at a lease ahead
(a conditional UPDATE, so two workers never send it at once); a worker that dies mid-send leaves it
due again when the lease ends, so every event is delivered at least once.
"""

import datetime
import json
import logging
import random

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kinfolk.webhooks import network, signing
from kinfolk.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

log = logging.getLogger("kinfolk.webhooks")

# Seconds to wait after the 1st, 2nd, … failed attempt: about 27 hours in all, then the delivery fails.
RETRY_DELAYS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
JITTER = 0.1  # ± share of each delay, so that many failed deliveries do not all come back at once
LEASE = datetime.timedelta(minutes=2)  # how long a claimed delivery is left to its worker


def disable_after():
    return datetime.timedelta(hours=float(getattr(settings, "KINFOLK_WEBHOOK_DISABLE_AFTER_HOURS", 24)))


def retry_delay(failed_attempts):
    """The wait after this many failed attempts (1-based), with jitter; None when it is time to give up."""
    if failed_attempts > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[failed_attempts - 1]
    return datetime.timedelta(seconds=base * (1 + random.uniform(-JITTER, JITTER)))  # noqa: S311


def body_of(delivery):
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()


def claim(delivery, now):
    """Take a due delivery for this worker; False if another worker took it first."""
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status=WebhookDelivery.Status.PENDING, next_attempt_at=delivery.next_attempt_at
        ).update(next_attempt_at=now + LEASE)
    )


def deliver_due(*, now=None, limit=100):
    """Send up to `limit` due deliveries; returns how many were attempted."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.due(now)
        .select_related("subscription", "subscription__created_by")
        .order_by("next_attempt_at", "id")[:limit]
    )
    sent = 0
    for delivery in due:
        if claim(delivery, now):
            try:
                attempt(delivery, now=now)
            except (
                Exception
            ):  # e.g. its webhook deleted meanwhile; the lease brings it back if it still exists
                log.exception("webhook delivery %s could not be attempted", delivery.pk)
            sent += 1
    return sent


def attempt(delivery, *, now=None):
    """POST one delivery once, log the attempt, and schedule what comes next."""
    now = now or timezone.now()
    subscription = delivery.subscription
    body = body_of(delivery)
    headers = {
        "content-type": "application/json",
        "user-agent": "Kinfolk-Webhooks/1",
        **signing.headers(
            subscription.active_secrets(now), msg_id=delivery.event_id, timestamp=now.timestamp(), body=body
        ),
    }
    answer = network.post(subscription.url, body=body, headers=headers)
    ok = answer.status_code is not None and 200 <= answer.status_code < 300
    error = answer.error
    if not ok and not error:
        error = _("The receiver answered %(status)s.") % {"status": answer.status_code}
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            status_code=answer.status_code,
            duration_ms=answer.duration_ms,
            response_excerpt=answer.excerpt,
            error=answer.error,
            succeeded=ok,
        )
        attempts = delivery.attempts + 1
        if ok:
            changes = {
                "status": WebhookDelivery.Status.DELIVERED,
                "delivered_at": now,
                "next_attempt_at": None,
            }
            WebhookSubscription.objects.filter(pk=subscription.pk).update(
                consecutive_failures=0, failing_since=None
            )
        else:
            delay = retry_delay(attempts - delivery.retry_base)
            if delay is None:
                changes = {"status": WebhookDelivery.Status.FAILED, "next_attempt_at": None}
            else:
                changes = {"next_attempt_at": now + delay}
            WebhookSubscription.objects.filter(pk=subscription.pk).update(
                consecutive_failures=F("consecutive_failures") + 1
            )
            WebhookSubscription.objects.filter(pk=subscription.pk, failing_since__isnull=True).update(
                failing_since=now
            )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            attempts=attempts, last_error=error[:500], **changes
        )
    if not ok:
        _maybe_disable(subscription, now)
    delivery.refresh_from_db()
    return delivery


def _maybe_disable(subscription, now):
    """Disable a subscription whose deliveries have failed, with no success, for disable_after()."""
    subscription.refresh_from_db(fields=["failing_since", "consecutive_failures", "is_active"])
    if not subscription.is_active or subscription.failing_since is None:
        return
    if now - subscription.failing_since < disable_after():
        return
    from kinfolk.webhooks.services import do_disable_failing

    hours = int(disable_after().total_seconds() // 3600)
    do_disable_failing(
        subscription,
        reason=_(
            "Every delivery failed for %(hours)s hours (%(count)s attempts in a row); the last error: %(error)s"
        )
        % {
            "hours": hours,
            "count": subscription.consecutive_failures,
            "error": WebhookDelivery.objects.filter(subscription=subscription)
            .exclude(last_error="")
            .order_by("-id")
            .values_list("last_error", flat=True)
            .first()
            or "",
        },
        now=now,
    )
