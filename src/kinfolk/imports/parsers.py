"""Streamed readers for import files: CSV/TSV, XLSX, vCard and JSON Lines.

Every reader yields (row number, {column: text}) one row at a time, so memory stays
bounded whatever the file size. Row numbers are the ones a user sees: in a
spreadsheet the header is row 1 and the first person row 2; in vCard the n-th card;
in JSON Lines the line number.
"""

import codecs
import csv
import datetime
import io
import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

FORMATS = ("csv", "xlsx", "vcard", "jsonl")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".vcf": "vcard",
    ".vcard": "vcard",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Bytes that Windows-1252 leaves undefined: a file containing them is Latin-1.
_CP1252_HOLES = frozenset(b"\x81\x8d\x8f\x90\x9d")
_CHUNK = 1 << 20
csv.field_size_limit(1 << 24)


def detect_format(path, given=None):
    """The format named by the user, else the one its extension says, else CSV."""
    if given:
        if given not in FORMATS:
            raise ValidationError(
                _("Unknown format %(format)r; expected one of %(formats)s.")
                % {"format": given, "formats": ", ".join(FORMATS)}
            )
        return given
    return _EXTENSIONS.get(Path(path).suffix.lower(), "csv")


def detect_encoding(path):
    """The text encoding of a file: from its byte-order mark, else UTF-8 if it all decodes, else 1252/Latin-1."""
    with open(path, "rb") as f:
        head = f.read(4)
        for bom, name in _BOMS:
            if head.startswith(bom):
                return name
        f.seek(0)
        sample = f.read(4096)
        # UTF-16 without a mark: every other byte of ASCII text is zero.
        if len(sample) >= 4 and sample[1::2].count(0) > len(sample) // 4:
            return "utf-16-le"
        if len(sample) >= 4 and sample[0::2].count(0) > len(sample) // 4:
            return "utf-16-be"
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        holes = False
        try:
            while chunk := f.read(_CHUNK):
                holes = holes or not _CP1252_HOLES.isdisjoint(chunk)
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
        if not holes:
            while chunk := f.read(_CHUNK):
                if not _CP1252_HOLES.isdisjoint(chunk):
                    return "latin-1"
            return "cp1252"
        return "latin-1"


def sniff_delimiter(first_line, path=""):
    """The delimiter of a CSV file, read from its header line: tab, semicolon, pipe or comma."""
    if Path(path).suffix.lower() in (".tsv", ".tab"):
        return "\t"
    counts = {d: _count_outside_quotes(first_line, d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _count_outside_quotes(line, delimiter):
    count, quoted = 0, False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            count += 1
    return count


class ParsedFile:
    """An open import file: its columns (as far as known before reading) and its rows, streamed."""

    def __init__(self, path, fmt=None):
        self.path = Path(path)
        if not self.path.is_file():
            raise ValidationError(_("No such file: %(path)s") % {"path": path})
        self.format = detect_format(path, fmt)
        self.encoding = None
        self.delimiter = None
        self.columns = self._columns()

    def _columns(self):
        if self.format == "csv":
            self.encoding = detect_encoding(self.path)
            with open(self.path, encoding=self.encoding, newline="") as f:
                first = f.readline()
            self.delimiter = sniff_delimiter(first, self.path)
            header = next(csv.reader([first], delimiter=self.delimiter), [])
            return _unique_columns(header)
        if self.format == "xlsx":
            return _unique_columns(next(self._xlsx_rows(), (None, []))[1])
        if self.format == "vcard":
            return list(VCARD_COLUMNS)
        return _jsonl_columns(self.path)

    def estimate_rows(self):
        """About how many rows the file has, for a progress bar (lines, cards or the sheet's size)."""
        if self.format == "xlsx":
            import openpyxl

            book = openpyxl.load_workbook(self.path, read_only=True)
            try:
                return max((book.worksheets[0].max_row or 1) - 1, 0)
            finally:
                book.close()
        if (self.encoding or detect_encoding(self.path)).startswith(("utf-16", "utf-32")):
            return None  # counting bytes would need the decoder; the bar then just moves
        marker = b"BEGIN:VCARD" if self.format == "vcard" else b"\n"
        count = 0
        with open(self.path, "rb") as f:
            while chunk := f.read(_CHUNK):
                count += chunk.upper().count(marker) if self.format == "vcard" else chunk.count(marker)
        return max(count - (1 if self.format == "csv" else 0), 0)

    def rows(self, start_after=0):
        """(row number, {column: text}) for every non-empty row after `start_after`."""
        if self.format == "csv":
            source = self._csv_rows()
        elif self.format == "xlsx":
            source = self._xlsx_dict_rows()
        elif self.format == "vcard":
            source = _vcard_rows(self.path)
        else:
            source = _jsonl_rows(self.path)
        for number, row in source:
            if number > start_after and any(v not in (None, "") for v in row.values()):
                yield number, row

    def _csv_rows(self):
        columns = self.columns
        width = len(columns)
        with open(self.path, encoding=self.encoding, newline="", errors="replace") as f:
            reader = csv.reader(f, delimiter=self.delimiter)
            next(reader, None)
            for cells in reader:
                number = reader.line_num  # the physical line the record ended on
                if len(cells) < width:
                    cells = cells + [""] * (width - len(cells))
                row = dict(zip(columns, cells, strict=False))
                if len(cells) > width:
                    row[_("(extra cells)")] = ",".join(cells[width:])
                yield number, row

    def _xlsx_rows(self):
        import openpyxl

        try:
            book = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
            raise ValidationError(_("Not a readable XLSX workbook (%(reason)s).") % {"reason": exc}) from exc
        try:
            sheet = book.worksheets[0]
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, [_cell_text(v) for v in values]
        finally:
            book.close()

    def _xlsx_dict_rows(self):
        columns = self.columns
        rows = self._xlsx_rows()
        next(rows, None)
        for number, cells in rows:
            yield number, dict(zip(columns, cells, strict=False))


def _cell_text(value):
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unique_columns(header):
    """Header cells as column names; blanks and repeats get a number so every column keeps its name."""
    seen = {}
    columns = []
    for i, cell in enumerate(header, start=1):
        name = (cell or "").strip().lstrip("\ufeff") or _("column %(n)d") % {"n": i}
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        columns.append(name)
    return columns


# ---- JSON Lines ---------------------------------------------------------------------------------


def _jsonl_columns(path, sample_lines=1000):
    columns = {}
    for _number, row in _islice(_jsonl_rows(path, strict=False), sample_lines):
        columns.update(dict.fromkeys(row))
    return list(columns)


def _islice(iterable, n):
    for i, item in enumerate(iterable):
        if i >= n:
            return
        yield item


def _jsonl_rows(path, strict=True):
    encoding = detect_encoding(path)
    with open(path, encoding=encoding) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                if strict:
                    yield number, {_("(unreadable line)"): line.rstrip("\n")[:500], "__error__": str(exc)}
                continue
            if not isinstance(obj, dict):
                if strict:
                    yield (
                        number,
                        {_("(unreadable line)"): line.rstrip("\n")[:500], "__error__": "not an object"},
                    )
                continue
            yield number, {str(k): _json_cell(v) for k, v in obj.items()}


def _json_cell(value):
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_json_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---- vCard --------------------------------------------------------------------------------------

VCARD_COLUMNS = (
    "prefix",
    "given_name",
    "middle_name",
    "family_name",
    "suffix",
    "display_name",
    "preferred_name",
    "email",
    "email_2",
    "email_3",
    "phone",
    "phone_2",
    "phone_3",
    "organisation",
    "title",
    "role",
    "birth_date",
    "language",
    "time_zone",
    "tags",
    "street",
    "locality",
    "region",
    "postal_code",
    "address_country",
    "external_id:vcard",
)


def _vcard_rows(path):
    """One row per card; cards are read one at a time from the text stream."""
    encoding = detect_encoding(path)
    with open(path, encoding=encoding, newline="") as f:
        for number, block in enumerate(_vcard_blocks(f), start=1):
            yield number, _vcard_to_row(block)


def _vcard_blocks(stream):
    lines = []
    for line in stream:
        if line.strip().upper() == "BEGIN:VCARD":
            lines = [line]
        elif lines:
            lines.append(line)
            if line.strip().upper() == "END:VCARD":
                yield "".join(lines)
                lines = []


def _vcard_to_row(text):
    import vobject

    try:
        card = vobject.readOne(io.StringIO(text), ignoreUnreadable=True)
    except Exception as exc:  # vobject raises bare ParseError/Exception subclasses
        return {"__error__": _("Unreadable vCard: %(reason)s") % {"reason": exc}}
    row = dict.fromkeys(VCARD_COLUMNS, "")
    contents = card.contents
    if "n" in contents:
        n = contents["n"][0].value
        row.update(
            prefix=_join(n.prefix),
            given_name=_join(n.given),
            middle_name=_join(n.additional),
            family_name=_join(n.family),
            suffix=_join(n.suffix),
        )
    if "fn" in contents:
        row["display_name"] = contents["fn"][0].value
    if "nickname" in contents:
        row["preferred_name"] = contents["nickname"][0].value
    for i, item in enumerate(contents.get("email", [])[:3]):
        row["email" if i == 0 else f"email_{i + 1}"] = item.value
    for i, item in enumerate(contents.get("tel", [])[:3]):
        value = item.value
        row["phone" if i == 0 else f"phone_{i + 1}"] = (
            value[4:] if value.lower().startswith("tel:") else value
        )
    if "org" in contents:
        org = contents["org"][0].value
        row["organisation"] = org[0] if isinstance(org, list) and org else str(org)
    for key, column in (("title", "title"), ("role", "role"), ("bday", "birth_date"), ("lang", "language")):
        if key in contents:
            row[column] = str(contents[key][0].value)
    if "tz" in contents:
        row["time_zone"] = str(contents["tz"][0].value)
    if "categories" in contents:
        cats = contents["categories"][0].value
        row["tags"] = "; ".join(cats) if isinstance(cats, list) else str(cats)
    if "adr" in contents:
        adr = contents["adr"][0].value
        row.update(
            street=_join(adr.street),
            locality=_join(adr.city),
            region=_join(adr.region),
            postal_code=_join(adr.code),
            address_country=_join(adr.country),
        )
    if "uid" in contents:
        row["external_id:vcard"] = contents["uid"][0].value
    return row


def _join(value):
    if isinstance(value, list | tuple):
        return " ".join(v for v in value if v)
    return value or ""
