"""REST API for webhooks: subscriptions (the secret shown on create and rotate only) and their deliveries."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action

from kinfolk.api import fields as f
from kinfolk.api.filters import IdFilter, TimestampFilterSet
from kinfolk.api.serializers import KinfolkSerializer
from kinfolk.api.viewsets import (
    IDEMPOTENCY_KEY,
    KinfolkViewSet,
    ListModelMixin,
    Resource,
    RetrieveModelMixin,
)
from kinfolk.webhooks import services
from kinfolk.webhooks.models import EVENT_PATTERNS, WebhookAttempt, WebhookDelivery, WebhookSubscription


class WebhookSerializer(KinfolkSerializer):
    """A webhook subscription as listed: never its secret."""

    team = f.StrictIntegerField(source="team_id", allow_null=True, required=False, min_value=1)
    created_by = f.StrictIntegerField(source="created_by_id", read_only=True, allow_null=True)
    event_types = f.StrictListField(
        child=f.StrictChoiceField(choices=EVENT_PATTERNS),
        min_length=1,
        help_text="Event types or families to send: person.created, organisation.*, * …",
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "team",
            "url",
            "description",
            "event_types",
            "is_active",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "previous_secret_expires_at",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "created_by",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]


class WebhookUpdateSerializer(WebhookSerializer):
    class Meta(WebhookSerializer.Meta):
        fields = [n for n in WebhookSerializer.Meta.fields if n != "team"]


class NewSecretWebhookSerializer(WebhookSerializer):
    """A webhook just created or rotated: `secret` signs its deliveries and is shown this once."""

    secret = serializers.CharField(
        read_only=True, help_text="The signing secret (whsec_…); never shown again."
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class WebhookFilter(TimestampFilterSet):
    team = IdFilter(field_name="team_id")
    active = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="filter_active", help_text="true or false"
    )

    class Meta:
        model = WebhookSubscription
        fields = []

    def filter_active(self, queryset, name, value):
        return queryset.filter(is_active=value == "true")


class WebhookViewSet(Resource):
    """Webhook subscriptions of your teams (administrators: all, and org-wide ones)."""

    model = WebhookSubscription
    serializer_class = WebhookSerializer
    update_serializer_class = WebhookUpdateSerializer
    filterset_class = WebhookFilter
    ordering_fields = ["id", "created_at", "updated_at"]

    @extend_schema(responses={201: NewSecretWebhookSerializer})
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    @extend_schema(request=WebhookUpdateSerializer)
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    def create_record(self, data):
        subscription, secret = services.check_create_subscription(data=data, actor=self.actor)
        self._secret = secret
        return subscription

    def update_record(self, obj, data):
        services.check_update_subscription(obj, changes=data, actor=self.actor)

    def delete_record(self, obj):
        services.check_delete_subscription(obj, actor=self.actor)

    def record_response(self, obj, status_code=200, headers=None):
        response = super().record_response(obj, status_code, headers)
        secret = getattr(self, "_secret", None)
        if secret is not None:
            response.data["secret"] = secret
        return response

    @extend_schema(request=None, responses={200: NewSecretWebhookSerializer}, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], url_path="rotate-secret", url_name="rotate-secret")
    def rotate_secret(self, request, *args, **kwargs):
        """A new signing secret; the previous one keeps signing alongside it for 24 hours."""
        obj = self.get_object()
        _obj, self._secret = services.check_rotate_secret(obj, actor=self.actor)
        return self.record_response(self.reload(obj))


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "id",
            "attempted_at",
            "status_code",
            "duration_ms",
            "response_excerpt",
            "error",
            "succeeded",
        ]
        read_only_fields = fields


class DeliverySerializer(KinfolkSerializer):
    """One event sent to one webhook, with every attempt."""

    subscription = f.StrictIntegerField(source="subscription_id", read_only=True)
    payload = serializers.DictField(read_only=True)
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "last_error",
            "payload",
            "attempt_log",
        ]
        read_only_fields = fields


class DeliveryFilter(django_filters.FilterSet):
    subscription = IdFilter(field_name="subscription_id")
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)
    event_type = django_filters.CharFilter(field_name="event_type")

    class Meta:
        model = WebhookDelivery
        fields = []


class DeliveryViewSet(RetrieveModelMixin, ListModelMixin, KinfolkViewSet):
    """Deliveries of the webhooks you may see, newest first, each with its attempts; redeliver one."""

    model = WebhookDelivery
    serializer_class = DeliverySerializer
    filterset_class = DeliveryFilter
    ordering_fields = ["id", "created_at"]
    select_related = ("subscription",)
    prefetch_related = ("attempt_log",)

    @extend_schema(request=None, responses={200: DeliverySerializer}, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    def redeliver(self, request, *args, **kwargs):
        """Send the delivery again now, then retry it on the usual schedule until it is delivered."""
        obj = self.get_object()
        services.check_redeliver(obj, actor=self.actor)
        return self.record_response(self.reload(obj))


ROUTES = [("webhooks", WebhookViewSet), ("webhook-deliveries", DeliveryViewSet)]
