"""Base serializers: strict JSON types, ISO codes for countries, and `?fields=` for fewer fields."""

import copy
import datetime
import zoneinfo
from collections.abc import Mapping

from django.conf import settings
from django.db.models.manager import BaseManager
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries.fields import Country, CountryField
from rest_framework import ISO_8601, exceptions, serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings
from rest_framework.validators import UniqueValidator

from kinfolk.api import fields as f
from kinfolk.core.models import ChangeRecord

_BUILT_FIELDS = {}
_READ_PLANS = {}
_FIELD_NAMES = {}
_MISSING = object()


def _read_plan(cls):
    """The readable fields of a serializer class, bound once to a template instance:
    [(name, attribute, convert, stored, field, method)].

    A field's to_representation depends on its class and arguments alone (the time zone it
    converts to is read when called), so one bound set serves every instance; method fields
    are called on the instance being rendered so that they see its context. For the plain field
    types (_fast), `attribute` is read directly (the value stored on the instance when `stored`,
    past the model's descriptor) and `convert` gives what the field's to_representation gives
    (tests/api/test_serializers.py holds them equal); for the others the three are None.
    """
    plan = _READ_PLANS.get(cls)
    if plan is None:
        template = cls(context={})
        template._kinfolk_template = True
        plan = _READ_PLANS[cls] = [
            (
                field.field_name,
                *(_fast(field) or (None, None, None)),
                field,
                field.method_name if isinstance(field, serializers.SerializerMethodField) else None,
            )
            for field in template._readable_fields
        ]
    return plan


def _as_is(value, tz):
    return value


def _as_str(value, tz):
    return value if type(value) is str else str(value)


def _as_int(value, tz):
    return value if type(value) is int else int(value)


def _as_date(value, tz):
    return value if isinstance(value, str) else value.isoformat()


def _as_country(value, tz):
    """A country field's stored code as CountryCodeField gives it (django-countries' Country.code)."""
    if value == "" or (len(value) == 2 and value.isupper()):
        return value
    return Country(code=value).code


# UTC as values read from the databases carry it, and as the current time zone is by default
_UTC = (datetime.UTC, zoneinfo.ZoneInfo("UTC"))


def _as_datetime(value, tz):
    """DRF's ISO 8601 form in the current time zone, 'Z' for UTC (DateTimeField.to_representation)."""
    if isinstance(value, str):
        return value
    if value.tzinfo in _UTC and tz in _UTC:  # the usual case: converting would change nothing
        # value.isoformat() with 'Z' for its '+00:00', made from its parts in two thirds of the time
        return f"{value.date().isoformat()}T{value.time().isoformat()}Z"
    if tz is None:
        value = timezone.make_naive(value, datetime.UTC) if timezone.is_aware(value) else value
    elif timezone.is_aware(value):
        value = value.astimezone(tz)
    else:
        value = timezone.make_aware(value, tz)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _fast(field):
    """(attribute, convert, stored) for a field that reads one attribute and needs only convert, else None."""
    if (
        field.source == "*"
        or len(field.source_attrs) != 1
        or isinstance(field, serializers.SerializerMethodField)
    ):
        return None
    kind = type(field)
    if kind in (f.StrictCharField, serializers.CharField):
        convert = _as_str
    elif kind in (f.StrictIntegerField, serializers.IntegerField):
        convert = _as_int
    elif kind is serializers.BigIntegerField:  # a model's BigAutoField id
        if getattr(field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING):
            return None
        convert = _as_int
    elif kind in (f.StrictBooleanField, serializers.BooleanField):
        own = field.to_representation

        def convert(value, tz):
            return value if type(value) is bool else own(value)
    elif kind in (f.StrictChoiceField, serializers.ChoiceField):
        choices = field.choice_strings_to_values

        def convert(value, tz):
            return value if value == "" else choices.get(str(value), value)
    elif kind in (f.StrictDateTimeField, serializers.DateTimeField):
        if getattr(field, "format", api_settings.DATETIME_FORMAT) != ISO_8601 or hasattr(field, "timezone"):
            return None
        convert = _as_datetime
    elif kind in (f.StrictDateField, serializers.DateField):
        if getattr(field, "format", api_settings.DATE_FORMAT) != ISO_8601:
            return None
        convert = _as_date
    elif kind is serializers.ReadOnlyField:
        convert = _as_is
    elif kind in (f.StrictObjectField, serializers.JSONField):
        if field.binary:
            return None
        convert = _as_is
    elif kind is f.CountryCodeField:
        # the descriptor makes a Country object (a lookup of the code) on every read: read the code
        return field.source_attrs[0], _as_country, True
    elif (
        kind is serializers.ListSerializer
        and type(field.child).to_representation is KinfolkSerializer.to_representation
    ):
        # Nested records (many=True): ListSerializer.to_representation, each record rendered in the time
        # zone of the rendering that contains them
        render = field.child._render

        def convert(value, tz):
            return [render(item, tz) for item in (value.all() if isinstance(value, BaseManager) else value)]
    else:
        return None
    return field.source_attrs[0], convert, False


def read_attributes(cls):
    """The attributes a serializer class reads of a record, or None if a field reads more (or the whole)."""
    attributes = tuple(attribute for _name, attribute, *_rest in _read_plan(cls))
    return None if None in attributes else attributes


def field_names(cls):
    """Every field name of a serializer class (readable or not), computed once."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(cls().fields)
    return names


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

    def to_representation(self, instance):
        return self._render(instance, self._time_zone())

    def _render(self, instance, tz):
        """to_representation with the time zone (None without USE_TZ) given."""
        # DRF's own loop, over fields bound once per class: copying and binding a fresh set of
        # fields for every record (and every nested detail) was most of a GET's serialising time.
        ret = {}
        wanted = self._context.get("fields") if hasattr(self, "_context") else None
        # The fast path reads attributes: not a mapping's keys. Asked once, not per field (an ABC check)
        by_attribute = not isinstance(instance, Mapping)
        stored_values = instance.__dict__ if by_attribute and hasattr(instance, "__dict__") else {}
        for name, attribute, convert, stored, field, method in _read_plan(type(self)):
            if wanted is not None and name not in wanted:
                continue
            if convert is not None and by_attribute:
                if stored:
                    value = stored_values.get(attribute, _MISSING)
                else:
                    value = getattr(instance, attribute, _MISSING)
                if value is not _MISSING:
                    ret[name] = None if value is None else convert(value, tz)
                    continue
            try:
                value = field.get_attribute(instance)
            except SkipField:
                continue
            if (value.pk if isinstance(value, PKOnlyObject) else value) is None:
                ret[name] = None
            elif method is not None:
                ret[name] = getattr(self, method)(value)
            else:
                ret[name] = field.to_representation(value)
        return ret

    def _time_zone(self):
        """The current time zone (None without USE_TZ), read once per rendering: the root keeps it."""
        # Not on _read_plan's templates, which outlive every rendering (their nested serializers kept
        # the zone of a process's first request for all that followed)
        root = self.root
        tz = root.__dict__.get("_kinfolk_time_zone", _MISSING)
        if tz is _MISSING:
            tz = timezone.get_current_timezone() if settings.USE_TZ else None
            if not root.__dict__.get("_kinfolk_template", False):
                root._kinfolk_time_zone = tz
        return tz

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
    known = set(field_names(serializer_class))
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
