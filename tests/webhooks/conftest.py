"""Webhook fixtures: a loopback receiver allowed by KINFOLK_WEBHOOK_ALLOWED_HOSTS, and a delivery runner."""

import datetime

import pytest
from django.utils import timezone

from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver(settings):
    settings.KINFOLK_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    made = []

    def build(fail_share=0.0, seed=7):
        r = Receiver(fail_share=fail_share, seed=seed)
        made.append(r)
        return r

    yield build
    for r in made:
        r.close()


def run_deliveries(now=None, max_rounds=500):
    """Send every due delivery, jumping the clock to the next retry until none is pending; returns the clock."""
    from kinfolk.webhooks.delivery import deliver_due
    from kinfolk.webhooks.models import WebhookDelivery

    now = now or timezone.now()
    for _round in range(max_rounds):
        deliver_due(now=now)
        upcoming = (
            WebhookDelivery.objects.filter(status="pending", subscription__is_active=True)
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        if upcoming is None:
            return now
        now = max(now, upcoming) + datetime.timedelta(microseconds=1)
    raise AssertionError("deliveries still pending after many rounds")
