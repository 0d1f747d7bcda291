"""Keeping the search index current: one record at a time from events, or many at once in bulk.

Events arrive in batches (a bulk writer announces thousands at once) and each batch is indexed
in a few set-based queries. Bulk writers that commit many batches (imports, the demo) may also
wrap their work in `bulk_indexing()`: the handlers then only note which records changed, and
the index is brought up to date once, when the block ends. `reindex_all()` rebuilds everything (`kinfolk manage search_reindex`).
"""

import re
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar

import phonenumbers
from django.db import transaction

from kinfolk.core.db import ids_lookup
from kinfolk.identity.normalize import name_key, national_digits
from kinfolk.people.models import EmailAddress, List, Organisation, Person, PhoneNumber
from kinfolk.search.backends import backend
from kinfolk.search.models import SearchEntry

CHUNK = 2000
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
_pending: ContextVar[dict | None] = ContextVar("kinfolk_search_pending", default=None)


def fold(text):
    """Lower-case ASCII form used on both sides of a search: 'Müller' -> 'muller'."""
    return name_key(text or "")


def words_of(text):
    """The folded forms of a text, with the German spelling of umlauts too ('müller' -> 'muller mueller')."""
    plain = fold(text)
    german = fold((text or "").translate(_UMLAUTS))
    return plain if german == plain else f"{plain} {german}"


def _phone_words(number):
    """E.164 digits and the national number, so '0151 …' and '+49151…' both find it."""
    digits = number.lstrip("+")
    national = national_digits(number)
    if national is None:
        try:
            national = str(phonenumbers.parse(number).national_number)
        except phonenumbers.NumberParseException:
            return digits
    return f"{digits} 0{national} {national}"


def entry_fields(title, subtitle, parts):
    """(title, subtitle, document, title_key) of an entry: what SearchEntry stores besides kind and id."""
    document = " ".join(p for p in parts if p)
    return (
        (title or "")[:300],
        (subtitle or "")[:300],
        _SPACE_RUNS.sub(" ", document).strip(),
        fold(title)[:100],
    )


_SPACE_RUNS = re.compile(r"\s+")
ENTRY_FIELDS = ("title", "subtitle", "document", "title_key")


def _entry(kind, object_id, title, subtitle, parts):
    return SearchEntry(
        kind=kind,
        object_id=object_id,
        **dict(zip(ENTRY_FIELDS, entry_fields(title, subtitle, parts), strict=True)),
    )


# The fields of Person that its entry is made of (with its emails and phones); a change to any other
# field of a person leaves the entry as it was.
PERSON_FIELDS = ("display_name", "given_name", "middle_name", "family_name", "preferred_name")


def person_entry_fields(display, given, middle, family, preferred, emails, phones):
    """entry_fields of a person from its names and its emails and phone numbers, primary first.

    The one definition of a person's entry: person_entries reads these values back from the
    database, and bulk writers (imports) that have them at hand build the entry without reading.
    """
    names = " ".join(dict.fromkeys(p for p in (display, given, middle, family, preferred) if p))
    subtitle = " · ".join(p for p in (emails[:1] + phones[:1]) if p)
    return entry_fields(
        display or (emails[0] if emails else ""),
        subtitle,
        [words_of(names), *(e.lower() for e in emails), *map(_phone_words, phones)],
    )


def person_entries(ids):
    """Entries for these people, read in three queries per chunk."""
    entries = []
    for chunk in _chunks(ids):
        emails, phones = defaultdict(list), defaultdict(list)
        for pid, email in (
            EmailAddress.objects.filter(**ids_lookup("person_id", chunk))
            .order_by("-is_primary", "id")
            .values_list("person_id", "email")
        ):
            emails[pid].append(email)
        for pid, number in (
            PhoneNumber.objects.filter(**ids_lookup("person_id", chunk))
            .order_by("-is_primary", "id")
            .values_list("person_id", "number")
        ):
            phones[pid].append(number)
        for pid, *names in Person.objects.filter(**ids_lookup("pk", chunk)).values_list("pk", *PERSON_FIELDS):
            fields = person_entry_fields(*names, emails[pid], phones[pid])
            entries.append(
                SearchEntry(
                    kind=SearchEntry.Kind.PERSON,
                    object_id=pid,
                    **dict(zip(ENTRY_FIELDS, fields, strict=True)),
                )
            )
    return entries


def organisation_entries(ids):
    entries = []
    for chunk in _chunks(ids):
        for pk, name, domains, kind in Organisation.objects.filter(pk__in=chunk).values_list(
            "pk", "name", "domains", "kind"
        ):
            label = Organisation.Kind(kind).label if kind in Organisation.Kind.values else kind
            entries.append(
                _entry(
                    SearchEntry.Kind.ORGANISATION,
                    pk,
                    name,
                    str(label),
                    [words_of(name), *(d.lower() for d in domains or [])],
                )
            )
    return entries


def list_entries(ids):
    entries = []
    for chunk in _chunks(ids):
        for pk, name, team in List.objects.filter(pk__in=chunk).values_list("pk", "name", "team__name"):
            entries.append(_entry(SearchEntry.Kind.LIST, pk, name, team, [words_of(name)]))
    return entries


BUILDERS = {
    SearchEntry.Kind.PERSON: person_entries,
    SearchEntry.Kind.ORGANISATION: organisation_entries,
    SearchEntry.Kind.LIST: list_entries,
}
SOURCES = {
    SearchEntry.Kind.PERSON: Person,
    SearchEntry.Kind.ORGANISATION: Organisation,
    SearchEntry.Kind.LIST: List,
}


def _chunks(ids, size=CHUNK):
    ids = list(ids)
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


@transaction.atomic
def reindex(kind, ids):
    """Bring the entries of these records up to date; records that no longer exist leave the index."""
    ids = sorted(set(ids))
    if not ids:
        return 0
    engine = backend()
    written = 0
    for chunk in _chunks(ids):
        old = SearchEntry.objects.filter(kind=kind, **ids_lookup("object_id", chunk)).values_list(
            "pk", flat=True
        )
        old = list(old)
        engine.delete(old)
        SearchEntry.objects.filter(**ids_lookup("pk", old)).delete()
        entries = SearchEntry.objects.bulk_create(BUILDERS[kind](chunk), batch_size=500)
        engine.write((e.pk, e.document) for e in entries)
        written += len(entries)
    return written


def remove(kind, ids):
    """Take records out of the index (they were deleted or merged away)."""
    reindex(kind, ids)  # the builders find nothing for missing records, so this only deletes


def reindex_all(*, progress=None):
    """Rebuild the whole index from the database; returns {kind: entries written}."""
    engine = backend()
    with transaction.atomic():
        engine.clear()
        SearchEntry.objects.all().delete()
    counts = {}
    for kind, model in SOURCES.items():
        counts[kind] = 0
        last = 0
        while True:
            ids = list(model.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:CHUNK])
            if not ids:
                break
            counts[kind] += reindex(kind, ids)
            last = ids[-1]
            if progress:
                progress(kind, counts[kind])
    return counts


def note(kind, object_ids):
    """Index these records now, or at the end of the surrounding bulk_indexing() block."""
    pending = _pending.get()
    if pending is not None:
        pending[kind].update(object_ids)
        return
    reindex(kind, object_ids)


@contextmanager
def bulk_indexing():
    """Collect the records changed inside the block and index them together when it ends."""
    if _pending.get() is not None:  # already collecting: the outer block flushes
        yield
        return
    pending = defaultdict(set)
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
        for kind, ids in pending.items():
            reindex(kind, ids)
