"""Shared filters: ids, created/updated ranges; every filter runs on an already visible queryset."""

import datetime

import django_filters
from django import forms
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions

MAX_ID = 2**63 - 1


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """A record id (a whole number); anything else is a 400."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time, compared in UTC (PostgreSQL refuses offsets beyond ±15:59)."""

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(datetime.UTC)
            except OverflowError as exc:
                raise exceptions.ValidationError(
                    {self.field_name: [_("This date-time is out of range.")]}
                ) from exc
        return super().filter(qs, value)


class TimestampFilterSet(django_filters.FilterSet):
    """created_after / created_before / updated_after / updated_before (ISO 8601 date-times)."""

    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    updated_before = UtcDateTimeFilter(field_name="updated_at", lookup_expr="lt")

    @property
    def actor(self):
        return self.request.user


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, except that an empty value for a non-text filter (`?tag=`) is a 400, not "no filter"."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            empty = [
                name
                for name, flt in filterset_class.base_filters.items()
                if request.query_params.get(name) == "" and not isinstance(flt, django_filters.CharFilter)
            ]
            if empty:
                raise exceptions.ValidationError(
                    {name: [_("Give a value, or leave the parameter out.")] for name in empty}
                )
            names = tuple(filterset_class.base_filters)  # a widget's parameters start with its filter's name
            if not any(key.startswith(names) for key in request.query_params):
                # Without a value every filter leaves the queryset as it is: skip building the form that
                # would find that out (a tenth of a list request)
                return queryset
        return super().filter_queryset(request, queryset, view)
