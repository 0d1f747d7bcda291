"""The serializers' fast path gives exactly what DRF's fields give."""

import copy
import datetime
import zoneinfo

import pytest
from django.utils import timezone
from django_countries.fields import Country
from rest_framework import serializers

from kinfolk.api import fields as f
from kinfolk.api.serializers import _fast

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
WHEN = datetime.datetime(2026, 3, 29, 0, 30, 15, 123456)

CASES = [
    (f.StrictCharField(), ["Ada", "", "Zoë 🌍", 12, 1.5]),
    (serializers.CharField(), ["x", 3]),
    (f.StrictIntegerField(), [0, 7, -3, 2**40, True, "12"]),
    (serializers.BigIntegerField(), [0, 7, 2**62, "12"]),
    (f.StrictObjectField(), [{}, {"a": [1, None]}, [1], "x"]),
    (f.StrictBooleanField(), [True, False, 1, 0, "true", "no"]),
    (f.StrictChoiceField(choices=[("note", "Note"), (1, "One")]), ["note", "other", 1, "1", ""]),
    (f.StrictDateField(), [datetime.date(2026, 11, 24), "2026-11-24"]),
    (
        f.StrictDateTimeField(),
        [
            WHEN.replace(tzinfo=datetime.UTC),
            WHEN.replace(tzinfo=zoneinfo.ZoneInfo("UTC")),  # as psycopg gives them
            WHEN.replace(tzinfo=datetime.UTC, microsecond=0),
            WHEN.replace(tzinfo=BERLIN),
            WHEN.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
            WHEN,  # naive: made aware in the current time zone, as DRF does
            "2026-11-24T10:00:00Z",
        ],
    ),
    (serializers.ReadOnlyField(), [1, "x", [1, 2], {"a": 1}]),
]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kolkata"])
@pytest.mark.parametrize(("field", "values"), CASES, ids=lambda x: type(x).__name__)
def test_fast_representation_equals_the_fields_own(field, values, zone):
    field = copy.deepcopy(field)
    field.bind("value", serializers.Serializer())
    attribute, convert, stored = _fast(field)
    assert attribute == "value"
    assert stored is False
    with timezone.override(zone):
        for value in values:
            assert convert(value, timezone.get_current_timezone()) == field.to_representation(value), value


def test_fields_that_need_more_than_one_attribute_keep_the_slow_path():
    for field in (
        serializers.CharField(source="person.display_name"),
        serializers.DateTimeField(format="%Y"),
        serializers.SerializerMethodField(),
    ):
        field.bind("value", serializers.Serializer())
        assert _fast(field) is None, field


def test_fast_country_reads_the_stored_code_as_the_descriptor_would_give_it():
    # a model's country descriptor wraps the stored code in a Country (alpha-3 and numeric codes
    # become alpha-2); the fast path reads the stored code and must give the same
    field = f.CountryCodeField()
    field.bind("country", serializers.Serializer())
    attribute, convert, stored = _fast(field)
    assert (attribute, stored) == ("country", True)
    for code in ["DE", "", "GB", "DEU", "276", "XX", "gb", "Q"]:
        assert convert(code, None) == field.to_representation(Country(code=code)), code


@pytest.mark.django_db
@pytest.mark.parametrize("zones", [("UTC", "Europe/Berlin"), ("Asia/Kolkata", "UTC")])
def test_nested_records_are_rendered_as_on_their_own_in_the_current_time_zone(zones):
    # given a person with details, rendered first in one time zone (a process's first request)
    from kinfolk.people.api import PersonSerializer, _nested
    from kinfolk.people.models import EmailAddress, PostalAddress
    from tests.conftest import make_person

    person = make_person(
        emails=[{"email": "tz1@example.org"}, {"email": "tz2@example.org"}],
        addresses=[{"locality": "Leeds", "country": "GB"}],
    )
    for zone in zones:
        # when it is rendered in another
        with timezone.override(zone):
            data = PersonSerializer(person).data
            emails = [_nested("emails")(e).data for e in EmailAddress.objects.filter(person=person)]
            addresses = [_nested("addresses")(a).data for a in PostalAddress.objects.filter(person=person)]
            first = serializers.DateTimeField().to_representation(
                EmailAddress.objects.get(email="tz1@example.org").created_at
            )
        # then its details are what their own serializers (and DRF's field) give in that zone
        assert data["emails"] == emails
        assert data["addresses"] == addresses
        assert data["emails"][0]["created_at"] == first
