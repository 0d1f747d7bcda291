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


def check_undo_import(run, *, actor):
    """Undo an import: remove the people it created and restore the fields it changed, where unchanged since."""
    if not actor.is_org_admin and (actor_user(actor) is None or actor.pk != run.created_by_id):
        raise ValidationError({"import": [_("Only who ran the import, or an administrator, can undo it.")]})
    if run.dry_run or run.status not in (ImportRun.Status.DONE, ImportRun.Status.FAILED):
        raise ValidationError({"import": [_("Only a finished import that wrote data can be undone.")]})
    return do_undo_import(run, actor=actor)


def do_undo_import(run, *, actor):
    """Report {removed, restored, conflicts}; a conflict is a record changed by someone after the import."""
    via = f"job {run.job_label}"
    ours = ChangeRecord.objects.filter(via=via)
    undo_via = f"job undo-{run.job_label}"
    later = ChangeRecord.objects.exclude(via__in=(via, undo_via)).filter(
        time__gte=run.started_at or run.created_at
    )
    created_ids = set(
        run.rows.filter(outcome__in=(Outcome.CREATED, Outcome.FLAGGED), person_id__isnull=False).values_list(
            "person_id", flat=True
        )
    )
    touched_since = set(later.filter(person_id__in=created_ids).values_list("person_id", flat=True))
    result = {"removed": 0, "restored": 0, "conflicts": []}
    with acting("import", job=f"undo-{run.job_label}"), transaction.atomic():
        for person in Person.objects.filter(pk__in=created_ids - touched_since).iterator():
            people_services.do_delete_person(person, actor=actor)
            result["removed"] += 1
        for pid in sorted(touched_since):
            result["conflicts"].append(
                {"person_id": pid, "reason": _("changed after the import; not removed")}
            )
        # Details added to people who already existed: removed unless changed since.
        # Organisations, tags and lists the import created stay: others may use them by now.
        added = ours.filter(action=ChangeRecord.Action.CREATE, person_id__isnull=False)
        for record in added.exclude(person_id__in=created_ids):
            model = record.object_type.model_class()
            obj = model.objects.filter(pk=record.object_id).first() if model is not Person else None
            if obj is None:
                continue
            if later.filter(object_type=record.object_type, object_id=record.object_id).exists():
                result["conflicts"].append(
                    {
                        "person_id": record.person_id,
                        "reason": _("%(obj)s changed since") % {"obj": record.object_repr},
                    }
                )
                continue
            do_delete(obj, actor=actor)
        # Fields the import changed on people who already existed.
        for record in ours.filter(action=ChangeRecord.Action.UPDATE).order_by("-time", "-id"):
            model = record.object_type.model_class()
            obj = model.objects.filter(pk=record.object_id).first()
            if obj is None:
                continue
            newer = later.filter(
                object_type=record.object_type, object_id=record.object_id, time__gte=record.time
            )
            changed_since = {f for r in newer for f in r.changes}
            restore = {}
            for field, change in record.changes.items():
                if field in changed_since:
                    result["conflicts"].append(
                        {
                            "person_id": record.person_id,
                            "field": field,
                            "reason": _("changed after the import"),
                        }
                    )
                else:
                    restore[field] = model._meta.get_field(field).to_python(change["before"])
            if restore:
                do_update(obj, changes=restore, actor=actor)
                result["restored"] += len(restore)
        ImportRun.objects.filter(pk=run.pk).update(status=ImportRun.Status.UNDONE, finished_at=timezone.now())
    return result
