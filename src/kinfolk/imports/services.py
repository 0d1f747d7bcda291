"""The one way imports are started, previewed, reported on and undone; mapping profiles are saved."""

import csv
import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kinfolk.access.permissions import require_permission
from kinfolk.core.audit import actor_user
from kinfolk.core.context import acting
from kinfolk.core.models import ChangeRecord
from kinfolk.core.services import do_delete, do_update
from kinfolk.imports.engine import reject_reason
from kinfolk.imports.mapping import check_mapping, check_target, suggest_mapping
from kinfolk.imports.models import ImportRowResult, ImportRun, MappingProfile
from kinfolk.imports.parsers import ParsedFile
from kinfolk.people import services as people_services
from kinfolk.people.models import Person

Outcome = ImportRowResult.Outcome


def parse_map_options(items):
    """['Column=field', …] from the command line into {column: field}; errors name the bad item."""
    mapping = {}
    for item in items or ():
        column, sep, target = item.rpartition("=")
        if not sep or not column:
            raise ValidationError({"map": [_("%(item)r: expected COLUMN=FIELD.") % {"item": item}]})
        mapping[column] = target.strip() or "ignore"
    return mapping


def load_mapping(profile_or_file):
    """A mapping from a saved profile's name or a JSON file ({column: field} or {"mapping": {…}})."""
    profile = MappingProfile.objects.filter(name=profile_or_file).first()
    if profile:
        return dict(profile.mapping), dict(profile.options)
    path = Path(profile_or_file)
    if not path.is_file():
        raise ValidationError(
            {"mapping": [_("No mapping profile or JSON file named %(name)r.") % {"name": profile_or_file}]}
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(
            {"mapping": [_("%(name)s is not JSON: %(reason)s") % {"name": path, "reason": exc}]}
        ) from exc
    if isinstance(data, dict) and isinstance(data.get("mapping"), dict):
        return data["mapping"], data.get("options") or {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValidationError(
            {"mapping": [_('Expected {"column": "field", …} in %(name)s.') % {"name": path}]}
        )
    return data, {}


def check_save_mapping_profile(*, name, mapping, options=None, actor):
    """Save (or replace) a named mapping profile after checking every target."""
    require_permission(actor, "create", Person())
    errors = {}
    for column, target in mapping.items():
        try:
            check_target(target)
        except ValidationError as exc:
            errors[column] = exc.messages
    if errors or not str(name).strip():
        errors.setdefault("name", []) if str(name).strip() else errors.setdefault("name", [_("Give a name.")])
        raise ValidationError({k: v for k, v in errors.items() if v})
    profile, _created = MappingProfile.objects.update_or_create(
        name=str(name).strip(),
        defaults={"mapping": mapping, "options": options or {}, "created_by": actor_user(actor)},
    )
    return profile


def check_create_import(
    *,
    path,
    actor,
    fmt=None,
    mapping=None,
    extra_mapping=None,
    team=None,
    on_match="update",
    strict=False,
    default_region="",
    date_order="DMY",
    dry_run=False,
):
    """Open and check a file, settle its mapping (suggested where not given) and record an ImportRun."""
    require_permission(actor, "create", Person())
    if team is not None and not actor.is_org_admin and not actor.has_role(team.pk, "member"):
        raise ValidationError({"team": [_("You are not a member of team %(team)s.") % {"team": team}]})
    if on_match not in ImportRun.OnMatch.values:
        raise ValidationError(
            {"on_match": [_("Expected one of %(v)s.") % {"v": ", ".join(ImportRun.OnMatch.values)}]}
        )
    if date_order not in ("DMY", "MDY"):
        raise ValidationError({"date_order": [_("Expected DMY or MDY.")]})
    parsed = ParsedFile(path, fmt)
    chosen = dict(mapping) if mapping else suggest_mapping(parsed.columns)
    chosen.update(extra_mapping or {})
    if parsed.format in ("csv", "xlsx"):
        check_mapping(chosen, parsed.columns)
    else:  # vCard and JSON Lines columns are only fully known while reading
        for target in chosen.values():
            check_target(target)
    region = ""
    if default_region:
        from kinfolk.identity.normalize import normalize_country

        region = normalize_country(default_region)
    return ImportRun.objects.create(
        file_path=str(Path(path).resolve()),
        file_name=Path(path).name,
        format=parsed.format,
        mapping=chosen,
        on_match=on_match,
        strict=strict,
        default_region=region,
        date_order=date_order,
        dry_run=dry_run,
        team=team,
        created_by=actor_user(actor),
        rows_expected=parsed.estimate_rows(),
    )


def preview(run, sample=5, problem_limit=1000):
    """Counts of a (dry) run, a sample of each outcome, and the problems by row and column (the first 1,000)."""
    samples = {}
    for outcome in Outcome.values:
        rows = run.rows.filter(outcome=outcome).order_by("row_number")[:sample]
        samples[outcome] = [
            {
                "row": r.row_number,
                "values": dict(r.raw or ()),
                "problems": r.problems,
                "matched_person_id": r.matched_person_id,
            }
            for r in rows
        ]
    problems = []
    for r in run.rows.exclude(problems=[]).order_by("row_number").iterator():
        problems.extend({"row": r.row_number, **p} for p in r.problems)
        if len(problems) >= problem_limit:
            break
    return {"summary": run.summary(), "samples": samples, "problems": problems}


def write_error_report(run, stream):
    """The rejected rows as CSV with a 'reason' column: fix them and import the file again."""
    rejected = run.rows.filter(outcome=Outcome.REJECTED).order_by("row_number")
    columns = list(dict.fromkeys(c for r in rejected.iterator() for c, _v in (r.raw or ())))
    columns = [c for c in columns if c != "__error__"]
    reason = _("reason")
    writer = csv.writer(stream)
    writer.writerow([*columns, reason])
    count = 0
    for row in rejected.iterator():
        raw = dict(row.raw or ())
        writer.writerow([raw.get(c, "") for c in columns] + [reject_reason(row.problems)])
        count += 1
    return count


UNDO_CHUNK = 1000  # people or audit records per transaction of an undo
CONFLICTS_KEPT = 1000  # conflicts an undo lists (all are counted)


def check_undo_import(run, *, actor):
    """Check that the actor may undo the import and that it can be, then undo it in a background job."""
    if not actor.is_org_admin and (actor_user(actor) is None or actor.pk != run.created_by_id):
        raise ValidationError({"import": [_("Only who ran the import, or an administrator, can undo it.")]})
    if run.dry_run or run.status not in (ImportRun.Status.DONE, ImportRun.Status.FAILED):
        raise ValidationError({"import": [_("Only a finished import that wrote data can be undone.")]})
    from kinfolk.imports.tasks import start_undo

    with transaction.atomic():
        # One undo at a time: the status moves on only from the one this check saw.
        claimed = ImportRun.objects.filter(pk=run.pk, status=run.status).update(
            status=ImportRun.Status.UNDOING, undo_state=_new_undo_state()
        )
        if not claimed:
            raise ValidationError({"import": [_("This import is being undone already.")]})
        run.refresh_from_db()
        return start_undo(run, actor=actor)


def _new_undo_state():
    return {"phase": "people", "after": 0, "removed": 0, "restored": 0, "conflicts": [], "conflict_count": 0}


def do_undo_import(run, *, actor, progress=None):
    """Undo an import: remove the people it created, the details it added and restore the fields it changed,
    each unless changed by someone since; returns {removed, restored, conflicts, conflict_count}.

    It works a chunk at a time, each chunk one transaction that also moves the run's undo checkpoint
    (undo_state), so that a job killed midway resumes where it stopped: a million people removed
    in a few thousand statements, not one transaction of hours.
    """
    state = run.undo_state or _new_undo_state()
    undo = _Undo(run, state, actor, progress)
    with acting("import", job=f"undo-{run.job_label}"):
        if state["phase"] == "people":
            undo.people()
            undo.next_phase("details")
        if state["phase"] == "details":
            undo.details()
            undo.next_phase("fields")
        if state["phase"] == "fields":
            undo.fields()
            undo.next_phase("done")
    ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.UNDONE, finished_at=timezone.now())
    return {k: state[k] for k in ("removed", "restored", "conflicts", "conflict_count")}


class _Undo:
    """The three phases of do_undo_import, chunk by chunk."""

    def __init__(self, run, state, actor, progress):
        self.run, self.state, self.actor, self.progress = run, state, actor, progress
        via = f"job {run.job_label}"
        since = run.started_at or run.created_at
        # Changes are found by the time index: those since the import started, by it or by others.
        self.ours = ChangeRecord.objects.filter(time__gte=since, via=via)
        self.later = ChangeRecord.objects.filter(time__gte=since).exclude(
            via__in=(via, f"job undo-{run.job_label}")
        )
        self.done = 0

    def save(self, after):
        self.state["after"] = after
        ImportRun.objects.filter(pk=self.run.pk).update(undo_state=self.state)

    def next_phase(self, phase):
        self.state["phase"] = phase
        self.save(0)

    def conflict(self, **conflict):
        self.state["conflict_count"] += 1
        if len(self.state["conflicts"]) < CONFLICTS_KEPT:
            self.state["conflicts"].append(conflict)

    def tick(self, n):
        self.done += n
        if self.progress:
            self.progress(self.done)

    def people(self):
        """The people it created, unless changed since (those are kept and named)."""
        created = self.run.rows.filter(
            outcome__in=(Outcome.CREATED, Outcome.FLAGGED), person_id__isnull=False
        )
        while chunk := list(
            created.filter(row_number__gt=self.state["after"])
            .order_by("row_number")
            .values_list("row_number", "person_id")[:UNDO_CHUNK]
        ):
            ids = [pid for _n, pid in chunk]
            with transaction.atomic():
                touched = set(self.later.filter(person_id__in=ids).values_list("person_id", flat=True))
                people = Person.objects.filter(pk__in=set(ids) - touched)
                self.state["removed"] += people_services.do_delete_people(people, actor=self.actor)
                for pid in sorted(touched):
                    self.state.setdefault("kept", []).append(pid)
                    self.conflict(person_id=pid, reason=_("changed after the import; not removed"))
                self.save(chunk[-1][0])
            self.tick(len(chunk))

    def details(self):
        """Details it added to people who already existed, unless changed since.

        Organisations, tags and lists the import created stay: others may use them by now.
        """
        kept = set(self.state.get("kept", ()))

        def not_added(record):
            # people themselves (those it created went in the first phase), and what it gave the
            # people it created and kept because they changed since
            return record.person_id in kept or record.object_type.model_class() is Person

        added = self.ours.filter(action=ChangeRecord.Action.CREATE, person_id__isnull=False)
        while chunk := list(
            added.filter(id__gt=self.state["after"]).order_by("id").select_related("object_type")[:UNDO_CHUNK]
        ):
            with transaction.atomic():
                for model, records in _by_model(chunk, skip=not_added):
                    objs = model.objects.in_bulk([r.object_id for r in records])
                    changed = set(
                        self.later.filter(
                            object_type=records[0].object_type, object_id__in=list(objs)
                        ).values_list("object_id", flat=True)
                    )
                    for record in records:
                        obj = objs.get(record.object_id)
                        if obj is None:  # gone with a person it created, or removed since
                            continue
                        if record.object_id in changed:
                            self.conflict(
                                person_id=record.person_id,
                                reason=_("%(obj)s changed since") % {"obj": record.object_repr},
                            )
                            continue
                        do_delete(obj, actor=self.actor)
                self.save(chunk[-1].id)
            self.tick(len(chunk))

    def fields(self):
        """Fields it changed on people who already existed, newest change first, unless changed since."""
        updates = (
            self.ours.filter(action=ChangeRecord.Action.UPDATE).order_by("-id").select_related("object_type")
        )
        while chunk := list(
            (updates.filter(id__lt=self.state["after"]) if self.state["after"] else updates)[:UNDO_CHUNK]
        ):
            with transaction.atomic():
                for model, records in _by_model(chunk):
                    objs = model.objects.in_bulk([r.object_id for r in records])
                    newer = {}
                    for object_id, time, changes in self.later.filter(
                        object_type=records[0].object_type, object_id__in=list(objs)
                    ).values_list("object_id", "time", "changes"):
                        newer.setdefault(object_id, []).append((time, changes))
                    for record in records:
                        obj = objs.get(record.object_id)
                        if obj is not None:
                            self._restore(obj, record, newer.get(record.object_id, ()))
                self.save(chunk[-1].id)
            self.tick(len(chunk))

    def _restore(self, obj, record, newer):
        changed_since = {f for time, changes in newer if time >= record.time for f in changes}
        restore = {}
        for field, change in record.changes.items():
            if field in changed_since:
                self.conflict(person_id=record.person_id, field=field, reason=_("changed after the import"))
            else:
                restore[field] = type(obj)._meta.get_field(field).to_python(change["before"])
        if restore:
            do_update(obj, changes=restore, actor=self.actor)
            self.state["restored"] += len(restore)


def _by_model(records, skip=None):
    """[(model, its records)] of audit records, leaving out those skip names."""
    groups = {}
    for record in records:
        model = record.object_type.model_class()
        if model is None or (skip and skip(record)):
            continue
        groups.setdefault(model, []).append(record)
    return list(groups.items())
