"""Exports: formula neutralising, what a user may see, the audit log, and import of an export."""

import csv
import io
import json

import openpyxl
import pytest
from django.core.exceptions import ValidationError

from kinfolk.access.actors import SYSTEM
from kinfolk.imports.exports import export, neutralise_cell
from kinfolk.imports.models import ExportRun
from kinfolk.people.models import Organisation, Person
from kinfolk.people.services import (
    check_create_affiliation,
    check_create_organisation,
    check_create_tag,
    check_set_restriction,
    check_tag,
)
from tests.conftest import make_person

from .helpers import do_import, people_state

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+44 20 7946 0958", "'+44 20 7946 0958"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=cmd", "'\t=cmd"),
        ("\rx", "'\rx"),
        ("  =HYPERLINK()", "'  =HYPERLINK()"),
        ("\x00\x1f=evil", "'\x00\x1f=evil"),
        ("Ada", "Ada"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_cells_a_spreadsheet_would_run_are_neutralised(value, expected):
    assert neutralise_cell(value) == expected


def _read(kind="people", fmt="csv", actor=SYSTEM, **filters):
    _content_type, _name, chunks = export(actor, kind=kind, fmt=fmt, filters=filters)
    return b"".join(chunks)


def test_csv_and_xlsx_exports_neutralise_formulas_with_the_same_helper(tmp_path):
    make_person(
        given_name='=HYPERLINK("http://x")', family_name="@evil", phones=[{"number": "+442079460958"}]
    )
    rows = list(csv.DictReader(io.StringIO(_read(fmt="csv").decode("utf-8-sig"))))
    assert (rows[0]["given_name"], rows[0]["family_name"], rows[0]["phone"]) == (
        '\'=HYPERLINK("http://x")',
        "'@evil",
        "'+442079460958",
    )
    path = tmp_path / "x.xlsx"
    path.write_bytes(_read(fmt="xlsx"))
    sheet = openpyxl.load_workbook(path).active
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("given_name") + 1)
    assert (cell.value, cell.data_type) == ('\'=HYPERLINK("http://x")', "s")


def test_an_export_holds_only_what_the_user_may_see_and_is_logged(users, team_a):
    make_person(given_name="Open")
    hidden = make_person(given_name="Hidden")
    check_set_restriction(hidden, team_ids=[team_a.pk], actor=SYSTEM)
    names_b = [
        r["given_name"]
        for r in csv.DictReader(io.StringIO(_read(actor=users["b_member"]).decode("utf-8-sig")))
    ]
    names_a = [
        r["given_name"]
        for r in csv.DictReader(io.StringIO(_read(actor=users["a_viewer"]).decode("utf-8-sig")))
    ]
    assert names_b == ["Open"]
    assert names_a == ["Open", "Hidden"]
    log = ExportRun.objects.order_by("id").first()
    assert (log.user, log.kind, log.format, log.rows, log.source) == (
        users["b_member"],
        "people",
        "csv",
        1,
        "shell",
    )


def test_filters_and_organisation_export():
    make_person(given_name="Ada", family_name="Lovelace")
    make_person(given_name="Bob", family_name="Builder")
    rows = [json.loads(line) for line in _read(fmt="jsonl", search="love").splitlines()]
    assert [r["given_name"] for r in rows] == ["Ada"]
    check_create_organisation(data={"name": "=Engines", "domains": ["engines.example"]}, actor=SYSTEM)
    orgs = list(csv.DictReader(io.StringIO(_read(kind="organisations").decode("utf-8-sig"))))
    assert [(o["name"], o["domains"]) for o in orgs] == [("'=Engines", "engines.example")]
    with pytest.raises(ValidationError):
        _read(fmt="pdf")


def _some_people(team):
    engines = check_create_organisation(data={"name": "Analytical Engines"}, actor=SYSTEM)
    donor = check_create_tag(data={"name": "donor"}, team=team, actor=SYSTEM)
    ada = make_person(
        given_name="Ada",
        family_name="Lovelace",
        prefix="Countess",
        birth_date="1815-12-10",
        country="GB",
        language="en-GB",
        emails=[{"email": "ada@example.org"}, {"email": "ada@engines.example"}],
        phones=[{"number": "+442079460958"}, {"number": "+4930123456"}],
        external_ids=[{"system": "crm", "value": "A-1"}],
    )
    check_create_affiliation(ada, engines, data={"title": "Programmer"}, actor=SYSTEM)
    check_tag(ada, donor, team=team, actor=SYSTEM)
    make_person(
        given_name="Grace", family_name="Hopper", middle_name="Brewster", emails=[{"email": "g@example.org"}]
    )
    make_person(given_name="=cmd|' /C calc'!A0", family_name="Formula", phones=[{"number": "+12025550143"}])


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl", "vcard"])
def test_importing_an_export_gives_back_the_same_people(tmp_path, team_a, fmt):
    # given people with details, an organisation, tags and an id
    _some_people(team_a)
    before = people_state()
    path = tmp_path / f"export.{ {'vcard': 'vcf'}.get(fmt, fmt) }"
    path.write_bytes(_read(fmt=fmt))
    # when the same people are imported into an empty organisation
    Person.objects.all().delete()
    Organisation.objects.all().delete()
    run = do_import(path, team=team_a)
    # then they are the same people (vCard carries no country or external ids)
    assert run.summary() == {"created": 3, "updated": 0, "skipped": 0, "rejected": 0, "flagged": 0}

    def comparable(state):
        return [(*p[:4], *p[5:9]) for p in state] if fmt == "vcard" else state

    assert comparable(people_state()) == comparable(before)
    # and importing the export again matches everyone and changes nothing
    again = do_import(path, team=team_a)
    assert again.summary() == {"created": 0, "updated": 3, "skipped": 0, "rejected": 0, "flagged": 0}
    assert comparable(people_state()) == comparable(before)
