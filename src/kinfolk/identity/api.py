"""REST API for duplicates: the review queue, a pair compared field by field, "not the same person",
merges and their undo, the check of a prospective person, and the batch run.

Reads come from the people the actor may see (a pair or a merge whose people are hidden is "not
found"); every write is one call of a `check_*` service of kinfolk.identity.
"""

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from kinfolk.api import fields as f
from kinfolk.api.lookups import resolve
from kinfolk.api.viewsets import CURSOR, IDEMPOTENCY_KEY, PAGE_SIZE, KinfolkViewSet
from kinfolk.identity import merge as identity_merge
from kinfolk.identity import services as identity
from kinfolk.identity.models import DuplicateCandidate, MergeRecord
from kinfolk.people.api import PersonWriteSerializer
from kinfolk.people.models import Person
from kinfolk.people.services import validate_person


def visible_candidates(actor):
    """Pairs (any status) whose two people the actor may see."""
    visible = Person.objects.visible_to(actor).values("pk")
    return DuplicateCandidate.objects.filter(first_id__in=visible, second_id__in=visible)


def visible_merges(actor):
    """Merges the actor may see: the survivor is visible to them (and, once undone, the merged person too)."""
    if actor.is_org_admin:
        return MergeRecord.objects.all()
    visible = Person.objects.visible_to(actor).values("pk")
    return MergeRecord.objects.filter(
        Q(survivor_id__in=visible) & (Q(undone_at__isnull=True) | Q(merged_id__in=visible))
    )


def _value(value):
    """A field's value as the API shows it: a string (countries by code, dates in ISO form), or null."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(getattr(value, "code", value))


# ---- serializers ------------------------------------------------------------------------------------


class PersonRefSerializer(serializers.Serializer):
    """A person named in a pair: the id and the name the actor sees."""

    id = serializers.IntegerField()
    display_name = serializers.CharField()


class FindingSerializer(serializers.Serializer):
    """One field's outcome in the score: field, outcome (agree, partial, common, disagree), detail."""

    field = serializers.CharField()
    outcome = serializers.CharField()
    detail = serializers.JSONField(allow_null=True)


def _findings(raw):
    return [{"field": a, "outcome": b, "detail": c} for a, b, c in raw or []]


def _ref(person, pk):
    return {"id": pk, "display_name": str(person) if person is not None else ""}


class PairSerializer(serializers.Serializer):
    """A candidate pair: its two people, the score, the reasons in words and the findings behind them."""

    id = serializers.IntegerField()
    first = PersonRefSerializer()
    second = PersonRefSerializer()
    score = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField())
    findings = FindingSerializer(many=True)
    status = serializers.ChoiceField(choices=DuplicateCandidate.Status.choices)
    found_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, candidate):
        people = self.context.get("people") or {}
        return {
            "id": candidate.pk,
            "first": _ref(people.get(candidate.first_id), candidate.first_id),
            "second": _ref(people.get(candidate.second_id), candidate.second_id),
            "score": candidate.score,
            "reasons": [str(r) for r in candidate.reasons or []],
            "findings": _findings(candidate.findings),
            "status": candidate.status,
            "found_at": serializers.DateTimeField().to_representation(candidate.found_at),
            "decided_at": (
                serializers.DateTimeField().to_representation(candidate.decided_at)
                if candidate.decided_at
                else None
            ),
        }


class PairPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = PairSerializer(many=True)


class SurvivingValueSerializer(serializers.Serializer):
    """What a merge of the pair (the first person surviving) would keep for a field, and why."""

    value = serializers.CharField(allow_null=True)
    source = serializers.ChoiceField(
        choices=["survivor", "merged"], help_text="survivor = first, merged = second"
    )
    why = serializers.CharField(help_text="chosen, kept, most complete, trusted source, most recent")


class ComparedFieldSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    first = serializers.CharField()
    second = serializers.CharField()
    differs = serializers.BooleanField()


class DetailListsSerializer(serializers.Serializer):
    first = serializers.ListField(child=serializers.CharField())
    second = serializers.ListField(child=serializers.CharField())


class ComparisonSerializer(PairSerializer):
    """A pair side by side: each field's two values, their contact details, and a merge's default choices."""

    fields = ComparedFieldSerializer(many=True)
    details = serializers.DictField(
        child=DetailListsSerializer(), help_text="emails, phones, addresses, external_ids"
    )
    merge_preview = serializers.DictField(child=SurvivingValueSerializer())

    def to_representation(self, candidate):
        data = super().to_representation(candidate)
        comparison, preview = self.context["comparison"], self.context["preview"]
        data["score"] = comparison.score  # as the rules score it now
        data["reasons"] = [str(r) for r in comparison.reasons]
        data["findings"] = _findings(comparison.findings)
        data["fields"] = [
            {"field": name, "label": label, "first": a, "second": b, "differs": differs}
            for name, label, a, b, differs in comparison.fields
        ]
        data["details"] = {
            kind: {"first": list(a), "second": list(b)} for kind, (a, b) in comparison.details.items()
        }
        data["merge_preview"] = {
            name: {"value": _value(value), "source": pick, "why": why}
            for name, (value, pick, why) in preview.items()
        }
        return data


class MergeRecordSerializer(serializers.Serializer):
    """A merge: who was merged into whom, by whom, each field's surviving value and why; undone_at once undone."""

    id = serializers.IntegerField()
    survivor = serializers.IntegerField()
    merged = serializers.IntegerField()
    merged_at = serializers.DateTimeField()
    merged_by = serializers.IntegerField(allow_null=True, help_text="The user who merged (null: the system).")
    actor_label = serializers.CharField()
    choices = serializers.DictField(child=SurvivingValueSerializer())
    undone_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, record):
        when = serializers.DateTimeField().to_representation
        return {
            "id": record.pk,
            "survivor": record.survivor_id,
            "merged": record.merged_id,
            "merged_at": when(record.merged_at),
            "merged_by": record.merged_by_id,
            "actor_label": record.actor_label,
            "choices": {
                name: {"value": _value(c.get("value")), "source": c.get("from"), "why": c.get("why")}
                for name, c in (record.choices or {}).items()
            },
            "undone_at": when(record.undone_at) if record.undone_at else None,
        }


class MergePageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = MergeRecordSerializer(many=True)


class MergeWriteSerializer(serializers.Serializer):
    """Merge `merged` into `survivor`; `choices` picks whose value a field keeps (the rest by the rules)."""

    survivor = f.StrictIntegerField(min_value=1, help_text="Id of the person who stays.")
    merged = f.StrictIntegerField(min_value=1, help_text="Id of the person merged into the survivor.")
    choices = serializers.DictField(
        child=f.StrictChoiceField(choices=["survivor", "merged"]),
        required=False,
        help_text='{"given_name": "merged"}: whose value a field keeps.',
    )


class RunWriteSerializer(serializers.Serializer):
    rebuild = f.StrictBooleanField(required=False, help_text="Recompute every matching key first.")


RUN_RESULT = inline_serializer(
    "DuplicateRun",
    {
        "job": serializers.IntegerField(),
        "kind": serializers.CharField(),
        "status": serializers.CharField(),
        "label": serializers.CharField(),
    },
)
CHECK_RESULT = inline_serializer(
    "DuplicateCheckResult",
    {
        "results": inline_serializer(
            "PossibleDuplicate",
            {
                "person": PersonRefSerializer(),
                "score": serializers.FloatField(),
                "reasons": serializers.ListField(child=serializers.CharField()),
                "findings": FindingSerializer(many=True),
            },
            many=True,
        )
    },
)


# ---- viewsets ---------------------------------------------------------------------------------------


class DuplicateViewSet(KinfolkViewSet):
    """Possible duplicates: open pairs whose two people you may see, best score first."""

    model = DuplicateCandidate
    serializer_class = PairSerializer
    filter_backends = KinfolkViewSet.filter_backends[1:]  # ordering only
    ordering_fields = ["score", "found_at", "id"]
    ordering = ["-score", "id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DuplicateCandidate.objects.none()
        return visible_candidates(self.actor)

    def _people(self, candidates):
        ids = {pk for c in candidates for pk in (c.first_id, c.second_id)}
        return Person.objects.visible_to(self.actor).in_bulk(ids)

    @extend_schema(responses=PairPageSerializer, parameters=[CURSOR, PAGE_SIZE])
    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(identity.open_candidates(actor=self.actor))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(
            PairSerializer(page, many=True, context={"people": self._people(page)}).data
        )

    @extend_schema(responses=ComparisonSerializer)
    def retrieve(self, request, *args, **kwargs):
        candidate = self.get_object()
        people = self._people([candidate])
        first, second = people[candidate.first_id], people[candidate.second_id]
        context = {
            "people": people,
            "comparison": identity.compare_people(first, second, actor=self.actor),
            "preview": identity_merge.preview_merge(first, second, actor=self.actor),
        }
        return Response(ComparisonSerializer(candidate, context=context).data)

    @extend_schema(request=None, responses=PairSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], url_path="not-duplicate", filter_backends=[])
    def not_duplicate(self, request, *args, **kwargs):
        """Remember that the pair's two people are not the same person; the pair is never suggested again."""
        candidate = self.get_object()
        candidate = identity.check_mark_not_duplicate(candidate, actor=self.actor)
        return Response(PairSerializer(candidate, context={"people": self._people([candidate])}).data)

    @extend_schema(request=PersonWriteSerializer, responses=CHECK_RESULT, parameters=[IDEMPOTENCY_KEY])
    @action(detail=False, methods=["post"], filter_backends=[])
    def check(self, request, *args, **kwargs):
        """Possible duplicates of a person about to be created (the fields of POST /people/), best first."""
        data = self.input_data(PersonWriteSerializer, partial=False)
        data.pop("restricted_to_teams", None)
        values, details = validate_person(data)
        found = identity.find_possible_duplicates({**values, **details}, actor=self.actor)
        return Response(
            {
                "results": [
                    {
                        "person": _ref(d.person, d.person.pk),
                        "score": d.score,
                        "reasons": [str(r) for r in d.reasons],
                        "findings": _findings(d.findings),
                    }
                    for d in found
                ]
            }
        )

    @extend_schema(request=RunWriteSerializer, responses={202: RUN_RESULT}, parameters=[IDEMPOTENCY_KEY])
    @action(detail=False, methods=["post"], filter_backends=[])
    def runs(self, request, *args, **kwargs):
        """Start a search of the whole database for duplicates, as a background job (administrators)."""
        data = self.input_data(RunWriteSerializer, partial=False)
        job = identity.check_start_dedupe(actor=self.actor, rebuild=data.get("rebuild", False))
        return Response(
            {"job": job.pk, "kind": job.kind, "status": job.status, "label": job.label},
            status=status.HTTP_202_ACCEPTED,
        )


class MergeViewSet(KinfolkViewSet):
    """Merges: merge two people (choosing values field by field), read a merge, undo it."""

    model = MergeRecord
    serializer_class = MergeRecordSerializer
    filter_backends = KinfolkViewSet.filter_backends[1:]  # ordering only
    ordering_fields = ["id", "merged_at"]
    ordering = ["-id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return MergeRecord.objects.none()
        return visible_merges(self.actor)

    @extend_schema(
        request=MergeWriteSerializer, responses={201: MergeRecordSerializer}, parameters=[IDEMPOTENCY_KEY]
    )
    def create(self, request, *args, **kwargs):
        data = self.input_data(MergeWriteSerializer, partial=False)
        survivor = resolve(Person, self.actor, data.get("survivor"), "survivor")
        merged = resolve(Person, self.actor, data.get("merged"), "merged")
        choices = data.get("choices") or {}
        if not isinstance(choices, dict):
            raise ValidationError({"choices": [_('Expected {field: "survivor" or "merged"}.')]})
        record = identity_merge.check_merge_people(survivor, merged, choices=choices, actor=self.actor)
        return Response(MergeRecordSerializer(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=MergePageSerializer, parameters=[CURSOR, PAGE_SIZE])
    def list(self, request, *args, **kwargs):
        """Merges of people you may see, newest first (undone ones too, with undone_at)."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(MergeRecordSerializer(page, many=True).data)

    @extend_schema(responses=MergeRecordSerializer)
    def retrieve(self, request, *args, **kwargs):
        return Response(MergeRecordSerializer(self.get_object()).data)

    @extend_schema(request=None, responses=MergeRecordSerializer, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"], filter_backends=[])
    def undo(self, request, *args, **kwargs):
        """Put both people back exactly as they were before the merge."""
        record = self.get_object()
        identity_merge.check_undo_merge(record, actor=self.actor)
        record.refresh_from_db()
        return Response(MergeRecordSerializer(record).data)


ROUTES = [
    ("duplicates", DuplicateViewSet),
    ("merges", MergeViewSet),
]
