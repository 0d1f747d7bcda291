"""Suggested column mappings, date reading, and reading one row with a mapping."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from kinfolk.imports.mapping import RowReader, check_mapping, parse_date, split_values, suggest_mapping


def test_suggestions_from_outlook_headers():
    columns = [
        "Title",
        "First Name",
        "Last Name",
        "E-mail Address",
        "E-mail 2 Address",
        "Mobile Phone",
        "Business Phone",
        "Company",
        "Job Title",
        "Categories",
        "Birthday",
        "Notes",
    ]
    assert suggest_mapping(columns) == {
        "Title": "prefix",
        "First Name": "given_name",
        "Last Name": "family_name",
        "E-mail Address": "email",
        "E-mail 2 Address": "email_2",
        "Mobile Phone": "phone_mobile",
        "Business Phone": "phone_work",
        "Company": "organisation",
        "Job Title": "title",
        "Categories": "tags",
        "Birthday": "birth_date",
        "Notes": "addressing_notes",
    }


def test_suggestions_in_german_french_and_spanish():
    assert suggest_mapping(["Vorname", "Nachname", "E-Mail", "Handy", "Firma", "Geburtsdatum"]) == {
        "Vorname": "given_name",
        "Nachname": "family_name",
        "E-Mail": "email",
        "Handy": "phone_mobile",
        "Firma": "organisation",
        "Geburtsdatum": "birth_date",
    }
    assert suggest_mapping(["Prénom", "Nom", "Courriel", "Téléphone", "Société", "Fonction"]) == {
        "Prénom": "given_name",
        "Nom": "family_name",
        "Courriel": "email",
        "Téléphone": "phone",
        "Société": "organisation",
        "Fonction": "title",
    }
    assert suggest_mapping(["Nombre", "Apellidos", "Correo electrónico", "Móvil"]) == {
        "Nombre": "given_name",
        "Apellidos": "family_name",
        "Correo electrónico": "email",
        "Móvil": "phone_mobile",
    }


def test_suggestions_for_crm_and_newsletter_exports():
    # Mailchimp, Salesforce, HubSpot, Google Contacts
    assert suggest_mapping(["Email Address", "First Name", "Last Name", "TAGS", "LEID"]) == {
        "Email Address": "email",
        "First Name": "given_name",
        "Last Name": "family_name",
        "TAGS": "tags",
        "LEID": "external_id:mailchimp",
    }
    assert suggest_mapping(
        ["Contact ID", "Salutation", "Account Name", "Title", "Mailing City", "Mobile"]
    ) == {
        "Contact ID": "external_id:salesforce",
        "Salutation": "prefix",
        "Account Name": "organisation",
        "Title": "title",
        "Mailing City": "locality",
        "Mobile": "phone_mobile",
    }
    assert suggest_mapping(["Record ID", "Phone Number", "Company Name", "Country/Region"]) == {
        "Record ID": "external_id:hubspot",
        "Phone Number": "phone",
        "Company Name": "organisation",
        "Country/Region": "country",
    }
    assert suggest_mapping(
        [
            "Name",
            "E-mail 1 - Value",
            "E-mail 2 - Value",
            "Phone 1 - Value",
            "Organization 1 - Name",
            "Group Membership",
            "Mystery",
        ]
    ) == {
        "Name": "full_name",
        "E-mail 1 - Value": "email",
        "E-mail 2 - Value": "email_2",
        "Phone 1 - Value": "phone",
        "Organization 1 - Name": "organisation",
        "Group Membership": "tags",
        "Mystery": "ignore",
    }


def test_a_second_email_column_becomes_email_2_and_target_names_map_to_themselves():
    assert suggest_mapping(["email", "Email", "phone", "external_id:crm"]) == {
        "email": "email",
        "Email": "email_2",
        "phone": "phone",
        "external_id:crm": "external_id:crm",
    }


def test_check_mapping_names_unknown_columns_and_fields():
    with pytest.raises(ValidationError) as exc:
        check_mapping({"Nope": "email", "Name": "shoe_size"}, ["Name"])
    assert "No column 'Nope' in the file" in exc.value.message_dict["Nope"][0]
    assert "Unknown field 'shoe_size'" in exc.value.message_dict["Name"][0]


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("1990-03-04", "DMY", datetime.date(1990, 3, 4)),
        ("1990-03-04T00:00:00", "DMY", datetime.date(1990, 3, 4)),
        ("04.03.1990", "DMY", datetime.date(1990, 3, 4)),
        ("04/03/1990", "DMY", datetime.date(1990, 3, 4)),
        ("04/03/1990", "MDY", datetime.date(1990, 4, 3)),
        ("3 March 1990", "DMY", datetime.date(1990, 3, 3)),
        ("3. März 1990", "DMY", datetime.date(1990, 3, 3)),
        ("March 3, 1990", "MDY", datetime.date(1990, 3, 3)),
        ("3 Mar 1990", "MDY", datetime.date(1990, 3, 3)),
        ("19900303", "DMY", datetime.date(1990, 3, 3)),
        ("", "DMY", None),
    ],
)
def test_dates_in_common_formats(text, order, expected):
    assert parse_date(text, order) == expected


@pytest.mark.parametrize("text", ["31.02.1990", "yesterday", "13/13/1990"])
def test_a_bad_date_says_what_was_expected(text):
    with pytest.raises(ValidationError, match="Not a date; expected 1990-03-03"):
        parse_date(text)


def test_several_values_in_one_cell():
    assert split_values("a, b;c | d") == ["a", "b", "c", "d"]
    assert split_values("* myContacts ::: Friends") == ["myContacts", "Friends"]


def test_row_reader_builds_the_payload_with_region_from_the_country_column():
    reader = RowReader(
        {
            "Name": "full_name",
            "Mail": "email",
            "Tel": "phone",
            "Land": "country",
            "Org": "organisation",
            "Id": "external_id:crm",
            "Tags": "tags",
            "Skip": "ignore",
        },
        default_region="US",
    )
    data, extras, problems, origin = reader.read(
        {
            "Name": "Dr. Ada King Lovelace",
            "Mail": "ada@example.org",
            "Tel": "030 1234567",
            "Land": "DE",
            "Org": " Engines  Ltd ",
            "Id": "42",
            "Tags": "a;b",
            "Skip": "x",
        }
    )
    assert problems == []
    assert data == {
        "prefix": "Dr.",
        "given_name": "Ada",
        "middle_name": "King",
        "family_name": "Lovelace",
        "country": "DE",
        "emails": [{"email": "ada@example.org"}],
        "phones": [{"number": "030 1234567", "region": "DE"}],
        "external_ids": [{"system": "crm", "value": "42"}],
    }
    assert extras["organisation"] == "Engines Ltd"
    assert extras["tags"] == ["a", "b"]
    assert origin["emails"] == ["Mail"]


def test_row_reader_takes_back_the_quote_an_export_put_before_a_formula_like_cell():
    reader = RowReader({"Tel": "phone"}, default_region="GB")
    data, *_rest = reader.read({"Tel": "'+44 20 7946 0958"})
    assert data["phones"][0]["number"] == "+44 20 7946 0958"
    data, *_rest = reader.read({"Tel": "'quoted"})
    assert data["phones"][0]["number"] == "'quoted"
