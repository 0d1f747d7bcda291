"""REST API for teams and users (read), the current user, and the current user's API tokens."""

import django_filters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from kinfolk.access import services
from kinfolk.access.models import ApiToken, Team, User
from kinfolk.api import fields as f
from kinfolk.api.filters import TimestampFilterSet
from kinfolk.api.serializers import KinfolkSerializer
from kinfolk.api.viewsets import (
    CreateModelMixin,
    DestroyModelMixin,
    KinfolkViewSet,
    ListModelMixin,
    ReadOnlyResource,
    RetrieveModelMixin,
)


class TeamSerializer(KinfolkSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "slug", "description", "sharing", "created_at", "updated_at"]
        read_only_fields = fields


class TeamViewSet(ReadOnlyResource):
    """The organisation's teams (everyone may know them by name)."""

    model = Team
    serializer_class = TeamSerializer
    ordering_fields = ["id", "name", "created_at", "updated_at"]


class UserSerializer(KinfolkSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name", "is_org_admin", "is_active"]
        read_only_fields = fields


class UserFilter(django_filters.FilterSet):
    username = django_filters.CharFilter(field_name="username", lookup_expr="iexact")

    class Meta:
        model = User
        fields = []


class UserViewSet(RetrieveModelMixin, ListModelMixin, KinfolkViewSet):
    """The organisation's users (names, not data); their audit entries are not offered here."""

    model = User
    serializer_class = UserSerializer
    filterset_class = UserFilter
    ordering_fields = ["id", "username"]


class TokenSerializer(KinfolkSerializer):
    """An API token as listed: never its secret."""

    user = f.StrictIntegerField(source="user_id", read_only=True)
    team = f.StrictIntegerField(source="team_id", allow_null=True, required=False, min_value=1)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "user",
            "team",
            "scope",
            "prefix",
            "expires_at",
            "rate_limit",
            "last_used_at",
            "revoked_at",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["id", "user", "prefix", "last_used_at", "revoked_at", "is_active", "created_at"]


class NewTokenSerializer(TokenSerializer):
    """A token just created: `token` holds the secret, shown this once."""

    token = serializers.CharField(read_only=True, help_text="The secret; it is never shown again.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]


class TokenFilter(TimestampFilterSet):
    active = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="filter_active", help_text="true or false"
    )

    class Meta:
        model = ApiToken
        fields = []

    def filter_active(self, queryset, name, value):
        from django.db.models import Q
        from django.utils import timezone

        live = Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        return queryset.filter(live) if value == "true" else queryset.exclude(live)


class TokenViewSet(DestroyModelMixin, CreateModelMixin, ReadOnlyResource):
    """Your API tokens: create (the secret is shown once), list, revoke (DELETE)."""

    model = ApiToken
    serializer_class = TokenSerializer
    filterset_class = TokenFilter
    ordering_fields = ["id", "created_at", "expires_at"]

    @extend_schema(responses={201: NewTokenSerializer})
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def create_record(self, data):
        token, secret = services.check_create_token(user=self.actor, data=data, actor=self.actor)
        self._secret = secret
        return token

    def record_response(self, obj, status_code=200, headers=None):
        response = super().record_response(obj, status_code, headers)
        secret = getattr(self, "_secret", None)
        if secret is not None:
            response.data["token"] = secret
        return response

    def delete_record(self, obj):
        services.check_revoke_token(obj, actor=self.actor)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    email = serializers.CharField()
    is_org_admin = serializers.BooleanField()
    teams = inline_serializer(
        "MeTeam",
        {"id": serializers.IntegerField(), "name": serializers.CharField(), "role": serializers.CharField()},
        many=True,
    )
    token = TokenSerializer(allow_null=True)


class MeView(KinfolkViewSet):
    """Who you are acting as: your user, your teams and roles as this request sees them, and the token used."""

    model = User
    serializer_class = MeSerializer
    pagination_class = None
    filter_backends = []

    @extend_schema(responses=MeSerializer)
    def retrieve(self, request, *args, **kwargs):
        actor = self.actor
        roles = actor.team_roles
        teams = Team.objects.filter(pk__in=roles).order_by("name")
        token = getattr(actor, "api_token", None)
        return Response(
            {
                "id": actor.pk,
                "username": actor.username,
                "first_name": actor.first_name,
                "last_name": actor.last_name,
                "email": actor.email,
                "is_org_admin": actor.is_org_admin,
                "teams": [{"id": t.pk, "name": t.name, "role": roles[t.pk]} for t in teams],
                "token": TokenSerializer(token).data if token is not None else None,
            }
        )


ROUTES = [("teams", TeamViewSet), ("users", UserViewSet), ("tokens", TokenViewSet)]
