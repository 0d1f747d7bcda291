"""The import engine: read, map, validate, match and write a file in checkpointed batches.

Each batch is one transaction that also moves the run's checkpoint (the last row
number committed), so a run killed at any point resumes at the next row: nothing is
written twice and nothing is lost. Matching is set-based: one query per key type
(external id, email, phone) per batch, never one per row.
"""

import contextlib
import dataclasses
import gc
import os

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kinfolk.access.actors import SYSTEM
from kinfolk.core.context import acting
from kinfolk.core.db import GrowthStatistics
from kinfolk.core.events import collected_events
from kinfolk.identity import normalize as norm
from kinfolk.identity.models import MatchKey, MatchProfile
from kinfolk.imports.mapping import RowReader
from kinfolk.imports.models import ImportRowResult, ImportRun
from kinfolk.imports.parsers import ParsedFile
from kinfolk.imports.writer import (
    bulk_create_affiliations,
    bulk_create_people,
    bulk_link,
    derived_rows,
    loader_for,
)
from kinfolk.people import services as people_services
from kinfolk.people.models import (
    Affiliation,
    EmailAddress,
    ExternalId,
    List,
    ListMembership,
    Organisation,
    Person,
    PersonTag,
    PhoneNumber,
    PostalAddress,
    Tag,
)
from kinfolk.search.models import SearchEntry

BATCH_SIZE = 5000
SAMPLE_SIZE = 5
Outcome = ImportRowResult.Outcome
_COUNTED_AS = {
    Outcome.CREATED: "created",
    Outcome.UPDATED: "updated",
    Outcome.MERGED: "updated",
    Outcome.SKIPPED: "skipped",
    Outcome.REJECTED: "rejected",
    Outcome.FLAGGED: "flagged",
}
_DETAIL_KEYS = ("emails", "phones", "addresses", "external_ids")


@contextlib.contextmanager
def collections_paused():
    """No cyclic garbage collection during an import but that of the youngest objects, once per batch.

    A batch makes hundreds of thousands of short-lived dicts and tuples, which would start a
    collection every few hundred allocations, each walking the objects still alive: a quarter of an
    import's CPU time. Nearly all of them are freed by reference counting as the batch ends; the few
    cycles among them go with `collect_young()` after each batch, so memory stays bounded by the batch.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


YOUNG_OBJECTS = 300_000


def collect_young():
    """Collect the youngest generation once batches have left many objects in it (see collections_paused).

    Objects that outlive a collection are not walked by the next ones, but every object in the
    youngest generation is: waiting for a few batches lets most of them die first.
    """
    if gc.get_count()[0] > YOUNG_OBJECTS:
        gc.collect(0)


class ImportInterrupted(Exception):
    """Raised by a test hook to stop a run between (or inside) batches, as a killed worker would."""


@dataclasses.dataclass
class Row:
    """One row on its way through the engine."""

    number: int
    raw: dict
    values: dict = dataclasses.field(default_factory=dict)
    details: dict = dataclasses.field(default_factory=dict)
    extras: dict = dataclasses.field(default_factory=dict)
    problems: list = dataclasses.field(default_factory=list)
    outcome: str = ""
    person_id: int | None = None
    matched_person_id: int | None = None
    slot: "NewPerson | None" = None
    keys: list | None = None
    derived: tuple | None = None  # writer.derived_rows of the row's values, should it create a person

    def identity_keys(self):
        """Identity keys in the order they are trusted: external ids, then emails, then phones."""
        if self.keys is None:  # worked out once: matching asks for them several times per row
            keys = [("x", f"{e['system']}\x1f{e['value']}") for e in self.details.get("external_ids", ())]
            keys += [("e", e["normalized"]) for e in self.details.get("emails", ())]
            keys += [("p", p["number"]) for p in self.details.get("phones", ())]
            self.keys = keys
        return self.keys


@dataclasses.dataclass
class NewPerson:
    """A person the batch will create; later rows of the same person fold into it."""

    values: dict
    details: dict
    extras: dict
    person_id: int | None = None
    derived: tuple | None = None  # as its first row gave it; None once other rows change it


# ---- validation of one row ----------------------------------------------------------------------


def _column_for(path, origin):
    """The file column that a validate_person error path ('emails[1].email') came from."""
    head = path.split(".", 1)[0]
    if "[" in head:
        kind, index = head[:-1].split("[")
        columns = origin.get(kind) or []
        return columns[int(index)] if int(index) < len(columns) else "", kind, int(index)
    return origin.get(head, ""), head, None


def validate_row(row, reader, *, strict):
    """Fill row.values/details/extras/problems; a bad cell is dropped and named, a hopeless row rejected."""
    data, extras, problems, origin = reader.read(row.raw)
    row.extras = extras
    row.problems = problems
    if problems and any(not p["column"] for p in problems):
        row.outcome = Outcome.REJECTED
        return row
    for _attempt in range(4):
        try:
            values, details = people_services.validate_person(data)
            break
        except ValidationError as exc:
            drops = {}
            hopeless = False
            for path, messages in exc.message_dict.items():
                column, key, index = _column_for(path, origin)
                if key == "given_name" and "given_name" not in data:
                    hopeless = True  # no name and no email: nothing to make a person of
                    row.problems.append({"column": "", "value": "", "message": " ".join(messages)})
                    continue
                row.problems.append(
                    {"column": column, "value": _value_at(data, key, index), "message": " ".join(messages)}
                )
                drops.setdefault(key, set()).add(index)
            if hopeless or not drops:
                row.outcome = Outcome.REJECTED
                return row
            for key, indexes in drops.items():
                if None in indexes:
                    data.pop(key, None)
                else:
                    for index in sorted(indexes, reverse=True):
                        del data[key][index]
                        del origin[key][index]
    else:
        row.outcome = Outcome.REJECTED
        return row
    if strict and row.problems:
        row.outcome = Outcome.REJECTED
        return row
    values = people_services._finish_person_values(values)
    if not values.get("display_name") and details.get("emails"):
        values["display_name"] = details["emails"][0]["email"]
    row.values, row.details = values, {k: v for k, v in details.items() if v}
    # Worked out here, in the validation workers, rather than by the writer in the main process.
    row.derived = derived_rows(row.values, row.details)
    return row


def _value_at(data, key, index):
    value = data.get(key)
    if index is not None and isinstance(value, list) and index < len(value):
        item = value[index]
        value = next((v for k, v in item.items() if k in ("email", "number", "value", "street")), item)
    return "" if value is None else str(value)


# ---- matching -----------------------------------------------------------------------------------


def _chunks(values, size=900):
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i : i + size]


def lookup_people(keys, actor):
    """{key: person id} for identity keys of existing people, one query per key type (chunked)."""
    found = {}
    visible = None if actor.is_org_admin else Person.objects.visible_to(actor).values("pk")
    by_type = {"x": [], "e": [], "p": []}
    for kind, value in keys:
        by_type[kind].append(value)

    def scoped(qs):
        return qs if visible is None else qs.filter(person_id__in=visible)

    systems = {}
    for value in set(by_type["x"]):
        system, ident = value.split("\x1f", 1)
        systems.setdefault(system, []).append(ident)
    for system, idents in systems.items():
        for chunk in _chunks(idents):
            qs = ExternalId.objects.filter(person__isnull=False, system=system, value__in=chunk)
            for ident, pid in scoped(qs).values_list("value", "person_id"):
                found[("x", f"{system}\x1f{ident}")] = pid
    for kind, model, field in (("e", EmailAddress, "normalized"), ("p", PhoneNumber, "number")):
        for chunk in _chunks(set(by_type[kind])):
            qs = model.objects.filter(**{f"{field}__in": chunk, "person__isnull": False})
            for value, pid in scoped(qs).values_list(field, "person_id").order_by("person_id"):
                found.setdefault((kind, value), pid)  # the oldest person with the key wins
    return found


# ---- the run ------------------------------------------------------------------------------------


class Engine:
    """Runs one ImportRun from its checkpoint to the end of the file."""

    def __init__(self, run, *, batch_size=BATCH_SIZE, hook=None, progress=None):
        self.run = run
        self.batch_size = batch_size
        self.hook = hook or (lambda stage, batch: None)
        self.progress = progress
        self.actor = run.created_by or SYSTEM
        self.reader = RowReader(
            run.mapping,
            default_region=run.default_region,
            date_order=run.date_order,
            has_team=run.team_id is not None,
        )
        self.organisations = None  # name key -> Organisation, loaded on first need
        self.tags = None
        self.lists = None
        self.preview_keys = {}  # dry run: identity keys of people the preview would create
        self.samples = {}
        self.workers = 1
        # the tables the import fills and each batch reads back by value or by person, as they grow
        self.statistics = GrowthStatistics(
            Person, EmailAddress, PhoneNumber, ExternalId, PostalAddress, Affiliation, PersonTag,
            ListMembership, MatchKey, MatchProfile, SearchEntry, minimum=batch_size,
        )  # fmt: skip

    def execute(self):
        run = self.run
        parsed = ParsedFile(run.file_path, run.format)
        ImportRun.objects.filter(pk=run.pk).update(
            status=ImportRun.Status.RUNNING, started_at=run.started_at or timezone.now(), error=""
        )
        batches = _batched(parsed.rows(start_after=run.checkpoint_row), self.batch_size)
        with acting("import", job=run.job_label), collections_paused():
            for rows in self._validated(batches):
                self._batch(rows)
                collect_young()
        ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.DONE, finished_at=timezone.now())
        run.refresh_from_db()
        return run

    def _validated(self, batches):
        """Validated batches in file order; with workers (0: inline), the next batches are validated while one is written.

        Validation (email and phone parsing) is most of an import's CPU time and touches no
        database, so worker processes do it; at most 2 batches per worker wait, which keeps
        memory bounded whatever the file size.
        """
        if self.workers < 1:
            for rows in batches:
                yield [
                    validate_row(Row(number=n, raw=raw), self.reader, strict=self.run.strict)
                    for n, raw in rows
                ]
            return
        import multiprocessing
        from collections import deque

        from django.db import connections

        # Children must not share the parent's database connections. Inside a transaction (a test)
        # the connection stays: workers never touch it and leave by os._exit, which sends nothing on it.
        if not any(c.in_atomic_block for c in connections.all(initialized_only=True)):
            connections.close_all()
        context = multiprocessing.get_context("fork")
        with context.Pool(
            self.workers, initializer=_init_worker, initargs=(self.reader, self.run.strict, self.run.dry_run)
        ) as pool:
            pending = deque()
            for rows in batches:
                pending.append(pool.apply_async(_validate_batch, (rows,)))
                if len(pending) >= 2 * self.workers:
                    yield pending.popleft().get()
            while pending:
                yield pending.popleft().get()

    def _batch(self, rows):
        self.batch_no = getattr(self, "batch_no", 0) + 1
        with transaction.atomic(), collected_events():
            self._resolve(rows)
            if not self.run.dry_run:
                self._write(rows)
            self._record(rows)
            self.hook("written", self.batch_no)
        self.hook("committed", self.batch_no)
        if not self.run.dry_run:
            self.statistics.added(len(rows))
        if self.progress:
            self.progress(self.run)

    # identity: every valid row gets an outcome and, unless skipped, a person or a slot
    def _resolve(self, rows):
        valid = [r for r in rows if r.outcome != Outcome.REJECTED]
        keys = {k for r in valid for k in r.identity_keys()}
        existing = lookup_people(keys, self.actor) if keys else {}
        ours = self._created_by_this_import(set(existing.values()))
        in_batch = {}
        for row in valid:
            target = None
            for key in row.identity_keys():
                target = in_batch.get(key) or self.preview_keys.get(key) or existing.get(key)
                if target:
                    break
            if isinstance(target, NewPerson):
                row.outcome, row.slot = Outcome.MERGED, target
                _fold(target, row)
                target.derived = None
            elif target == "preview":
                row.outcome = Outcome.MERGED
            elif target and target in ours:
                row.outcome, row.person_id = Outcome.MERGED, target
            elif target and self.run.on_match == ImportRun.OnMatch.SKIP:
                row.outcome, row.matched_person_id = Outcome.SKIPPED, target
            elif target and self.run.on_match == ImportRun.OnMatch.UPDATE:
                row.outcome, row.person_id = Outcome.UPDATED, target
            else:
                row.outcome = Outcome.FLAGGED if target else Outcome.CREATED
                row.matched_person_id = target
                row.slot = NewPerson(
                    dict(row.values),
                    _copy_details(row.details),
                    _copy_extras(row.extras),
                    derived=row.derived,
                )
            if row.slot is not None or row.outcome in (Outcome.UPDATED, Outcome.MERGED):
                for key in row.identity_keys():
                    in_batch.setdefault(key, row.slot or row.person_id or "preview")
        self._drop_taken_external_ids(valid, keys)
        if self.run.dry_run:
            for key, target in in_batch.items():
                if isinstance(target, NewPerson):
                    self.preview_keys[key] = "preview"

    def _drop_taken_external_ids(self, rows, keys):
        """An id another person holds (one the actor may not see, or a flagged match's) is left out and named."""
        wanted = {k for k in keys if k[0] == "x"}
        taken = lookup_people(wanted, SYSTEM) if wanted else {}
        if not taken:
            return
        for row in rows:
            if row.slot is None or row.outcome not in (Outcome.CREATED, Outcome.FLAGGED):
                continue
            kept = []
            for item in row.slot.details.get("external_ids", ()):
                owner = taken.get(("x", f"{item['system']}\x1f{item['value']}"))
                if owner:
                    row.problems.append(
                        {
                            "column": "",
                            "value": f"{item['system']}:{item['value']}",
                            "message": _("Another person already has this id; it was left out."),
                        }
                    )
                else:
                    kept.append(item)
            if len(kept) < len(row.slot.details.get("external_ids", ())):
                row.slot.derived = None
            row.slot.details["external_ids"] = kept

    def _created_by_this_import(self, person_ids):
        if not person_ids or self.run.dry_run:
            return set()
        found = set()
        for chunk in _chunks(person_ids):
            found.update(
                ImportRowResult.objects.filter(
                    run=self.run, person_id__in=chunk, outcome__in=(Outcome.CREATED, Outcome.FLAGGED)
                ).values_list("person_id", flat=True)
            )
        return found

    def _write(self, rows):
        slots = [
            r.slot for r in rows if r.slot is not None and r.outcome in (Outcome.CREATED, Outcome.FLAGGED)
        ]
        ids = bulk_create_people(
            [(s.values, s.details) for s in slots],
            actor=self.actor,
            team=self.run.team,
            derived=[s.derived for s in slots],
        )
        for slot, pid in zip(slots, ids, strict=True):
            slot.person_id = pid
        links = Links()
        for slot in slots:
            self._links_for(
                slot.person_id, slot.values.get("display_name", ""), slot.extras, links, known=None
            )
        existing = [
            r
            for r in rows
            if r.slot is None and r.outcome in (Outcome.UPDATED, Outcome.MERGED) and r.person_id
        ]
        if existing:
            known = Known.load({r.person_id for r in existing})
            updates = people_services.bulk_person_updates(actor=self.actor)
            for row in existing:
                self._update_existing(row, known, links, updates)
            updates.save()
        links.write(self.actor)
        for row in rows:
            if row.slot is not None:
                row.person_id = row.slot.person_id

    def _update_existing(self, row, known, links, updates):
        """Fill in and add what the row knows about a person who exists; each change through services.

        Everything the batch's people already have is loaded up front (Known), so a row that
        brings nothing new costs no query at all.
        """
        person = known.people[row.person_id]
        changes = {
            k: v
            for k, v in row.values.items()
            if v not in ("", None) and k != "display_name" and _differs(getattr(person, k), v)
        }
        if changes:
            changes = people_services._finish_person_values(changes, instance=person)
            try:
                updates.update(person, changes=changes)  # written with the batch's other updates
            except ValidationError as exc:
                row.problems.append({"column": "", "value": "", "message": " ".join(exc.messages)})
        for kind, key in DETAIL_KEYS.items():
            have = known.details[kind].setdefault(person.pk, set())
            for item in row.details.get(kind, ()):
                if key(item) in have:
                    continue
                have.add(key(item))
                try:
                    with transaction.atomic():
                        people_services.do_add_detail(
                            person,
                            people_services.DETAILS[kind][0],
                            values={k: v for k, v in item.items() if k != "is_primary"},
                            team=self.run.team,
                            actor=self.actor,
                        )
                except ValidationError as exc:
                    row.problems.append(
                        {"column": "", "value": str(key(item)), "message": " ".join(exc.messages)}
                    )
        self._links_for(person.pk, person.display_name, row.extras, links, known=known)

    def _links_for(self, person_id, label, extras, links, *, known):
        """Queue the affiliation, tags and list places a row asks for that the person lacks."""
        team = self.run.team
        if extras.get("organisation"):
            org = self._organisation(extras["organisation"])
            if links.want(known, "affiliations", person_id, org.pk):
                links.affiliations.append(
                    {
                        "person_id": person_id,
                        "person_label": label,
                        "organisation": org,
                        "title": extras.get("title", "")[:200],
                        "role": extras.get("role", "")[:100],
                        "is_primary": known is None or not known.has_affiliation(person_id),
                    }
                )
        if team is None:
            return
        for name in dict.fromkeys(extras.get("tags") or ()):
            tag = self._named(Tag, "tags", name)
            if links.want(known, "tags", person_id, tag.pk):
                links.taggings.append(PersonTag(person_id=person_id, tag=tag, team=team))
        for name in dict.fromkeys(extras.get("lists") or ()):
            list_ = self._named(List, "lists", name)
            if links.want(known, "lists", person_id, list_.pk):
                links.memberships.append(ListMembership(person_id=person_id, list=list_, team=team))

    def _organisation(self, name):
        if self.organisations is None:
            self.organisations = {}
            for org in Organisation.objects.only("pk", "name").order_by("pk").iterator():
                self.organisations.setdefault(norm.name_key(org.name), org)
        key = norm.name_key(name)
        if key not in self.organisations:
            self.organisations[key] = people_services.do_create_organisation(
                values={"name": name[:200]}, actor=self.actor
            )
        return self.organisations[key]

    def _named(self, model, cache, name):
        """A tag or list of the import's team, by name; made (through the service) if missing."""
        known = getattr(self, cache)
        if known is None:
            known = {norm.name_key(o.name): o for o in model.objects.filter(team=self.run.team)}
            setattr(self, cache, known)
        key = norm.name_key(name)
        if key not in known:
            known[key] = people_services.do_create(
                model, values={"name": name[:100], "team": self.run.team}, actor=self.actor
            )
        return known[key]

    def _record(self, rows):
        counts = dict.fromkeys(("created", "updated", "skipped", "rejected", "flagged"), 0)
        results = []
        for row in rows:
            counts[_COUNTED_AS[row.outcome]] += 1
            keep_raw = row.outcome == Outcome.REJECTED
            if self.run.dry_run and self.samples.get(row.outcome, 0) < SAMPLE_SIZE:
                self.samples[row.outcome] = self.samples.get(row.outcome, 0) + 1
                keep_raw = True
            results.append(
                {
                    "run_id": self.run.pk,
                    "row_number": row.number,
                    "outcome": str(row.outcome),
                    "person_id": row.person_id,
                    "matched_person_id": row.matched_person_id,
                    "problems": row.problems,
                    # pairs, because JSONB would lose the column order
                    "raw": list(row.raw.items()) if keep_raw else None,
                }
            )
        loader_for().insert(ImportRowResult, results, with_ids=False)
        ImportRun.objects.filter(pk=self.run.pk).update(
            checkpoint_row=rows[-1].number,
            rows_done=F("rows_done") + len(rows),
            **{k: F(k) + v for k, v in counts.items()},
        )
        self.run.checkpoint_row = rows[-1].number
        self.run.rows_done += len(rows)
        for k, v in counts.items():
            setattr(self.run, k, getattr(self.run, k) + v)


def _copy_details(details):
    return {k: [dict(i) for i in v] for k, v in details.items()}


def _copy_extras(extras):
    return {k: list(v) if isinstance(v, list) else v for k, v in extras.items()}


DETAIL_KEYS = {
    "emails": lambda d: d["normalized"],
    "phones": lambda d: d["number"],
    "external_ids": lambda d: (d["system"], d["value"]),
    "addresses": lambda d: (d.get("street", ""), d.get("postal_code", "")),
}


def _differs(current, new):
    current = getattr(current, "code", current)  # a django-countries Country compares by its code
    return current != new


class Known:
    """What a batch's existing people already have, loaded with one query per kind."""

    def __init__(self):
        self.people = {}
        self.details = {kind: {} for kind in DETAIL_KEYS}
        self.links = {"affiliations": set(), "tags": set(), "lists": set()}
        self.affiliated = set()

    @classmethod
    def load(cls, person_ids):
        known = cls()
        for chunk in _chunks(person_ids):
            known.people.update(Person.objects.in_bulk(chunk))
            for kind, model, fields in (
                ("emails", EmailAddress, ("normalized",)),
                ("phones", PhoneNumber, ("number",)),
                ("external_ids", ExternalId, ("system", "value")),
                ("addresses", PostalAddress, ("street", "postal_code")),
            ):
                for pid, *key in model.objects.filter(person_id__in=chunk).values_list("person_id", *fields):
                    known.details[kind].setdefault(pid, set()).add(key[0] if len(key) == 1 else tuple(key))
            for pid, oid in Affiliation.objects.filter(person_id__in=chunk).values_list(
                "person_id", "organisation_id"
            ):
                known.links["affiliations"].add((pid, oid))
                known.affiliated.add(pid)
            for pid, tid in PersonTag.objects.filter(person_id__in=chunk).values_list("person_id", "tag_id"):
                known.links["tags"].add((pid, tid))
            for pid, lid in ListMembership.objects.filter(person_id__in=chunk).values_list(
                "person_id", "list_id"
            ):
                known.links["lists"].add((pid, lid))
        return known

    def has_affiliation(self, person_id):
        return person_id in self.affiliated


class Links:
    """Affiliations, tags and list places a batch will add, each once."""

    def __init__(self):
        self.affiliations, self.taggings, self.memberships = [], [], []
        self.seen = set()

    def want(self, known, kind, person_id, other_id):
        key = (kind, person_id, other_id)
        if key in self.seen or (known is not None and (person_id, other_id) in known.links[kind]):
            return False
        self.seen.add(key)
        if known is not None and kind == "affiliations":
            known.affiliated.add(person_id)
        return True

    def write(self, actor):
        bulk_create_affiliations(self.affiliations, actor=actor)
        bulk_link(self.taggings, self.memberships, actor=actor)


def _fold(slot, row):
    """Fold a later row of the same new person into it: fill gaps, add new details, tags and lists."""
    for key, value in row.values.items():
        if value not in ("", None) and not slot.values.get(key):
            slot.values[key] = value
    keys = {
        "emails": lambda d: d["normalized"],
        "phones": lambda d: d["number"],
        "external_ids": lambda d: (d["system"], d["value"]),
        "addresses": lambda d: (d.get("street", ""), d.get("postal_code", "")),
    }
    for kind, key in keys.items():
        have = {key(d) for d in slot.details.get(kind, ())}
        for item in row.details.get(kind, ()):
            if key(item) not in have:
                if kind == "external_ids" and any(
                    d["system"] == item["system"] for d in slot.details.get(kind, ())
                ):
                    continue  # one id per system and person
                slot.details.setdefault(kind, []).append({k: v for k, v in item.items() if k != "is_primary"})
                have.add(key(item))
    for key in ("tags", "lists"):
        slot.extras[key] = list(dict.fromkeys([*slot.extras.get(key, []), *row.extras.get(key, [])]))
    for key in ("organisation", "title", "role"):
        if row.extras.get(key) and not slot.extras.get(key):
            slot.extras[key] = row.extras[key]


def _batched(rows, size):
    batch = []
    for item in rows:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_worker_state = {}


def _init_worker(reader, strict, dry_run):
    # A dry run shows sample rows as read; a run keeps the rows as read only for those it rejects.
    _worker_state.update(reader=reader, strict=strict, keep_raw=dry_run)
    gc.disable()  # the worker's own garbage is collected batch by batch (collect_young)


def _validate_batch(rows):
    """In a worker process: validate one batch of (row number, raw row)."""
    reader, strict, keep_raw = _worker_state["reader"], _worker_state["strict"], _worker_state["keep_raw"]
    collect_young()  # what the previous batch and its pickling left
    validated = [validate_row(Row(number=n, raw=raw), reader, strict=strict) for n, raw in rows]
    if not keep_raw:
        for row in validated:
            if row.outcome != Outcome.REJECTED:
                row.raw = None  # not sent back: a third of what the main process would unpickle
    return validated


def default_workers():
    """Validation worker processes: KINFOLK_IMPORT_WORKERS, else one per core but the writer's (at most 4).

    The main process, which alone writes, is the slower side: a worker sharing its core slows it
    more than the worker helps (on 2 cores, 1 worker imports faster than 2). 0: validate inline.
    """
    value = os.environ.get("KINFOLK_IMPORT_WORKERS", "")
    return int(value) if value.isdigit() else min((os.cpu_count() or 1) - 1, 4)


def run_import(import_id, *, batch_size=BATCH_SIZE, hook=None, progress=None, workers=None):
    """Run (or resume) the import with this id from its checkpoint; the job runner calls this."""
    run = ImportRun.objects.select_related("team", "created_by").get(pk=import_id)
    if run.status in (ImportRun.Status.DONE, ImportRun.Status.UNDOING, ImportRun.Status.UNDONE):
        return run
    try:
        engine = Engine(run, batch_size=batch_size, hook=hook, progress=progress)
        # Forking workers pays off for big batches only; a caller may still ask for them explicitly.
        engine.workers = (default_workers() if batch_size >= 1000 else 0) if workers is None else workers
        return engine.execute()
    except ImportInterrupted:
        raise
    except Exception as exc:
        ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.FAILED, error=str(exc)[:2000])
        raise


def reject_reason(problems):
    """The reason column of the error report: every problem of the row, with its column."""
    parts = []
    for p in problems:
        where = f"{p['column']}: " if p.get("column") else ""
        parts.append(f"{where}{p['message']}")
    return " | ".join(parts) or _("rejected")
