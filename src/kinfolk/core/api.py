"""REST API for background jobs: follow their status, progress, log and result; cancel one."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action

from kinfolk.api import fields as f
from kinfolk.api.serializers import KinfolkSerializer
from kinfolk.api.viewsets import IDEMPOTENCY_KEY, KinfolkViewSet, ListModelMixin, RetrieveModelMixin
from kinfolk.core.jobs import check_cancel_job
from kinfolk.core.models import Job


class JobSerializer(KinfolkSerializer):
    created_by = f.StrictIntegerField(source="created_by_id", read_only=True, allow_null=True)
    team = f.StrictIntegerField(source="team_id", read_only=True, allow_null=True)
    percent_done = serializers.IntegerField(read_only=True, allow_null=True)
    log = serializers.ListField(child=serializers.DictField(), read_only=True)
    result = serializers.JSONField(read_only=True, allow_null=True)
    params = serializers.DictField(read_only=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "label",
            "status",
            "progress_done",
            "progress_total",
            "percent_done",
            "params",
            "log",
            "result",
            "error",
            "attempts",
            "cancel_requested",
            "created_by",
            "team",
            "source",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class JobFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Job.Status.choices)
    kind = django_filters.CharFilter(field_name="kind")

    class Meta:
        model = Job
        fields = []


class JobViewSet(RetrieveModelMixin, ListModelMixin, KinfolkViewSet):
    """Background jobs you started or your teams' (administrators: all), newest first."""

    model = Job
    serializer_class = JobSerializer
    filterset_class = JobFilter
    ordering_fields = ["id", "created_at"]

    @extend_schema(request=None, responses={200: JobSerializer}, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        """Ask a queued or running job to stop; a finished job is left as it is."""
        job = check_cancel_job(self.get_object(), actor=self.actor)
        return self.record_response(job)


ROUTES = [("jobs", JobViewSet)]
