"""Webhook subscriptions, the outbox of deliveries (one per event and subscription), and their attempts."""

import fnmatch

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kinfolk.access.models import Role
from kinfolk.core.models import KinfolkModel
from kinfolk.webhooks.querysets import WebhookDeliveryQuerySet, WebhookSubscriptionQuerySet

# The event types Kinfolk announces to webhooks (see emit_on_commit in the services).
EVENT_TYPES = (
    "person.created",
    "person.updated",
    "person.deleted",
    "person.merged",
    "organisation.created",
    "organisation.updated",
    "organisation.deleted",
    "activity.created",
    "activity.updated",
    "activity.deleted",
    "list.created",
    "list.updated",
    "list.deleted",
    "list.member_added",
    "list.member_removed",
)
EVENT_FAMILIES = tuple(sorted({t.split(".")[0] + ".*" for t in EVENT_TYPES}))
EVENT_PATTERNS = ("*", *EVENT_FAMILIES, *EVENT_TYPES)


def pattern_matches(pattern, event_type):
    return pattern == "*" or pattern == event_type or fnmatch.fnmatchcase(event_type, pattern)


class WebhookSubscription(KinfolkModel):
    """An address that receives signed POSTs for chosen events of what its team may see."""

    team = models.ForeignKey(
        "access.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("team"),
        help_text=_(
            "Events are sent as this team sees them; empty (administrators only): the whole organisation."
        ),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    url = models.CharField(_("URL"), max_length=2000)
    description = models.CharField(_("description"), max_length=200, blank=True)
    event_types = models.JSONField(_("event types"), default=list)
    is_active = models.BooleanField(_("active"), default=True)
    secret = models.CharField(max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True)
    disabled_reason = models.TextField(_("why it was disabled"), blank=True)

    objects = WebhookSubscriptionQuerySet.as_manager()

    audit_exclude = (
        "created_at",
        "updated_at",
        "secret",
        "previous_secret",
        "consecutive_failures",
        "failing_since",
    )

    class Meta:
        verbose_name = _("webhook")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.description or self.url

    def audit_subjects(self):
        return None, None, self.team_id

    def allows(self, actor, action):
        """A team's members see its webhooks; its managers change them; org-wide ones are administrators'."""
        if self.team_id is None:
            return False
        if action == "view":
            return self.team_id in actor.team_ids
        return actor.has_role(self.team_id, Role.MANAGER)

    def wants(self, event_type):
        return any(pattern_matches(p, event_type) for p in self.event_types or ())

    def active_secrets(self, now=None):
        """The secrets that sign a delivery now: the current one, and the previous one until it expires."""
        now = now or timezone.now()
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            secrets.append(self.previous_secret)
        return secrets


class WebhookDelivery(models.Model):
    """One event for one subscription: the outbox row a worker sends until it is delivered or given up."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")  # every retry failed
        ABANDONED = "abandoned", _("abandoned")  # its subscription was disabled first

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(_("event id"), max_length=40)
    event_type = models.CharField(_("event type"), max_length=64)
    model = models.CharField(max_length=64)
    object_id = models.BigIntegerField()
    payload = models.JSONField(default=dict)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    retry_base = models.PositiveIntegerField(
        default=0, help_text=_("Attempts made before the last redelivery.")
    )
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_id"], name="webhook_delivery_once")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx"),
            models.Index(fields=["subscription", "model", "object_id"], name="webhook_delivery_object_idx"),
        ]

    def __str__(self):
        return f"{self.event_type} {self.event_id}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, the answer (status, time, start of the body) or the error."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(_("time"), default=timezone.now)
    status_code = models.PositiveIntegerField(_("status code"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    response_excerpt = models.CharField(_("response"), max_length=1024, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.status_code or self.error} at {self.attempted_at}"
