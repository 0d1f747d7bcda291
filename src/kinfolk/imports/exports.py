"""Streamed exports of people and organisations to CSV, XLSX, vCard 4.0 and JSON Lines.

Rows come from `visible_to(actor)` only, are read in chunks (bounded memory), and every
export leaves an ExportRun in the audit log. Cells a spreadsheet would run as a formula
are neutralised by one helper, used by CSV and XLSX alike.
"""

import csv
import json
import re

from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _

from kinfolk.core.audit import actor_user
from kinfolk.core.context import current_via
from kinfolk.imports.models import ExportRun
from kinfolk.people.models import Affiliation, ExternalId, Organisation, Person, PersonTag

EXPORT_FORMATS = ("csv", "xlsx", "vcard", "jsonl")
CHUNK = 2000
# A cell is dangerous if, after any leading spaces or control characters, it starts like a formula.
_FORMULA_START = re.compile(r"^[\s\x00-\x1f]*[=+\-@]|^[\t\r]")


def neutralise_cell(value):
    """A spreadsheet-safe cell: text that a spreadsheet would execute gets a leading apostrophe."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    if value and _FORMULA_START.match(value):
        return "'" + value
    return value


PERSON_FIELDS = (
    "prefix",
    "given_name",
    "middle_name",
    "family_name",
    "suffix",
    "display_name",
    "preferred_name",
    "pronouns",
    "language",
    "time_zone",
    "country",
    "birth_date",
)
ORGANISATION_COLUMNS = ("name", "kind", "website", "domains", "parent", "description", "external_ids")


def people_queryset(actor, *, tag=None, list_name=None, search=None, ids=None):
    """The people an export may contain: visible to the actor, filtered by tag, list, name or chosen ids."""
    qs = Person.objects.visible_to(actor)
    if ids:
        qs = qs.filter(pk__in=ids)
    if tag:
        qs = qs.filter(taggings__tag__name__iexact=tag)
    if list_name:
        qs = qs.filter(list_memberships__list__name__iexact=list_name)
    if search:
        qs = qs.filter(display_name__icontains=search)
    return qs.distinct().order_by("pk")


def organisations_queryset(actor, *, search=None, ids=None):
    """The organisations an export may contain: visible to the actor, filtered by name or chosen ids."""
    qs = Organisation.objects.visible_to(actor)
    if ids:
        qs = qs.filter(pk__in=ids)
    if search:
        qs = qs.filter(name__icontains=search)
    return qs.order_by("pk")


def _max_count(qs, relation):
    return qs.annotate(n=Count(relation)).aggregate(m=Max("n"))["m"] or 0


def person_columns(qs):
    """Columns wide enough for the people in qs: as many email and phone columns as the most has."""
    emails = max(1, _max_count(qs, "emails"))
    phones = max(1, _max_count(qs, "phonenumbers"))
    return [
        *PERSON_FIELDS,
        *["email" if i == 0 else f"email_{i + 1}" for i in range(emails)],
        *["phone" if i == 0 else f"phone_{i + 1}" for i in range(phones)],
        "organisation",
        "title",
        "role",
        "tags",
        "external_ids",
    ]


def _chunked(qs, prefetch):
    last = 0
    while True:
        chunk = list(qs.filter(pk__gt=last).prefetch_related(*prefetch)[:CHUNK])
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].pk


def person_rows(qs, actor):
    """{column: text} for each person, with details, primary affiliation, visible tags and external ids."""
    tags = PersonTag.objects.visible_to(actor).select_related("tag")
    prefetch = (
        "emails",
        "phonenumbers",
        "externalids",
        Prefetch("affiliations", queryset=Affiliation.objects.select_related("organisation")),
        Prefetch("taggings", queryset=tags, to_attr="visible_taggings"),
    )
    for person in _chunked(qs, prefetch):
        row = {f: _text(getattr(person, f)) for f in PERSON_FIELDS}
        for i, email in enumerate(person.emails.all()):
            row["email" if i == 0 else f"email_{i + 1}"] = email.email
        for i, phone in enumerate(person.phonenumbers.all()):
            row["phone" if i == 0 else f"phone_{i + 1}"] = phone.number
        affiliation = next(iter(person.affiliations.all()), None)
        if affiliation:
            row.update(
                organisation=affiliation.organisation.name, title=affiliation.title, role=affiliation.role
            )
        row["tags"] = "; ".join(sorted(t.tag.name for t in person.visible_taggings))
        row["external_ids"] = "; ".join(f"{e.system}:{e.value}" for e in person.externalids.all())
        yield person, row


def organisation_rows(qs, actor):
    ids = ExternalId.objects.filter(organisation__isnull=False)
    for org in _chunked(qs, (Prefetch("externalids", queryset=ids),)):
        yield (
            org,
            {
                "name": org.name,
                "kind": org.kind,
                "website": org.website,
                "domains": "; ".join(org.domains or []),
                "parent": str(org.parent_id or ""),
                "description": org.description,
                "external_ids": "; ".join(f"{e.system}:{e.value}" for e in org.externalids.all()),
            },
        )


def _text(value):
    if value is None:
        return ""
    if hasattr(value, "code"):
        return value.code or ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class _Echo:
    def write(self, value):
        return value


def export(actor, *, kind="people", fmt="csv", filters=None):
    """(content type, file name, iterator of bytes) for a streamed export; the export is logged."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationError(
            {
                "format": [
                    _("Unknown format %(f)r; expected one of %(all)s.")
                    % {"f": fmt, "all": ", ".join(EXPORT_FORMATS)}
                ]
            }
        )
    filters = {k: v for k, v in (filters or {}).items() if v}
    if kind == "people":
        qs = people_queryset(actor, **filters)
        columns = person_columns(qs)
        rows = person_rows(qs, actor)
    elif kind == "organisations":
        if fmt == "vcard":
            raise ValidationError({"format": [_("Organisations export as CSV, XLSX or JSON Lines.")]})
        qs = organisations_queryset(actor, search=filters.get("search"), ids=filters.get("ids"))
        columns = list(ORGANISATION_COLUMNS)
        rows = organisation_rows(qs, actor)
    else:
        raise ValidationError({"kind": [_("Export people or organisations.")]})
    via = current_via()
    log = ExportRun.objects.create(
        user=actor_user(actor),
        actor_label=str(getattr(actor, "username", "") or "system")[:200],
        source=via.source,
        kind=kind,
        format=fmt,
        filters=filters,
    )
    writer = {"csv": _csv, "xlsx": _xlsx, "vcard": _vcard, "jsonl": _jsonl}[fmt]
    content_type = {
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "vcard": "text/vcard; charset=utf-8",
        "jsonl": "application/jsonl; charset=utf-8",
    }[fmt]
    extension = {"csv": "csv", "xlsx": "xlsx", "vcard": "vcf", "jsonl": "jsonl"}[fmt]
    name = f"kinfolk-{kind}-{timezone.now():%Y%m%d-%H%M%S}.{extension}"

    def counted():
        n = 0
        for item in rows:
            n += 1
            yield item
        ExportRun.objects.filter(pk=log.pk).update(rows=n, finished_at=timezone.now())

    return content_type, name, writer(columns, counted())


def _csv(columns, rows):
    writer = csv.writer(_Echo())
    yield ("\ufeff" + writer.writerow(columns)).encode("utf-8")  # the mark tells Excel it is UTF-8
    buffer = []
    for _obj, row in rows:
        buffer.append(writer.writerow([neutralise_cell(row.get(c, "")) for c in columns]))
        if len(buffer) >= 500:
            yield "".join(buffer).encode("utf-8")
            buffer = []
    if buffer:
        yield "".join(buffer).encode("utf-8")


def _jsonl(columns, rows):
    for _obj, row in rows:
        yield (json.dumps({c: row.get(c, "") for c in columns}, ensure_ascii=False) + "\n").encode("utf-8")


def _xlsx(columns, rows):
    import tempfile

    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(columns)
    for _obj, row in rows:
        sheet.append([neutralise_cell(row.get(c, "")) for c in columns])
    with (
        tempfile.TemporaryFile() as f
    ):  # openpyxl writes rows to disk as it goes; the zip is read back in pieces
        book.save(f)
        f.seek(0)
        while chunk := f.read(1 << 16):
            yield chunk


def _vcard_escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")


def _vcard(columns, rows):
    for person, row in rows:
        lines = ["BEGIN:VCARD", "VERSION:4.0"]
        lines.append("FN:" + _vcard_escape(row["display_name"] or str(person)))
        parts = [row["family_name"], row["given_name"], row["middle_name"], row["prefix"], row["suffix"]]
        lines.append("N:" + ";".join(_vcard_escape(p) for p in parts))
        if row["preferred_name"]:
            lines.append("NICKNAME:" + _vcard_escape(row["preferred_name"]))
        for c in columns:
            if c.startswith("email") and row.get(c):
                lines.append("EMAIL:" + _vcard_escape(row[c]))
            if c.startswith("phone") and row.get(c):
                lines.append("TEL;VALUE=uri:tel:" + row[c])
        if row.get("organisation"):
            lines.append("ORG:" + _vcard_escape(row["organisation"]))
        if row.get("title"):
            lines.append("TITLE:" + _vcard_escape(row["title"]))
        if row.get("role"):
            lines.append("ROLE:" + _vcard_escape(row["role"]))
        if row["birth_date"]:
            lines.append("BDAY:" + row["birth_date"].replace("-", ""))
        if row["language"]:
            lines.append("LANG:" + row["language"])
        if row.get("tags"):
            lines.append("CATEGORIES:" + ",".join(_vcard_escape(t) for t in row["tags"].split("; ")))
        lines.append("END:VCARD")
        yield ("\r\n".join(_fold_line(line) for line in lines) + "\r\n").encode("utf-8")


def _fold_line(line, width=75):
    """vCard lines longer than 75 octets continue on the next line after a space."""
    data = line.encode("utf-8")
    if len(data) <= width:
        return line
    out, current = [], ""
    for ch in line:
        if len((current + ch).encode("utf-8")) > (width if not out else width - 1):
            out.append(current)
            current = ""
        current += ch
    out.append(current)
    return "\r\n ".join(out)


def write_export(actor, stream, **kwargs):
    """Write an export to a binary stream (the CLI uses this); returns the ExportRun."""
    _ct, _name, chunks = export(actor, **kwargs)
    for chunk in chunks:
        stream.write(chunk)
    return ExportRun.objects.order_by("-id").first()
