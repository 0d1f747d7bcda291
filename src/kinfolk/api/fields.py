"""Serializer fields that accept only the JSON type the schema promises (no "12" for 12, no 1 for true).

The services validate values; these make a type mistake a clear 400 instead of a silent coercion,
so that the OpenAPI schema and the API agree exactly.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": _("Expected a string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": _("Expected a whole number.")}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": _("Expected true or false.")}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictDateField(serializers.DateField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(data)


class StrictDateTimeField(serializers.DateTimeField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", format="ISO 8601")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "description": "ISO 3166 country code, like DE", "example": "DE"})
class CountryCodeField(serializers.Field):
    """A country: read as its ISO code; written as a code or a name ('DE', 'Germany')."""

    default_error_messages = {"invalid": _("Expected a country code or name, like DE or Germany.")}

    def to_representation(self, value):
        return getattr(value, "code", value) or ""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return data


@extend_schema_field(OpenApiTypes.OBJECT)
class StrictObjectField(serializers.JSONField):
    default_error_messages = {"invalid": _("Expected an object.")}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("invalid")
        return data


class StrictListField(serializers.ListField):
    default_error_messages = {"not_a_list": _("Expected a list.")}
