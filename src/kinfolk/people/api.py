"""REST API for people, their details, organisations, affiliations, relationships, households, tags and lists.

Reads come from visible_to(actor); every write is one call of a `check_*` service in services.py.
"""

import functools

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from kinfolk.access.models import Team
from kinfolk.access.scoping import person_scope
from kinfolk.api import fields as f
from kinfolk.api.filters import IdFilter, TimestampFilterSet
from kinfolk.api.lookups import resolve, token_team
from kinfolk.api.serializers import KinfolkSerializer, read_attributes
from kinfolk.api.viewsets import (
    FIELDS_PARAM,
    IDEMPOTENCY_KEY,
    CreateModelMixin,
    DestroyModelMixin,
    ReadOnlyResource,
    Resource,
)
from kinfolk.core.db import compiled_query, rows_for_each, stand_in_ids
from kinfolk.identity import normalize as norm
from kinfolk.people import models as pm
from kinfolk.people import services as ps


def _id(source, **kwargs):
    return f.StrictIntegerField(source=source, min_value=1, **kwargs)


# ---- contact details ------------------------------------------------------------------------------


class EmailAddressSerializer(KinfolkSerializer):
    person = _id("person_id")

    class Meta:
        model = pm.EmailAddress
        fields = [
            "id",
            "person",
            "email",
            "kind",
            "is_primary",
            "status",
            "source",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "source", "created_at", "updated_at"]


class PhoneNumberSerializer(KinfolkSerializer):
    person = _id("person_id", allow_null=True, required=False)
    organisation = _id("organisation_id", allow_null=True, required=False)
    region = f.StrictCharField(
        write_only=True, required=False, help_text="Country for a number without +code, like DE."
    )

    class Meta:
        model = pm.PhoneNumber
        fields = [
            "id",
            "person",
            "organisation",
            "number",
            "original",
            "kind",
            "is_primary",
            "region",
            "source",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "original", "source", "created_at", "updated_at"]


class PostalAddressSerializer(KinfolkSerializer):
    person = _id("person_id", allow_null=True, required=False)
    organisation = _id("organisation_id", allow_null=True, required=False)

    class Meta:
        model = pm.PostalAddress
        fields = [
            "id",
            "person",
            "organisation",
            "kind",
            "street",
            "extended",
            "locality",
            "region",
            "postal_code",
            "country",
            "is_primary",
            "source",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "source", "created_at", "updated_at"]


class SocialProfileSerializer(KinfolkSerializer):
    person = _id("person_id", allow_null=True, required=False)
    organisation = _id("organisation_id", allow_null=True, required=False)

    class Meta:
        model = pm.SocialProfile
        fields = [
            "id",
            "person",
            "organisation",
            "network",
            "handle",
            "url",
            "source",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "source", "created_at", "updated_at"]


class ExternalIdSerializer(KinfolkSerializer):
    person = _id("person_id", allow_null=True, required=False)
    organisation = _id("organisation_id", allow_null=True, required=False)

    class Meta:
        model = pm.ExternalId
        fields = ["id", "person", "organisation", "system", "value", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


DETAIL_SERIALIZERS = {
    "emails": EmailAddressSerializer,
    "phones": PhoneNumberSerializer,
    "addresses": PostalAddressSerializer,
    "social_profiles": SocialProfileSerializer,
    "external_ids": ExternalIdSerializer,
}
# Related names of the details on Person and Organisation
DETAIL_RELATED = {
    "emails": "emails",
    "phones": "phonenumbers",
    "addresses": "postaladdresss",
    "social_profiles": "socialprofiles",
    "external_ids": "externalids",
}


@functools.cache
def _nested(kind, owner_fields=("person", "organisation")):
    """A nested detail serializer without the owner ids (they are the enclosing record)."""
    base = DETAIL_SERIALIZERS[kind]
    meta_fields = [n for n in base.Meta.fields if n not in owner_fields]

    class Meta(base.Meta):
        fields = meta_fields

    attrs = {"Meta": Meta, **dict.fromkeys(owner_fields)}
    return type(f"Nested{base.__name__}", (base,), attrs)


class DetailFilterSet(TimestampFilterSet):
    person = IdFilter(field_name="person_id")


class OwnerDetailFilterSet(DetailFilterSet):
    organisation = IdFilter(field_name="organisation_id")


def _detail_viewset(kind):
    model = ps.DETAILS[kind][0]
    serializer = DETAIL_SERIALIZERS[kind]
    owner_kinds = ("person",) if kind == "emails" else ("person", "organisation")

    class Filters(DetailFilterSet if kind == "emails" else OwnerDetailFilterSet):
        class Meta:
            model = ps.DETAILS[kind][0]
            fields = []

    class DetailViewSet(Resource):
        __doc__ = f"{model._meta.verbose_name_plural.capitalize()} of people" + (
            "." if kind == "emails" else " and organisations."
        )

        def create_record(self, data):
            owners = [name for name in owner_kinds if data.get(name) is not None]
            if len(owners) != 1:
                raise ValidationError(
                    {
                        owner_kinds[-1]: [
                            _("Give exactly one of: %(names)s.") % {"names": ", ".join(owner_kinds)}
                        ]
                    }
                )
            owner_model = pm.Person if owners[0] == "person" else pm.Organisation
            owner = resolve(owner_model, self.actor, data.pop(owners[0]), owners[0])
            data.pop("organisation" if owners[0] == "person" else "person", None)
            return ps.check_add_detail(owner, kind, data=data, actor=self.actor, team=token_team(self.actor))

        def update_record(self, obj, data):
            for name in owner_kinds:
                if name in data:
                    raise ValidationError({name: [_("A detail cannot move; remove it and add it again.")]})
            ps.check_update_detail(obj, changes=data, actor=self.actor)

        def delete_record(self, obj):
            ps.check_remove_detail(obj, actor=self.actor)

    DetailViewSet.model = model
    DetailViewSet.serializer_class = serializer
    DetailViewSet.filterset_class = Filters
    DetailViewSet.__name__ = DetailViewSet.__qualname__ = f"{model.__name__}ViewSet"
    return DetailViewSet


# ---- people -------------------------------------------------------------------------------------

# The API's person: the service's fields, then what the read path adds.
PERSON_FIELDS = [
    "id",
    *ps.PERSON_FIELDS,
    "is_restricted",
    "restricted_to_teams",
    *ps.DETAILS,
    "created_at",
    "updated_at",
]


class PersonSerializer(KinfolkSerializer):
    """A person with their contact details nested."""

    restricted_to_teams = serializers.SerializerMethodField()
    # Read from the lists attach_details leaves on each person
    emails = _nested("emails")(many=True, read_only=True, source="prefetched_emails")
    phones = _nested("phones")(many=True, read_only=True, source="prefetched_phones")
    addresses = _nested("addresses")(many=True, read_only=True, source="prefetched_addresses")
    social_profiles = _nested("social_profiles")(
        many=True, read_only=True, source="prefetched_social_profiles"
    )
    external_ids = _nested("external_ids")(many=True, read_only=True, source="prefetched_external_ids")

    class Meta:
        model = pm.Person
        fields = PERSON_FIELDS
        read_only_fields = ["id", "is_restricted", "created_at", "updated_at"]

    def to_representation(self, instance):
        wanted = self._context.get("fields")
        missing = [
            kind
            for kind in DETAIL_RELATED
            if (wanted is None or kind in wanted) and not hasattr(instance, f"prefetched_{kind}")
        ]
        if missing:  # rendered without PersonViewSet.complete (one record at a time): fetch them here
            attach_details([instance], missing)
        return super().to_representation(instance)

    def get_restricted_to_teams(self, person) -> list[int]:
        if not person.is_restricted:  # no restriction rows (the services keep the two in step)
            return []
        rows = getattr(person, "prefetched_restrictions", None)
        return sorted(r.team_id for r in (person.restrictions.all() if rows is None else rows))


@functools.cache
def _write_details(kind):
    base = _nested(kind)
    names = [n for n in base.Meta.fields if n not in ("id", "source", "original", "created_at", "updated_at")]

    class Meta(base.Meta):
        fields = names
        read_only_fields = []

    return type(f"{base.__name__}Write", (base,), {"Meta": Meta})


class PersonWriteSerializer(KinfolkSerializer):
    """What a client sends to create or upsert a person: fields, details to add, teams to restrict to."""

    restricted_to_teams = serializers.ListField(
        child=f.StrictIntegerField(min_value=1),
        required=False,
        help_text="Ids of the only teams that may see them.",
    )
    emails = _write_details("emails")(many=True, required=False)
    phones = _write_details("phones")(many=True, required=False)
    addresses = _write_details("addresses")(many=True, required=False)
    social_profiles = _write_details("social_profiles")(many=True, required=False)
    external_ids = _write_details("external_ids")(many=True, required=False)

    class Meta:
        model = pm.Person
        fields = [n for n in PERSON_FIELDS if n not in ("id", "is_restricted", "created_at", "updated_at")]


class PersonUpdateSerializer(KinfolkSerializer):
    """A change to a person's own fields (details change through their own resources)."""

    restricted_to_teams = serializers.ListField(child=f.StrictIntegerField(min_value=1), required=False)

    class Meta:
        model = pm.Person
        fields = [
            n
            for n in PERSON_FIELDS
            if n not in ("id", "is_restricted", "created_at", "updated_at", *ps.DETAILS)
        ]


class PersonFilter(TimestampFilterSet):
    name = django_filters.CharFilter(method="filter_name", help_text="Part of a name.")
    email = django_filters.CharFilter(method="filter_email", help_text="An email address (any case).")
    phone = django_filters.CharFilter(method="filter_phone", help_text="A phone number in any format.")
    tag = IdFilter(method="filter_tag", help_text="Tagged with this tag id.")
    list = IdFilter(method="filter_list", help_text="On this list id.")
    organisation = IdFilter(method="filter_organisation", help_text="Affiliated with this organisation id.")
    team = IdFilter(method="filter_team", help_text="Restricted to, tagged by or listed by this team id.")
    country = django_filters.CharFilter(method="filter_country", help_text="Country code or name.")

    class Meta:
        model = pm.Person
        fields = []

    def _invalid(self, name, exc):
        from rest_framework.exceptions import ValidationError as ApiValidationError

        raise ApiValidationError({name: list(exc.messages)})

    def filter_name(self, queryset, name, value):
        text = norm.clean_text(value)
        q = Q()
        for word in text.split()[:5]:
            q &= (
                Q(display_name__icontains=word)
                | Q(given_name__icontains=word)
                | Q(family_name__icontains=word)
            )
        return queryset.filter(q)

    def filter_email(self, queryset, name, value):
        try:
            _email, normalized = norm.normalize_email(value)
        except ValidationError as exc:
            self._invalid(name, exc)
        rows = pm.EmailAddress.objects.filter(person=OuterRef("pk"), normalized=normalized)
        return queryset.filter(Exists(rows))

    def filter_phone(self, queryset, name, value):
        try:
            number = norm.normalize_phone(value)
        except ValidationError as exc:
            self._invalid(name, exc)
        return queryset.filter(Exists(pm.PhoneNumber.objects.filter(person=OuterRef("pk"), number=number)))

    def filter_tag(self, queryset, name, value):
        rows = pm.PersonTag.objects.visible_to(self.actor).filter(person=OuterRef("pk"), tag_id=value)
        return queryset.filter(Exists(rows))

    def filter_list(self, queryset, name, value):
        rows = pm.ListMembership.objects.visible_to(self.actor).filter(person=OuterRef("pk"), list_id=value)
        return queryset.filter(Exists(rows))

    def filter_organisation(self, queryset, name, value):
        rows = pm.Affiliation.objects.filter(person=OuterRef("pk"), organisation_id=value)
        return queryset.filter(Exists(rows))

    def filter_team(self, queryset, name, value):
        tagged = pm.PersonTag.objects.visible_to(self.actor).filter(person=OuterRef("pk"), team_id=value)
        listed = pm.ListMembership.objects.visible_to(self.actor).filter(person=OuterRef("pk"), team_id=value)
        restricted = pm.PersonRestriction.objects.filter(person=OuterRef("pk"), team_id=value)
        return queryset.filter(Exists(tagged) | Exists(listed) | Exists(restricted))

    def filter_country(self, queryset, name, value):
        try:
            code = norm.normalize_country(value)
        except ValidationError as exc:
            self._invalid(name, exc)
        return queryset.filter(country=code)


@functools.cache
def _detail_columns(kind):
    """The fields of a kind of detail that PersonSerializer renders, and the person's id (None: all)."""
    # The others (custom field data, normalised forms) are neither fetched nor decoded
    model = ps.DETAILS[kind][0]
    read = read_attributes(_nested(kind))  # the class PersonSerializer renders them with
    if read is None or not set(read) <= {field.attname for field in model._meta.concrete_fields}:
        return None
    return ("person_id", *read)


def attach_details(people, kinds=tuple(DETAIL_RELATED), restrictions=False):
    """Each person's details of `kinds` (person.prefetched_<kind>), and their restrictions if asked for."""
    # One query per kind, on PostgreSQL all in one round trip, compiled once (core.db.rows_for_each),
    # which took more time than running them. What PersonSerializer reads, and only reads: Row objects
    # rather than model instances (making those took a fifth of a list). Details and restrictions are
    # visible with their person, so the people's own scoping suffices.
    by_id = {p.pk: p for p in people}
    requests = {
        f"prefetched_{kind}": (ps.DETAILS[kind][0], "person_id", by_id, _detail_columns(kind))
        for kind in kinds
    }
    if restrictions:  # only restricted people have any (the services keep the two in step)
        restricted = [pk for pk, person in by_id.items() if person.is_restricted]
        requests["prefetched_restrictions"] = (pm.PersonRestriction, "person_id", restricted)
    fetched = rows_for_each(list(requests.values()), as_rows=True)
    for attribute, rows in zip(requests, fetched, strict=True):
        lists = {pk: [] for pk in by_id}
        for row in rows:
            lists[row.person_id].append(row)
        for pk, person in by_id.items():
            setattr(person, attribute, lists[pk])


UPSERT_RESULT = inline_serializer(
    "UpsertResult",
    {
        "status": serializers.ChoiceField(choices=["created", "updated"]),
        "matched_by": serializers.ChoiceField(choices=["external_id", "email"], allow_null=True),
        "person": PersonSerializer(),
    },
)
BULK_REQUEST = inline_serializer("BulkUpsertRequest", {"people": PersonWriteSerializer(many=True)})
BULK_RESULT = inline_serializer(
    "BulkUpsertResult",
    {
        "created": serializers.IntegerField(),
        "updated": serializers.IntegerField(),
        "errors": serializers.IntegerField(),
        "results": inline_serializer(
            "BulkUpsertItem",
            {
                "index": serializers.IntegerField(),
                "status": serializers.ChoiceField(choices=["created", "updated", "error"]),
                "id": serializers.IntegerField(allow_null=True),
                "matched_by": serializers.ChoiceField(
                    choices=["external_id", "email"], allow_null=True, required=False
                ),
                "errors": inline_serializer(
                    "BulkUpsertError",
                    {"field": serializers.CharField(), "message": serializers.CharField()},
                    many=True,
                ),
            },
            many=True,
        ),
    },
)


class PersonViewSet(Resource):
    """People, with their emails, phones, addresses, social profiles and external ids."""

    model = pm.Person
    serializer_class = PersonSerializer
    write_serializer_class = PersonWriteSerializer
    update_serializer_class = PersonUpdateSerializer
    filterset_class = PersonFilter
    ordering_fields = ["id", "display_name", "family_name", "created_at", "updated_at"]

    @classmethod
    def complete(cls, records, wanted=None):
        super().complete(records, wanted)
        attach_details(
            records,
            [kind for kind in DETAIL_RELATED if wanted is None or kind in wanted],
            restrictions=wanted is None or "restricted_to_teams" in wanted,
        )

    def fetch_one(self, pk):
        """The visible person with this id, or None."""
        # The scoped query compiled once per scope: the ORM took a quarter of a GET to build and compile it
        query = compiled_query(
            ("PersonViewSet.fetch_one", person_scope(self.actor)),
            lambda marker: pm.Person.objects.visible_to(self.actor).filter(pk=marker).order_by()[:1],
            stand_in_ids(1),
        )
        return next(iter(query.run([pk])), None)

    @extend_schema(request=PersonWriteSerializer)
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    @extend_schema(request=PersonUpdateSerializer)
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(
        parameters=[FIELDS_PARAM],
        responses={
            200: PersonSerializer,
            308: OpenApiResponse(
                description="The id was merged into another person: Location is the survivor."
            ),
        },
    )
    def retrieve(self, request, *args, **kwargs):
        """A person; the id of a person merged away answers 308 with the survivor's address (if you may see them)."""
        try:
            return super().retrieve(request, *args, **kwargs)
        except NotFound:
            survivor = self._survivor_of(kwargs.get("pk", ""))
            if survivor is None:
                raise
        url = reverse("api:people-detail", kwargs={"pk": survivor})
        if request.META.get("QUERY_STRING"):
            url += "?" + request.META["QUERY_STRING"]
        return Response(status=308, headers={"Location": request.build_absolute_uri(url)})

    def _survivor_of(self, raw):
        """The visible survivor's id of a merged-away person id, else None."""
        from kinfolk.api.filters import MAX_ID
        from kinfolk.identity.services import resolve_person_id

        if not str(raw).isdigit() or int(raw) > MAX_ID:
            return None
        survivor = resolve_person_id(int(raw))
        if survivor == int(raw) or not self.get_queryset().filter(pk=survivor).exists():
            return None
        return survivor

    def create_record(self, data):
        return ps.check_create_person(data=data, actor=self.actor, team=token_team(self.actor))

    def update_record(self, obj, data):
        teams = data.pop("restricted_to_teams", None)
        if data:
            ps.check_update_person(obj, changes=data, actor=self.actor)
        if teams is not None:
            ps.check_set_restriction(obj, team_ids=teams, actor=self.actor)

    def delete_record(self, obj):
        ps.check_delete_person(obj, actor=self.actor)

    @extend_schema(
        request=PersonWriteSerializer,
        responses={200: UPSERT_RESULT, 201: UPSERT_RESULT},
        parameters=[IDEMPOTENCY_KEY],
    )
    @action(detail=False, methods=["post"], filter_backends=[])
    def upsert(self, request, *args, **kwargs):
        """Create a person, or update the one that an external id (system, value) or an email already names."""
        data = self.input_data(PersonWriteSerializer, partial=False)
        person, outcome, matched_by = ps.check_upsert_person(
            data=data, actor=self.actor, team=token_team(self.actor)
        )
        response = self.record_response(self.reload(person), 201 if outcome == "created" else 200)
        response.data = {"status": outcome, "matched_by": matched_by, "person": response.data}
        return response

    @extend_schema(request=BULK_REQUEST, responses={200: BULK_RESULT}, parameters=[IDEMPOTENCY_KEY])
    @action(detail=False, methods=["post"], filter_backends=[])
    def bulk(self, request, *args, **kwargs):
        """Upsert up to 1,000 people; each gets its own result, and one bad item never stops the others."""
        body = request.data
        if not isinstance(body, dict) or set(body) != {"people"}:
            raise ValidationError({"people": [_('Send {"people": [ … ]}.')]})
        items = body["people"]
        if not isinstance(items, list):
            raise ValidationError({"people": [_("Expected a list of people.")]})
        results = [None] * len(items) if len(items) <= ps.BULK_LIMIT else []
        checked = []
        for index, item in enumerate(items if results else []):
            gate = PersonWriteSerializer(data=item)
            if not isinstance(item, dict):
                results[index] = _bulk_error(index, [{"field": "", "message": _("Expected a JSON object.")}])
            elif not gate.is_valid():
                from kinfolk.api.errors import field_errors

                results[index] = _bulk_error(index, field_errors(gate.errors))
            else:
                checked.append(index)
        done = ps.check_bulk_upsert_people(
            [items[i] for i in checked] if results else items, actor=self.actor, team=token_team(self.actor)
        )
        for index, result in zip(checked, done, strict=True):
            results[index] = {**result, "index": index}
        counts = {k: sum(1 for r in results if r["status"] == k.rstrip("s")) for k in ("created", "updated")}
        return Response(
            {**counts, "errors": sum(1 for r in results if r["status"] == "error"), "results": results}
        )


def _bulk_error(index, errors):
    return {"index": index, "status": "error", "id": None, "errors": errors}


# ---- organisations ------------------------------------------------------------------------------


class OrganisationSerializer(KinfolkSerializer):
    parent = _id("parent_id", allow_null=True, required=False)
    domains = serializers.ListField(child=f.StrictCharField(), required=False)
    phones = _nested("phones")(many=True, read_only=True, source="phonenumbers")
    addresses = _nested("addresses")(many=True, read_only=True, source="postaladdresss")
    social_profiles = _nested("social_profiles")(many=True, read_only=True, source="socialprofiles")
    external_ids = _nested("external_ids")(many=True, read_only=True, source="externalids")

    class Meta:
        model = pm.Organisation
        fields = [
            "id",
            "name",
            "kind",
            "domains",
            "website",
            "parent",
            "description",
            "custom_field_data",
            "phones",
            "addresses",
            "social_profiles",
            "external_ids",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class OrganisationFilter(TimestampFilterSet):
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    parent = IdFilter(field_name="parent_id")
    tag = IdFilter(method="filter_tag")

    class Meta:
        model = pm.Organisation
        fields = []

    def filter_tag(self, queryset, name, value):
        rows = pm.OrganisationTag.objects.visible_to(self.actor).filter(
            organisation=OuterRef("pk"), tag_id=value
        )
        return queryset.filter(Exists(rows))


class OrganisationViewSet(Resource):
    """Organisations: companies, charities, clubs, chapters; shared by every team."""

    model = pm.Organisation
    serializer_class = OrganisationSerializer
    filterset_class = OrganisationFilter
    ordering_fields = ["id", "name", "created_at", "updated_at"]
    prefetch_related = ("phonenumbers", "postaladdresss", "socialprofiles", "externalids")

    def create_record(self, data):
        return ps.check_create_organisation(data=data, actor=self.actor)

    def update_record(self, obj, data):
        ps.check_update_organisation(obj, changes=data, actor=self.actor)

    def delete_record(self, obj):
        ps.check_delete_organisation(obj, actor=self.actor)


# ---- affiliations, relationships, households ------------------------------------------------------


class AffiliationSerializer(KinfolkSerializer):
    person = _id("person_id")
    organisation = _id("organisation_id")

    class Meta:
        model = pm.Affiliation
        fields = [
            "id",
            "person",
            "organisation",
            "role",
            "title",
            "start_date",
            "end_date",
            "is_primary",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class AffiliationUpdateSerializer(AffiliationSerializer):
    class Meta(AffiliationSerializer.Meta):
        fields = [n for n in AffiliationSerializer.Meta.fields if n not in ("person", "organisation")]


class PersonLinkFilter(TimestampFilterSet):
    person = IdFilter(field_name="person_id")


class AffiliationFilter(PersonLinkFilter):
    organisation = IdFilter(field_name="organisation_id")

    class Meta:
        model = pm.Affiliation
        fields = []


class AffiliationViewSet(Resource):
    """A person's ties to organisations."""

    model = pm.Affiliation
    serializer_class = AffiliationSerializer
    update_serializer_class = AffiliationUpdateSerializer
    filterset_class = AffiliationFilter

    def create_record(self, data):
        person = resolve(pm.Person, self.actor, data.pop("person", None), "person")
        organisation = resolve(pm.Organisation, self.actor, data.pop("organisation", None), "organisation")
        return ps.check_create_affiliation(person, organisation, data=data, actor=self.actor)

    def update_record(self, obj, data):
        ps.check_update_affiliation(obj, changes=data, actor=self.actor)

    def delete_record(self, obj):
        ps.check_delete_affiliation(obj, actor=self.actor)


class RelationshipTypeSerializer(KinfolkSerializer):
    class Meta:
        model = pm.RelationshipType
        fields = ["id", "name", "forward_label", "reverse_label", "is_symmetric", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class RelationshipTypeViewSet(Resource):
    """Kinds of ties between people ('mentor of' / 'mentee of'); administrators change them."""

    model = pm.RelationshipType
    serializer_class = RelationshipTypeSerializer
    ordering_fields = ["id", "name", "created_at", "updated_at"]

    def create_record(self, data):
        return ps.check_create_relationship_type(data=data, actor=self.actor)

    def update_record(self, obj, data):
        ps.check_update_relationship_type(obj, changes=data, actor=self.actor)

    def delete_record(self, obj):
        ps.check_delete_relationship_type(obj, actor=self.actor)


class RelationshipSerializer(KinfolkSerializer):
    from_person = _id("from_person_id")
    to_person = _id("to_person_id")
    type = _id("type_id")

    class Meta:
        model = pm.Relationship
        fields = [
            "id",
            "from_person",
            "to_person",
            "type",
            "start_date",
            "end_date",
            "note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class RelationshipFilter(TimestampFilterSet):
    person = IdFilter(method="filter_person", help_text="Either side of the relationship.")
    type = IdFilter(field_name="type_id")

    class Meta:
        model = pm.Relationship
        fields = []

    def filter_person(self, queryset, name, value):
        return queryset.filter(Q(from_person_id=value) | Q(to_person_id=value))


class RelationshipViewSet(DestroyModelMixin, CreateModelMixin, ReadOnlyResource):
    """Ties between two people."""

    model = pm.Relationship
    serializer_class = RelationshipSerializer
    filterset_class = RelationshipFilter

    def create_record(self, data):
        people = pm.Person.objects.visible_to(self.actor)
        from_person = resolve(
            pm.Person, self.actor, data.pop("from_person", None), "from_person", queryset=people
        )
        to_person = resolve(pm.Person, self.actor, data.pop("to_person", None), "to_person", queryset=people)
        rtype = resolve(pm.RelationshipType, self.actor, data.pop("type", None), "type")
        if from_person.pk == to_person.pk:
            raise ValidationError({"to_person": [_("A relationship needs two different people.")]})
        return ps.check_create_relationship(from_person, to_person, rtype, data=data, actor=self.actor)

    def delete_record(self, obj):
        ps.check_delete_relationship(obj, actor=self.actor)


class HouseholdMemberSerializer(KinfolkSerializer):
    household = _id("household_id")
    person = _id("person_id")
    head = f.StrictBooleanField(
        write_only=True, required=False, help_text="Make them the head of the household."
    )

    class Meta:
        model = pm.HouseholdMember
        fields = ["id", "household", "person", "role", "head", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class HouseholdSerializer(KinfolkSerializer):
    head = _id("head_id", read_only=True, allow_null=True)

    class Meta:
        model = pm.Household
        fields = ["id", "name", "head", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class HouseholdViewSet(CreateModelMixin, ReadOnlyResource):
    """People who share a home; members are added through /household-members/."""

    model = pm.Household
    serializer_class = HouseholdSerializer
    ordering_fields = ["id", "name", "created_at", "updated_at"]

    def create_record(self, data):
        return ps.check_create_household(data=data, actor=self.actor)


class HouseholdMemberFilter(PersonLinkFilter):
    household = IdFilter(field_name="household_id")

    class Meta:
        model = pm.HouseholdMember
        fields = []


class HouseholdMemberViewSet(DestroyModelMixin, CreateModelMixin, ReadOnlyResource):
    """A person's place in a household."""

    model = pm.HouseholdMember
    serializer_class = HouseholdMemberSerializer
    filterset_class = HouseholdMemberFilter

    def create_record(self, data):
        household = resolve(pm.Household, self.actor, data.pop("household", None), "household")
        person = resolve(pm.Person, self.actor, data.pop("person", None), "person")
        unknown = set(data) - {"role", "head"}
        if unknown:
            raise ValidationError({name: [_("Unknown field.")] for name in sorted(unknown)})
        return ps.check_add_household_member(
            household, person, role=data.get("role", ""), head=data.get("head", False), actor=self.actor
        )

    def delete_record(self, obj):
        ps.check_remove_household_member(obj, actor=self.actor)


# ---- tags and lists -------------------------------------------------------------------------------


class TagSerializer(KinfolkSerializer):
    team = _id("team_id", allow_null=True, required=False)

    class Meta:
        model = pm.Tag
        fields = ["id", "name", "team", "color", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class TagFilter(TimestampFilterSet):
    team = IdFilter(field_name="team_id")
    name = django_filters.CharFilter(field_name="name", lookup_expr="iexact")

    class Meta:
        model = pm.Tag
        fields = []


class TagViewSet(DestroyModelMixin, CreateModelMixin, ReadOnlyResource):
    """Tags: global ones (no team) and each team's own."""

    model = pm.Tag
    serializer_class = TagSerializer
    filterset_class = TagFilter
    ordering_fields = ["id", "name", "created_at", "updated_at"]

    def create_record(self, data):
        team = resolve(Team, self.actor, data.pop("team", None), "team", required=False)
        return ps.check_create_tag(data=data, team=team, actor=self.actor)

    def delete_record(self, obj):
        ps.check_delete_tag(obj, actor=self.actor)


class PersonTagSerializer(KinfolkSerializer):
    person = _id("person_id")
    tag = _id("tag_id")
    team = _id("team_id", required=False, help_text="On behalf of which team (default: the tag's team).")

    class Meta:
        model = pm.PersonTag
        fields = ["id", "person", "tag", "team", "created_at"]
        read_only_fields = ["id", "created_at"]


class TaggingFilter(TimestampFilterSet):
    tag = IdFilter(field_name="tag_id")
    team = IdFilter(field_name="team_id")


class PersonTagFilter(TaggingFilter):
    person = IdFilter(field_name="person_id")

    class Meta:
        model = pm.PersonTag
        fields = []


class _TaggingViewSet(DestroyModelMixin, CreateModelMixin, ReadOnlyResource):
    target = None

    def create_record(self, data):
        target = resolve(self.target, self.actor, data.pop(self.link, None), self.link)
        tag = resolve(pm.Tag, self.actor, data.pop("tag", None), "tag")
        team = resolve(Team, self.actor, data.pop("team", None), "team", required=False)
        if data:
            raise ValidationError({name: [_("Unknown field.")] for name in sorted(data)})
        return ps.check_tag(target, tag, team=team or token_team(self.actor), actor=self.actor)

    def delete_record(self, obj):
        ps.check_untag(obj, actor=self.actor)


class PersonTagViewSet(_TaggingViewSet):
    """Tags on people, each applied on behalf of a team."""

    model = pm.PersonTag
    target = pm.Person
    link = "person"
    serializer_class = PersonTagSerializer
    filterset_class = PersonTagFilter


class OrganisationTagSerializer(PersonTagSerializer):
    person = None
    organisation = _id("organisation_id")

    class Meta:
        model = pm.OrganisationTag
        fields = ["id", "organisation", "tag", "team", "created_at"]
        read_only_fields = ["id", "created_at"]


class OrganisationTagFilter(TaggingFilter):
    organisation = IdFilter(field_name="organisation_id")

    class Meta:
        model = pm.OrganisationTag
        fields = []


class OrganisationTagViewSet(_TaggingViewSet):
    """Tags on organisations, each applied on behalf of a team."""

    model = pm.OrganisationTag
    target = pm.Organisation
    link = "organisation"
    serializer_class = OrganisationTagSerializer
    filterset_class = OrganisationTagFilter


class ListSerializer(KinfolkSerializer):
    team = _id("team_id")

    class Meta:
        model = pm.List
        fields = ["id", "team", "name", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class ListUpdateSerializer(ListSerializer):
    class Meta(ListSerializer.Meta):
        fields = ["id", "name", "description", "created_at", "updated_at"]


class ListFilter(TimestampFilterSet):
    team = IdFilter(field_name="team_id")
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains")

    class Meta:
        model = pm.List
        fields = []


class ListViewSet(Resource):
    """Teams' static lists of people; members through /list-memberships/."""

    model = pm.List
    serializer_class = ListSerializer
    update_serializer_class = ListUpdateSerializer
    filterset_class = ListFilter
    ordering_fields = ["id", "name", "created_at", "updated_at"]

    def create_record(self, data):
        team = resolve(Team, self.actor, data.pop("team", None), "team")
        return ps.check_create_list(team=team, data=data, actor=self.actor)

    def update_record(self, obj, data):
        ps.check_update_list(obj, changes=data, actor=self.actor)

    def delete_record(self, obj):
        ps.check_delete_list(obj, actor=self.actor)


class ListMembershipSerializer(KinfolkSerializer):
    list = _id("list_id")
    person = _id("person_id")
    added_by = _id("added_by_id", read_only=True, allow_null=True)

    class Meta:
        model = pm.ListMembership
        fields = ["id", "list", "person", "added_by", "created_at"]
        read_only_fields = ["id", "added_by", "created_at"]


class ListMembershipFilter(PersonLinkFilter):
    list = IdFilter(field_name="list_id")

    class Meta:
        model = pm.ListMembership
        fields = []


class ListMembershipViewSet(DestroyModelMixin, CreateModelMixin, ReadOnlyResource):
    """People on lists."""

    model = pm.ListMembership
    serializer_class = ListMembershipSerializer
    filterset_class = ListMembershipFilter

    def create_record(self, data):
        list_ = resolve(pm.List, self.actor, data.pop("list", None), "list")
        person = resolve(pm.Person, self.actor, data.pop("person", None), "person")
        if data:
            raise ValidationError({name: [_("Unknown field.")] for name in sorted(data)})
        return ps.check_add_to_list(list_, person, actor=self.actor)

    def delete_record(self, obj):
        ps.check_remove_from_list(obj, actor=self.actor)


ROUTES = [
    ("people", PersonViewSet),
    ("email-addresses", _detail_viewset("emails")),
    ("phone-numbers", _detail_viewset("phones")),
    ("postal-addresses", _detail_viewset("addresses")),
    ("social-profiles", _detail_viewset("social_profiles")),
    ("external-ids", _detail_viewset("external_ids")),
    ("organisations", OrganisationViewSet),
    ("affiliations", AffiliationViewSet),
    ("relationship-types", RelationshipTypeViewSet),
    ("relationships", RelationshipViewSet),
    ("households", HouseholdViewSet),
    ("household-members", HouseholdMemberViewSet),
    ("tags", TagViewSet),
    ("person-tags", PersonTagViewSet),
    ("organisation-tags", OrganisationTagViewSet),
    ("lists", ListViewSet),
    ("list-memberships", ListMembershipViewSet),
]
