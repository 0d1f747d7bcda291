"""Base serializers: strict JSON types, ISO codes for countries, and `?fields=` for fewer fields."""

import copy

from django.utils.translation import gettext as _
from django_countries.fields import CountryField
from rest_framework import exceptions, serializers
from rest_framework.validators import UniqueValidator

from kinfolk.api import fields as f
from kinfolk.core.models import ChangeRecord

_BUILT_FIELDS = {}


class KinfolkSerializer(serializers.ModelSerializer):
    """Output serializer of a record; the same class, with `write`, gates input types for the services."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        serializers.models.CharField: f.StrictCharField,
        serializers.models.TextField: f.StrictCharField,
        serializers.models.URLField: f.StrictCharField,
        serializers.models.EmailField: f.StrictCharField,
        serializers.models.BooleanField: f.StrictBooleanField,
        serializers.models.IntegerField: f.StrictIntegerField,
        serializers.models.BigIntegerField: f.StrictIntegerField,
        serializers.models.PositiveIntegerField: f.StrictIntegerField,
        serializers.models.PositiveSmallIntegerField: f.StrictIntegerField,
        serializers.models.DateField: f.StrictDateField,
        serializers.models.DateTimeField: f.StrictDateTimeField,
        serializers.models.JSONField: f.StrictObjectField,
        CountryField: f.CountryCodeField,
    }
    serializer_choice_field = f.StrictChoiceField

    def get_fields(self):
        # Building a ModelSerializer's fields walks the model's metadata each time (a third of a
        # GET); the result depends on the class alone, so build once and hand out fresh copies.
        cls = type(self)
        built = _BUILT_FIELDS.get(cls)
        if built is None:
            built = _BUILT_FIELDS[cls] = super().get_fields()
        return copy.deepcopy(built)

    def get_validators(self):
        return []  # a type gate only: the services check uniqueness and every other rule

    def build_standard_field(self, field_name, model_field):
        cls, kwargs = super().build_standard_field(field_name, model_field)
        kwargs["validators"] = [v for v in kwargs.get("validators", []) if not isinstance(v, UniqueValidator)]
        if isinstance(model_field, CountryField):
            return f.CountryCodeField, {
                k: v for k, v in kwargs.items() if k in ("required", "read_only", "allow_null", "help_text")
            }
        if cls is f.StrictChoiceField:
            kwargs.pop("max_length", None)
        return cls, kwargs


def sparse_fields(request, serializer_class):
    """The field names asked for with ?fields=a,b (None: all); unknown names are a 400."""
    raw = request.query_params.get("fields") if request is not None else None
    if raw is None:
        return None
    wanted = [name.strip() for name in raw.split(",") if name.strip()]
    known = set(serializer_class().fields)
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        raise exceptions.ValidationError(
            {
                "fields": [
                    _("Unknown field(s) %(names)s; expected a comma-separated list of: %(known)s.")
                    % {"names": ", ".join(unknown) or "''", "known": ", ".join(sorted(known))}
                ]
            }
        )
    return wanted


def trim(data, wanted):
    return data if wanted is None else {k: v for k, v in data.items() if k in wanted}


class ChangeRecordSerializer(serializers.ModelSerializer):
    """One entry of a record's history: who, through what, when, and the before/after of each field."""

    object_type = serializers.SerializerMethodField()

    class Meta:
        model = ChangeRecord
        fields = [
            "id",
            "time",
            "action",
            "actor_label",
            "user",
            "source",
            "via",
            "request_id",
            "object_type",
            "object_id",
            "object_repr",
            "changes",
        ]
        read_only_fields = fields

    def get_object_type(self, record) -> str:
        return f"{record.object_type.app_label}.{record.object_type.model}"


class ChangeRecordPageSerializer(serializers.Serializer):
    """One page of a history: `next`/`previous` are the URLs of the neighbouring pages, or null."""

    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ChangeRecordSerializer(many=True)
