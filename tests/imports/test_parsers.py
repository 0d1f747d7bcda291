"""Reading files: encodings, delimiters, row numbers, every format, streamed."""

import json

import openpyxl
import pytest
from django.core.exceptions import ValidationError

from kinfolk.imports.parsers import ParsedFile, detect_encoding

ROWS = "Vorname;Nachname;E-Mail\nJürgen;Müller;j@example.org\nRenée;Œuvre;r@example.org\n"


@pytest.mark.parametrize(
    ("encoding", "data", "expected"),
    [
        ("utf-8", ROWS.encode("utf-8"), "utf-8"),
        ("utf-8 with BOM", b"\xef\xbb\xbf" + ROWS.encode("utf-8"), "utf-8-sig"),
        ("utf-16 with BOM", ROWS.encode("utf-16"), "utf-16"),
        ("windows-1252", ROWS.encode("cp1252"), "cp1252"),
        ("latin-1", ROWS.replace("Œ", "O").encode("latin-1") + b"x\x81\n", "latin-1"),
    ],
)
def test_encoding_is_detected_and_text_reads_back(tmp_path, encoding, data, expected):
    # given a file in one of the encodings spreadsheets write
    path = tmp_path / "people.csv"
    path.write_bytes(data)
    # when it is opened
    parsed = ParsedFile(path)
    rows = list(parsed.rows())
    # then the encoding, header and names come out right
    assert detect_encoding(path) == expected
    assert parsed.columns == ["Vorname", "Nachname", "E-Mail"]
    assert rows[0] == (2, {"Vorname": "Jürgen", "Nachname": "Müller", "E-Mail": "j@example.org"})
    assert rows[1][1]["Vorname"] == "Renée"


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2;3\n", ";"),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        ('"a;x",b,c\n1,2,3\n', ","),
    ],
)
def test_delimiter_is_sniffed_from_the_header(tmp_path, text, delimiter):
    path = tmp_path / "f.csv"
    path.write_text(text)
    parsed = ParsedFile(path)
    assert parsed.delimiter == delimiter
    assert len(parsed.columns) == 3


def test_row_numbers_are_the_lines_a_user_sees_and_blank_rows_are_skipped(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text('name,note\nAda,"two\nlines"\n,\nBob,x\n')
    rows = list(ParsedFile(path).rows())
    assert [n for n, _row in rows] == [3, 5]
    assert rows[0][1] == {"name": "Ada", "note": "two\nlines"}


def test_rows_resume_after_a_row_number(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("name\n" + "".join(f"p{i}\n" for i in range(10)))
    assert [n for n, _r in ParsedFile(path).rows(start_after=7)] == [8, 9, 10, 11]


def test_short_and_long_rows_keep_their_cells(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a,b\n1\n1,2,3\n")
    rows = [r for _n, r in ParsedFile(path).rows()]
    assert rows[0] == {"a": "1", "b": ""}
    assert rows[1]["(extra cells)"] == "3"


def test_repeated_and_blank_headers_get_distinct_names(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("Email,Email,\nx,y,z\n")
    assert ParsedFile(path).columns == ["Email", "Email (2)", "column 3"]


def test_xlsx_rows_dates_and_numbers_read_as_text(tmp_path):
    import datetime

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Name", "Birthday", "Zip"])
    sheet.append(["Ada", datetime.datetime(1815, 12, 10), 12345])
    sheet.append([None, None, None])
    sheet.append(["Bob", None, 7.5])
    path = tmp_path / "people.xlsx"
    book.save(path)
    parsed = ParsedFile(path)
    assert parsed.format == "xlsx"
    assert parsed.columns == ["Name", "Birthday", "Zip"]
    assert list(parsed.rows()) == [
        (2, {"Name": "Ada", "Birthday": "1815-12-10", "Zip": "12345"}),
        (4, {"Name": "Bob", "Birthday": "", "Zip": "7.5"}),
    ]


def test_a_file_that_is_not_a_workbook_is_named(tmp_path):
    path = tmp_path / "bad.xlsx"
    path.write_text("not a zip")
    with pytest.raises(ValidationError, match="Not a readable XLSX workbook"):
        ParsedFile(path)


VCARD3 = """BEGIN:VCARD
VERSION:3.0
N:Lovelace;Ada;King;Countess;
FN:Ada Lovelace
EMAIL;TYPE=INTERNET:ada@example.org
EMAIL:ada2@example.org
TEL;TYPE=CELL:+44 20 7946 0958
ORG:Analytical Engines
TITLE:Programmer
BDAY:1815-12-10
CATEGORIES:friends,donors
END:VCARD
BEGIN:VCARD
VERSION:4.0
FN:Grace Hopper
N:Hopper;Grace;;;
TEL;VALUE=uri:tel:+1-202-555-0143
BDAY:19061209
END:VCARD
"""


def test_vcard_3_and_4_cards_become_rows(tmp_path):
    path = tmp_path / "contacts.vcf"
    path.write_text(VCARD3)
    rows = list(ParsedFile(path).rows())
    assert [n for n, _r in rows] == [1, 2]
    ada, grace = rows[0][1], rows[1][1]
    assert (ada["given_name"], ada["family_name"], ada["middle_name"], ada["prefix"]) == (
        "Ada",
        "Lovelace",
        "King",
        "Countess",
    )
    assert (ada["email"], ada["email_2"], ada["phone"]) == (
        "ada@example.org",
        "ada2@example.org",
        "+44 20 7946 0958",
    )
    assert (ada["organisation"], ada["title"], ada["tags"], ada["birth_date"]) == (
        "Analytical Engines",
        "Programmer",
        "friends; donors",
        "1815-12-10",
    )
    assert (grace["display_name"], grace["phone"], grace["birth_date"]) == (
        "Grace Hopper",
        "+1-202-555-0143",
        "19061209",
    )


def test_json_lines_rows_and_a_broken_line_is_kept_as_an_error_row(tmp_path):
    path = tmp_path / "people.jsonl"
    path.write_text(
        json.dumps({"given_name": "Ada", "tags": ["a", "b"]})
        + "\n\n{broken\n"
        + json.dumps({"email": "x@example.org"})
        + "\n"
    )
    parsed = ParsedFile(path)
    rows = list(parsed.rows())
    assert parsed.columns == ["given_name", "tags", "email"]
    assert rows[0] == (1, {"given_name": "Ada", "tags": "a; b"})
    assert rows[1][0] == 3 and "__error__" in rows[1][1]
    assert rows[2] == (4, {"email": "x@example.org"})


def test_missing_file_and_unknown_format_are_named(tmp_path):
    with pytest.raises(ValidationError, match="No such file"):
        ParsedFile(tmp_path / "nope.csv")
    (tmp_path / "f.csv").write_text("a\n1\n")
    with pytest.raises(ValidationError, match="Unknown format 'pdf'"):
        ParsedFile(tmp_path / "f.csv", "pdf")


def test_the_number_of_rows_is_estimated_for_the_progress_bar(tmp_path):
    (tmp_path / "a.csv").write_text("name\nA\nB\nC\n")
    (tmp_path / "b.vcf").write_text(VCARD3)
    (tmp_path / "c.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    (tmp_path / "d.csv").write_bytes("name\nA\n".encode("utf-16"))
    book = openpyxl.Workbook()
    for row in (["Name"], ["A"], ["B"]):
        book.active.append(row)
    book.save(tmp_path / "e.xlsx")
    estimates = [
        ParsedFile(tmp_path / n).estimate_rows() for n in ("a.csv", "b.vcf", "c.jsonl", "d.csv", "e.xlsx")
    ]
    assert estimates == [3, 2, 2, None, 2]
