"""REST API for the timeline: notes, calls, meetings, tasks and emails, each owned by a team."""

import django_filters
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from kinfolk.access.models import Team, User
from kinfolk.activities import services
from kinfolk.activities.models import Activity
from kinfolk.api import fields as f
from kinfolk.api.filters import IdFilter, TimestampFilterSet, UtcDateTimeFilter
from kinfolk.api.lookups import resolve
from kinfolk.api.serializers import KinfolkSerializer
from kinfolk.api.viewsets import Resource
from kinfolk.people.models import Organisation, Person


def _id(source, **kwargs):
    return f.StrictIntegerField(source=source, min_value=1, **kwargs)


class ActivitySerializer(KinfolkSerializer):
    team = _id("team_id")
    person = _id("person_id", allow_null=True, required=False)
    organisation = _id("organisation_id", allow_null=True, required=False)
    author = _id("author_id", read_only=True, allow_null=True)
    assignee = _id("assignee_id", allow_null=True, required=False)

    class Meta:
        model = Activity
        fields = [
            "id",
            "kind",
            "team",
            "person",
            "organisation",
            "subject",
            "body",
            "occurred_at",
            "author",
            "due_at",
            "assignee",
            "completed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "author", "created_at", "updated_at"]


class ActivityUpdateSerializer(ActivitySerializer):
    class Meta(ActivitySerializer.Meta):
        fields = [
            n
            for n in ActivitySerializer.Meta.fields
            if n not in ("team", "person", "organisation", "assignee")
        ]


class ActivityFilter(TimestampFilterSet):
    person = IdFilter(field_name="person_id")
    organisation = IdFilter(field_name="organisation_id")
    team = IdFilter(field_name="team_id")
    kind = django_filters.ChoiceFilter(choices=Activity.Kind.choices)
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Activity
        fields = []


class ActivityViewSet(Resource):
    """Timeline activities about a person or an organisation, owned by a team."""

    model = Activity
    serializer_class = ActivitySerializer
    update_serializer_class = ActivityUpdateSerializer
    filterset_class = ActivityFilter
    ordering_fields = ["id", "occurred_at", "created_at", "updated_at"]

    def create_record(self, data):
        team = resolve(Team, self.actor, data.pop("team", None), "team")
        person = resolve(Person, self.actor, data.pop("person", None), "person", required=False)
        organisation = resolve(
            Organisation, self.actor, data.pop("organisation", None), "organisation", required=False
        )
        assignee = resolve(User, self.actor, data.pop("assignee", None), "assignee", required=False)
        if person is None and organisation is None:
            raise ValidationError({"person": [_("An activity is about a person or an organisation.")]})
        return services.check_create_activity(
            team=team,
            person=person,
            organisation=organisation,
            assignee=assignee,
            data=data,
            actor=self.actor,
        )

    def update_record(self, obj, data):
        services.check_update_activity(obj, changes=data, actor=self.actor)

    def delete_record(self, obj):
        services.check_delete_activity(obj, actor=self.actor)


ROUTES = [("activities", ActivityViewSet)]
