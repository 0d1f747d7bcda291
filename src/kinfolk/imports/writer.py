"""The bulk writer of imports: many new people with their details in a few statements, audited.

It writes what validate_person has already cleaned, so it trusts its input like a `do_*`
service: one ChangeRecord per new person (listing the details it came with), one per
affiliation, tag and list membership, and a `person.created` event after commit.

Rows go to the database as plain tuples through a loader for the vendor (executemany on
SQLite, COPY on PostgreSQL): Django's bulk_create spends most of its time building model
instances and SQL for each row, which at a million rows is most of an import.
"""

import datetime
import functools
import json
from typing import NamedTuple

from django.db import connection, models
from django.utils import timezone

from kinfolk.core.audit import EMPTY_VALUES, _json_value, _without_empty, audited_fields, build_record
from kinfolk.core.context import current_via
from kinfolk.core.events import DERIVED_WRITTEN, Event, announce_on_commit
from kinfolk.core.models import ChangeRecord
from kinfolk.core.services import bulk_record_creates
from kinfolk.identity.matching import blocking_keys
from kinfolk.identity.services import profile_of, profile_row, write_profiles
from kinfolk.people.models import (
    Affiliation,
    EmailAddress,
    ExternalId,
    ListMembership,
    Person,
    PersonTag,
    PhoneNumber,
    PostalAddress,
)
from kinfolk.search.backends import backend as search_backend
from kinfolk.search.index import ENTRY_FIELDS, person_entry_fields
from kinfolk.search.models import SearchEntry

DETAIL_MODELS = {
    "emails": EmailAddress,
    "phones": PhoneNumber,
    "addresses": PostalAddress,
    "external_ids": ExternalId,
}
BATCH = 2000


# ---- vendor loaders -----------------------------------------------------------------------------


class Loader:
    """Loads plain rows into a model's table and hands out primary keys for them in advance."""

    def __init__(self, conn):
        self.connection = conn
        self.now = timezone.now()

    def adapt(self, field, value):
        if value is None:
            return None
        if isinstance(field, models.JSONField):
            return _to_json(value)
        if isinstance(value, datetime.datetime):
            return self.connection.ops.adapt_datetimefield_value(value)
        if isinstance(value, datetime.date):
            return value.isoformat()
        if isinstance(value, models.Model):
            return value.pk
        if hasattr(value, "code"):  # a django-countries Country
            return value.code or ""
        return value

    def insert(self, model, rows, *, with_ids=True):
        """Insert rows ({attname: value}, defaults filled in) in one pass; ids must be set if with_ids."""
        if not rows:
            return
        fields = [f for f in model._meta.concrete_fields if with_ids or not f.primary_key]
        defaults = {}
        for f in fields:
            if f.primary_key:
                continue
            if isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add or f.has_default()):
                defaults[f.attname] = self.now
            elif f.has_default():
                defaults[f.attname] = f.get_default()
            elif f.null:
                defaults[f.attname] = None
            else:
                defaults[f.attname] = "" if f.empty_strings_allowed else None
        # One converter per column, chosen once: the per-cell work is then a dict lookup and maybe one call.
        spec = [(f.attname, self._converter(f), self.adapt(f, defaults.get(f.attname))) for f in fields]
        # Columns that go as they are first (one list comprehension per row), then those converted.
        plain = [
            (f.column, name, default)
            for f, (name, convert, default) in zip(fields, spec, strict=True)
            if not convert
        ]
        converted = [
            (f.column, name, convert, default)
            for f, (name, convert, default) in zip(fields, spec, strict=True)
            if convert
        ]
        missing = object()
        tuples = []
        for row in rows:
            get = row.get
            cells = [get(name, default) for _c, name, default in plain]
            for _c, name, convert, default in converted:
                value = get(name, missing)
                cells.append(default if value is missing else None if value is None else convert(value))
            tuples.append(cells)
        columns = [c[0] for c in plain] + [c[0] for c in converted]
        self._load(model._meta.db_table, columns, tuples)

    def insert_tuples(self, model, columns, tuples):
        """Insert rows given as tuples of database values in the order of `columns` (attnames), as they are.

        For the writers' hottest tables (search entries, matching keys), whose rows have no defaults
        to fill in nor values to convert: no dict per row.
        """
        if tuples:
            names = [model._meta.get_field(c).column if c != "id" else model._meta.pk.column for c in columns]
            self._load(model._meta.db_table, names, tuples)

    def _converter(self, field):
        """How values of this field become database values; None when they go as they are."""
        if isinstance(field, models.JSONField):
            return _to_json
        if isinstance(field, models.ForeignKey):
            return _key_of
        if isinstance(field, models.DateTimeField | models.DateField) or hasattr(field, "countries"):
            return lambda v: self.adapt(field, v)
        return None

    def _load(self, table, columns, tuples):
        raise NotImplementedError


_encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(v, ensure_ascii=False), encoder made once


class Encoded(str):
    """JSON text encoded ahead (by an import's validation workers): loaded as it is."""


def _to_json(value):
    return value if type(value) is Encoded else _encode(value)


def _key_of(value):
    return value.pk if isinstance(value, models.Model) else value


class SQLiteLoader(Loader):
    """executemany of one INSERT; ids follow the table's AUTOINCREMENT sequence (never reused)."""

    def allocate_ids(self, model, n):
        table = model._meta.db_table
        with self.connection.cursor() as cur:
            cur.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            row = cur.fetchone()
            seq = row[0] if row else 0
            cur.execute(f'SELECT COALESCE(MAX("id"), 0) FROM "{table}"')  # noqa: S608 (a model's table name)
            start = max(seq, cur.fetchone()[0]) + 1
        return list(range(start, start + n))

    def _load(self, table, columns, tuples):
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        with self.connection.cursor() as cur:
            # The raw sqlite3 cursor: Django's wrapper would rewrite the query for every row.
            cur.cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', tuples)  # noqa: S608


class PostgresLoader(Loader):
    """COPY FROM STDIN; ids drawn from the table's identity sequence in one round trip."""

    def adapt(self, field, value):
        if isinstance(value, datetime.datetime):
            return value  # psycopg sends timezone-aware datetimes as they are
        return super().adapt(field, value)

    def allocate_ids(self, model, n):
        table = model._meta.db_table
        with self.connection.cursor() as cur:
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, n]
            )
            return [r[0] for r in cur.fetchall()]

    def _load(self, table, columns, tuples):
        names = ", ".join(f'"{c}"' for c in columns)
        with self.connection.cursor() as cur, cur.cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
            for row in tuples:
                copy.write_row(row)


def loader_for(conn=None):
    """The loader for the database in use."""
    conn = conn or connection
    return PostgresLoader(conn) if conn.vendor == "postgresql" else SQLiteLoader(conn)


# ---- audit in bulk ------------------------------------------------------------------------------


class RecordTemplate:
    """ChangeRecords for many created rows of one model: who/where is the same, only the subject differs."""

    def __init__(self, probe, *, actor):
        record = build_record(probe, action=ChangeRecord.Action.CREATE, before={}, after={}, actor=actor)
        self.base = {
            "user_id": record.user_id,
            "actor_label": record.actor_label,
            "source": record.source,
            "via": record.via,
            "request_id": record.request_id,
            "action": record.action,
            "object_type_id": record.object_type_id,
            "team_id": None,
        }

    @staticmethod
    def changes(after):
        """diff({}, _without_empty(after)): what build_record stores for a create, without its comparisons."""
        return {k: {"before": None, "after": v} for k, v in sorted(_without_empty(after).items())}

    def row(self, *, object_id, object_repr, person_id, after=None, changes=None, organisation_id=None):
        """A ChangeRecord row; changes as RecordTemplate.changes(after) gives them, or JSON Encoded ahead."""
        if changes is None:
            changes = self.changes(after)
        return {
            **self.base,
            "object_id": object_id,
            "object_repr": object_repr[:200],
            "person_id": person_id,
            "organisation_id": organisation_id,  # an affiliation is in the organisation's history too
            "changes": changes,
        }


def _detail_summary(kind, item):
    if kind == "emails":
        return item["email"]
    if kind == "phones":
        return item["number"]
    if kind == "external_ids":
        return f"{item['system']}:{item['value']}"
    return ", ".join(str(v) for k, v in item.items() if v and k != "is_primary")


def _primary_first(items):
    """Detail items in the order a person's page and search read them back: the primary one, then as given."""
    if len(items) < 2:
        return items
    order = sorted(range(len(items)), key=lambda i: (not items[i].get("is_primary", i == 0), i))
    return [items[i] for i in order]


@functools.cache
def _blank_person():
    """The audit's reading of a person with every field at its default: ({field: value}, those not empty)."""
    blank = {f.name: _json_value(f.get_default()) for f in audited_fields(Person)}
    return blank, {k: v for k, v in blank.items() if v not in EMPTY_VALUES}


def creation_changes(values, details):
    """The changes of a new person's ChangeRecord, with the details it came with, as JSON text.

    RecordTemplate.changes({**blank person, **values, **detail summaries}), worked out from the
    values given rather than from every field (tests/imports/test_engine.py compares the two).
    """
    blank, after = _blank_person()
    after = dict(after)
    for name, value in values.items():
        if name in blank:
            value = _json_value(value)
            if value in EMPTY_VALUES:
                after.pop(name, None)
            else:
                after[name] = value
    for kind in DETAIL_MODELS:
        items = details.get(kind)
        if items:
            after[kind] = [_detail_summary(kind, item) for item in items]
    return Encoded(_encode({name: {"before": None, "after": after[name]} for name in sorted(after)}))


class Derived(NamedTuple):
    """What bulk_create_people writes of a new person besides its own rows, worked out from its values."""

    entry: tuple  # search.index.entry_fields
    profile: tuple  # its identity.matching.Profile as stored (profile_row)
    keys: tuple  # its blocking keys
    changes: str  # creation_changes, encoded


def derived_rows(values, details):
    """Derived rows of a new person (search entry, matching profile and keys, audit), from what will be written.

    Pure: import workers work it out beside validation, so that the writer stores a person's entry
    and keys in the batch's transaction without reading the person back (search.index.person_entries
    and identity.services.source_profiles give the same from the stored rows; tests compare them).
    """
    emails = [e["email"] for e in _primary_first(details.get("emails") or ())]
    phones = [p["number"] for p in _primary_first(details.get("phones") or ())]
    entry = person_entry_fields(
        values.get("display_name", ""),
        values.get("given_name", ""),
        values.get("middle_name", ""),
        values.get("family_name", ""),
        values.get("preferred_name", ""),
        emails,
        phones,
    )
    profile = profile_of({**values, **details})  # the single check's reading of values about to be saved
    keys = tuple(blocking_keys(profile))
    return Derived(entry, profile_row(profile), keys, creation_changes(values, details))


def bulk_create_people(new_people, *, actor, team=None, derived=None):
    """Create people from [(values, details)]; returns their ids in the same order.

    Their search entries and matching profiles and keys are written too, in the same transaction;
    derived: derived_rows() of each person where the caller has it already (None where not).
    """
    if not new_people:
        return []
    load = loader_for()
    source = current_via().source
    derived = [
        d or derived_rows(values, details)
        for (values, details), d in zip(new_people, derived or [None] * len(new_people), strict=True)
    ]
    ids = load.allocate_ids(Person, len(new_people))
    template = RecordTemplate(Person(pk=ids[0], display_name="-"), actor=actor)
    people, records = [], []
    details_rows = {kind: [] for kind in DETAIL_MODELS}
    detail_ids = {}
    counts = {kind: sum(len(d.get(kind) or ()) for _v, d in new_people) for kind in DETAIL_MODELS}
    for kind, n in counts.items():
        detail_ids[kind] = iter(load.allocate_ids(DETAIL_MODELS[kind], n)) if n else iter(())
    team_id = team.pk if team else None
    for pid, (values, details), known in zip(ids, new_people, derived, strict=True):
        row = {**values, "id": pid}
        people.append(row)
        for kind in DETAIL_MODELS:
            items = details.get(kind)
            if not items:
                continue
            for i, item in enumerate(items):
                detail = {
                    **item,
                    "id": next(detail_ids[kind]),
                    "person_id": pid,
                    "added_by_team_id": team_id,
                    "source": source,
                }
                if kind != "external_ids" and "is_primary" not in item:
                    detail["is_primary"] = i == 0
                details_rows[kind].append(detail)
        records.append(
            template.row(
                object_id=pid,
                object_repr=values.get("display_name") or "",
                person_id=pid,
                changes=known.changes,
            )
        )
    load.insert(Person, people)
    for kind, rows in details_rows.items():
        load.insert(DETAIL_MODELS[kind], rows)
    load.insert(ChangeRecord, records, with_ids=False)
    _write_derived(load, ids, derived)
    _announce_created(ids, actor)
    return ids


def _write_derived(load, ids, derived):
    """The new people's search entries, matching profiles and keys (their events then skip rebuilding them)."""
    entry_ids = load.allocate_ids(SearchEntry, len(ids))
    kind = SearchEntry.Kind.PERSON
    load.insert_tuples(
        SearchEntry,
        ("id", "kind", "object_id", *ENTRY_FIELDS),
        [(entry_id, kind, pid, *d.entry) for pid, entry_id, d in zip(ids, entry_ids, derived, strict=True)],
    )
    document = ENTRY_FIELDS.index("document")
    search_backend().insert(
        (entry_id, d.entry[document]) for entry_id, d in zip(entry_ids, derived, strict=True)
    )
    write_profiles(load, [(pid, d.profile, d.keys) for pid, d in zip(ids, derived, strict=True)])


def _announce_created(ids, actor):
    """person.created for each new person once the batch commits (one dispatch for the whole batch)."""
    via = current_via()
    actor_id = getattr(actor, "pk", None)
    written = {DERIVED_WRITTEN: True}
    announce_on_commit(
        [
            Event(
                type="person.created",
                model="people.person",
                object_id=pid,
                actor_id=actor_id,
                via=via,
                data=written,
            )
            for pid in ids
        ]
    )


def bulk_create_affiliations(affiliations, *, actor):
    """Create affiliations from dicts (person_id, organisation, title, role, is_primary), each audited."""
    if not affiliations:
        return
    load = loader_for()
    ids = load.allocate_ids(Affiliation, len(affiliations))
    first = affiliations[0]
    probe = Affiliation(
        pk=ids[0], person=Person(pk=first["person_id"], display_name="-"), organisation=first["organisation"]
    )
    template = RecordTemplate(probe, actor=actor)
    rows, records = [], []
    for aid, item in zip(ids, affiliations, strict=True):
        org = item["organisation"]
        rows.append(
            {
                "id": aid,
                "person_id": item["person_id"],
                "organisation_id": org.pk,
                "title": item.get("title", ""),
                "role": item.get("role", ""),
                "is_primary": item.get("is_primary", False),
            }
        )
        after = {"organisation": org.pk, "title": item.get("title", ""), "role": item.get("role", "")}
        label = " — ".join(
            p for p in (item.get("person_label", ""), item.get("title") or item.get("role"), org.name) if p
        )
        records.append(
            template.row(
                object_id=aid,
                object_repr=label,
                person_id=item["person_id"],
                after=after,
                organisation_id=org.pk,
            )
        )
    load.insert(Affiliation, rows)
    load.insert(ChangeRecord, records, with_ids=False)


def bulk_link(taggings=(), memberships=(), *, actor):
    """Create person tags and list memberships (unsaved objects), each audited."""
    created = []
    for model, objs in ((PersonTag, taggings), (ListMembership, memberships)):
        objs = list(objs)
        if objs:
            model.objects.bulk_create(objs, batch_size=BATCH)
            created.extend(objs)
    if created:
        bulk_record_creates(created, actor=actor)
    return created
