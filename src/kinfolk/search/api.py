"""REST API for global search: the best matches among the people, organisations and lists you may see."""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from kinfolk.api.viewsets import KinfolkViewSet
from kinfolk.search import search
from kinfolk.search.models import SearchEntry
from kinfolk.search.query import MAX_QUERY

MAX_LIMIT = 50


class SearchResultSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SearchEntry.Kind.values)
    id = serializers.IntegerField()
    title = serializers.CharField()
    subtitle = serializers.CharField(allow_blank=True)
    score = serializers.FloatField()


class SearchViewSet(KinfolkViewSet):
    """Search people, organisations and lists by name, email, phone… as the search box does."""

    model = SearchEntry
    serializer_class = SearchResultSerializer
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        return SearchEntry.objects.none()

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "minLength": 1, "maxLength": MAX_QUERY},
                required=True,
                description="What to look for: a name, an email address, a phone number…",
            ),
            OpenApiParameter(
                "kind",
                OpenApiTypes.STR,
                enum=list(SearchEntry.Kind.values),
                description="Only results of this kind (repeat for several).",
                many=True,
                explode=True,
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                description="1-50, default 10.",
            ),
        ],
        responses=inline_serializer("SearchResults", {"results": SearchResultSerializer(many=True)}),
    )
    def search(self, request, *args, **kwargs):
        params = request.query_params
        errors = {}
        q = params.get("q")
        if q is None or not q.strip():
            errors["q"] = [_("Give something to search for.")]
        elif len(q) > MAX_QUERY:
            errors["q"] = [_("At most %(max)d characters.") % {"max": MAX_QUERY}]
        kinds = params.getlist("kind")
        bad = [k for k in kinds if k not in SearchEntry.Kind.values]
        if bad:
            errors["kind"] = [
                _("Unknown kind %(kinds)s; expected one of %(known)s.")
                % {"kinds": ", ".join(repr(b) for b in bad), "known": ", ".join(SearchEntry.Kind.values)}
            ]
        raw_limit = params.get("limit", "10")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
            errors["limit"] = [_("%(value)r: expected a whole number from 1 to 50.") % {"value": raw_limit}]
        if errors:
            raise exceptions.ValidationError(errors)
        results = search(self.actor, q, limit=int(raw_limit), kinds=kinds or None)
        data = [
            {"kind": r.kind, "id": r.object_id, "title": r.title, "subtitle": r.subtitle, "score": r.score}
            for r in results
        ]
        return Response({"results": data})
