"""Base viewsets: reads from visible_to(actor), writes only through services, ETags, If-Match,
Idempotency-Key, sparse fields, keyset pages and the record's history.

A resource subclasses KinfolkViewSet with the mixins of the methods it has, and implements
create_record / update_record / delete_record by calling its app's `check_*` services.
"""

import hashlib
import json

from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, filters, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from kinfolk.access.models import ApiToken
from kinfolk.api import idempotency
from kinfolk.api.errors import ApiProblem
from kinfolk.api.filters import MAX_ID, StrictFilterBackend
from kinfolk.api.pagination import KeysetPagination
from kinfolk.api.serializers import ChangeRecordPageSerializer, ChangeRecordSerializer, sparse_fields, trim
from kinfolk.core.context import acting
from kinfolk.core.models import ChangeRecord

FIELDS_PARAM = OpenApiParameter(
    "fields",
    OpenApiTypes.STR,
    description="Comma-separated names of the fields to return, e.g. `id,display_name`.",
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    description="The ETag you read; the change is refused with 412 if the record changed since.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    description="Send the same key when retrying: the first response is replayed, nothing happens twice.",
)

CURSOR = OpenApiParameter("cursor", OpenApiTypes.STR, description="The cursor from `next` or `previous`.")
PAGE_SIZE = OpenApiParameter(
    "page_size", {"type": "integer", "minimum": 1, "maximum": 200}, description="1-200."
)


def etag_of(data):
    """A strong ETag of a record's full representation as its reader sees it."""
    text = json.dumps(data, sort_keys=True, cls=JSONEncoder, separators=(",", ":"))
    return '"' + hashlib.blake2b(text.encode(), digest_size=16).hexdigest() + '"'


def _tags(header):
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


class StrictOrderingFilter(filters.OrderingFilter):
    """?ordering=name or -created_at; an unknown field is a 400, and the id always breaks ties."""

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        allowed = set(getattr(view, "ordering_fields", ()) or ())
        if raw is None:
            return self.get_default_ordering(view)
        terms = [t.strip() for t in raw.split(",") if t.strip()]
        bad = [t for t in terms if t.lstrip("-") not in allowed]
        if bad or not terms:
            raise exceptions.ValidationError(
                {
                    "ordering": [
                        _("Cannot order by %(bad)s; expected one of %(allowed)s, with - for descending.")
                        % {"bad": ", ".join(bad) or "''", "allowed": ", ".join(sorted(allowed))}
                    ]
                }
            )
        if terms[0].lstrip("-") != "id":
            terms.append("-id" if terms[0].startswith("-") else "id")
        return terms[:1] + [t for t in terms[1:] if t.lstrip("-") != terms[0].lstrip("-")]

    def get_schema_operation_parameters(self, view):
        allowed = sorted(getattr(view, "ordering_fields", ()) or ())
        choices = [name for field in allowed for name in (field, f"-{field}")]
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": _("Order by one field; prefix - for descending."),
                "schema": {"type": "string", "enum": choices},
            }
        ]


class HistoryPagination(KeysetPagination):
    def get_ordering(self, request, queryset, view):
        return ("-id",)


class KinfolkViewSet(viewsets.GenericViewSet):
    """The base of every API resource."""

    model = None
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = "[0-9]+"
    filter_backends = [StrictFilterBackend, StrictOrderingFilter]
    pagination_class = KeysetPagination
    ordering_fields = ["id", "created_at", "updated_at"]
    ordering = ["-id"]
    select_related = ()
    prefetch_related = ()
    # (relation, flag): prefetch the relation only for the records whose boolean field `flag` is true;
    # the others are known to have none, and their serializer answers without asking the database.
    prefetch_if = ()
    write_serializer_class = None  # input types for POST (default: serializer_class)
    update_serializer_class = None  # input types for PATCH (default: write_serializer_class)

    @property
    def actor(self):
        return self.request.user

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspecting the view
            return self.model.objects.none()
        queryset = self.model.objects.visible_to(self.actor)
        if self.select_related:
            queryset = queryset.select_related(*self.select_related)
        prefetches = self.get_prefetches(self.sparse_wanted())
        if prefetches:
            queryset = queryset.prefetch_related(*prefetches)
        return queryset

    def sparse_wanted(self):
        """A list's ?fields= (None: all): what it leaves out is neither fetched nor rendered.

        A single record is always rendered in full, since its ETag is of the full representation.
        """
        if self.action != "list" or getattr(self, "swagger_fake_view", False):
            return None
        return sparse_fields(self.request, self.get_serializer_class())

    def get_prefetches(self, wanted):
        """The prefetch lookups for records rendered with only the fields `wanted` (None: all)."""
        return self.prefetch_related

    def get_object(self, for_update=False):
        raw = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, "")
        if not str(raw).isdigit() or int(raw) > MAX_ID:
            raise exceptions.NotFound()
        if for_update:
            queryset = self.get_queryset().select_for_update(of=("self",))
            obj = next(iter(queryset.filter(pk=int(raw)).order_by()[:1]), None)
        else:
            obj = self.fetch_one(int(raw))
        if obj is None:
            raise exceptions.NotFound()
        self.load_related([obj])
        self.check_object_permissions(self.request, obj)
        return obj

    def fetch_one(self, pk):
        """The visible record with this id, or None."""
        # One row by its key: no ORDER BY (first() would sort by the model's ordering, compiled each time)
        return next(iter(self.get_queryset().filter(pk=pk).order_by()[:1]), None)

    def load_related(self, records):
        """What fetched records need besides their rows and prefetches, before they are rendered."""
        self.complete(records, self.sparse_wanted())

    @classmethod
    def complete(cls, records, wanted=None):
        """Load what rendering `records` with the fields `wanted` (None: all) needs besides their rows
        and prefetch_related; also for renderings outside a request (webhook payloads).

        Here: each `prefetch_if` relation, in one query, for the records flagged as having some.
        """
        for relation, flag in cls.prefetch_if:
            flagged = [r for r in records if getattr(r, flag)]
            if flagged:
                prefetch_related_objects(flagged, relation)

    # -- request life cycle: the token names the audit trail; Idempotency-Key claims and stores --

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None:
            self._acting = acting(token=token.name)
            self._acting.__enter__()
        self._idempotency = idempotency.begin(request)

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        claim = getattr(self, "_idempotency", None)
        if claim is not None:
            self._idempotency = None
            idempotency.finish(claim, response)
        cm = getattr(self, "_acting", None)
        if cm is not None:
            self._acting = None
            cm.__exit__(None, None, None)
        return response

    # -- helpers for subclasses --

    def full_data(self, obj):
        return self.get_serializer_class()(obj, context=self.get_serializer_context()).data

    def record_response(self, obj, status_code=status.HTTP_200_OK, headers=None):
        """The record as JSON with its ETag (and only the ?fields= asked for)."""
        wanted = sparse_fields(self.request, self.get_serializer_class())
        data = self.full_data(obj)
        response = Response(trim(data, wanted), status=status_code, headers=headers or {})
        response["ETag"] = etag_of(data)
        return response

    def check_if_match(self, obj):
        header = self.request.headers.get("If-Match")
        if header is None:
            return
        tags = _tags(header)
        if "*" in tags:
            return
        current = etag_of(self.full_data(obj))
        if current not in tags:
            raise ApiProblem(
                412,
                "precondition_failed",
                _("The record changed since you read it (its ETag is now %(etag)s); read it again.")
                % {"etag": current},
            )

    def input_data(self, serializer_class, *, partial):
        """Check the JSON types of the body against the schema; return the body for the service to validate.

        Read-only fields a client echoes back (id, created_at…) are dropped; any other unknown field is
        passed on, so that the service names it instead of ignoring it silently.
        """
        data = self.request.data
        if not isinstance(data, dict):
            raise exceptions.ValidationError({"": [_("Expected a JSON object.")]})
        serializer = serializer_class(data=data, partial=partial, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        read_only = {name for name, field in serializer.fields.items() if field.read_only}
        return {k: v for k, v in data.items() if k not in read_only}

    def create_record(self, data):
        raise NotImplementedError

    def update_record(self, obj, data):
        raise NotImplementedError

    def delete_record(self, obj):
        raise NotImplementedError

    def reload(self, obj):
        """The record again through the read path (with its prefetches) for the response."""
        record = self.get_queryset().get(pk=obj.pk)
        self.load_related([record])
        return record


class ListModelMixin:
    @extend_schema(parameters=[FIELDS_PARAM])
    def list(self, request, *args, **kwargs):
        wanted = self.sparse_wanted()
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        self.load_related(page)
        context = {**self.get_serializer_context(), "fields": wanted}
        data = self.get_serializer_class()(page, many=True, context=context).data
        if wanted is not None:  # a serializer with its own to_representation renders every field
            data = [trim(item, wanted) for item in data]
        return self.get_paginated_response(data)


class RetrieveModelMixin:
    @extend_schema(parameters=[FIELDS_PARAM])
    def retrieve(self, request, *args, **kwargs):
        obj = self.get_object()
        response = self.record_response(obj)
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match and response["ETag"] in _tags(if_none_match):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": response["ETag"]})
        return response


class CreateModelMixin:
    @extend_schema(parameters=[IDEMPOTENCY_KEY])
    def create(self, request, *args, **kwargs):
        data = self.input_data(self.write_serializer_class or self.get_serializer_class(), partial=False)
        obj = self.create_record(data)
        return self.record_response(self.reload(obj), status.HTTP_201_CREATED)


class UpdateModelMixin:
    @extend_schema(parameters=[IF_MATCH])
    def partial_update(self, request, *args, **kwargs):
        serializer_class = (
            self.update_serializer_class or self.write_serializer_class or self.get_serializer_class()
        )
        data = self.input_data(serializer_class, partial=True)
        with transaction.atomic():
            obj = self.get_object(for_update=True)
            self.check_if_match(obj)
            self.update_record(obj, data)
        return self.record_response(self.reload(obj))


class DestroyModelMixin:
    @extend_schema(parameters=[IF_MATCH], responses={204: None})
    def destroy(self, request, *args, **kwargs):
        with transaction.atomic():
            obj = self.get_object(for_update=True)
            self.check_if_match(obj)
            self.delete_record(obj)
        return Response(status=status.HTTP_204_NO_CONTENT)


class HistoryMixin:
    @extend_schema(responses=ChangeRecordPageSerializer, filters=False, parameters=[CURSOR, PAGE_SIZE])
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=HistoryPagination)
    def history(self, request, *args, **kwargs):
        """The record's change history, newest first, as far as you may see it."""
        obj = self.get_object()
        records = ChangeRecord.objects.visible_to(self.actor).for_object(obj)
        page = self.paginate_queryset(records)
        return self.get_paginated_response(ChangeRecordSerializer(page, many=True).data)


class ReadOnlyResource(HistoryMixin, RetrieveModelMixin, ListModelMixin, KinfolkViewSet):
    """list, retrieve, history."""


class Resource(DestroyModelMixin, UpdateModelMixin, CreateModelMixin, ReadOnlyResource):
    """list, create, retrieve, update (PATCH), delete, history."""
