"""Merging two people into one, and undoing a merge exactly (same ids, same values, same rows).

Every model with a foreign key to Person is found from the app registry, so records added by later
apps (consent, gifts, registrations) move to the survivor with no change here. A moved row that
would break a unique or check constraint of its model (the survivor already has that tag, a
relationship of the two merged people with each other) duplicates a row of the survivor and is
removed; so are rows that say the same as one of the survivor's (DEDUPE_KEYS). Everything removed
or changed is captured first, and undo puts it back.
"""

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from kinfolk.access.permissions import require_permission
from kinfolk.core.audit import _json_value, actor_user, record_change, snapshot
from kinfolk.core.events import emit_on_commit
from kinfolk.core.models import ChangeRecord
from kinfolk.identity.matching import fold_name, match_email, match_postcode, street_key
from kinfolk.identity.models import DuplicateCandidate, MergeRecord, default_rules
from kinfolk.people.models import Person, Relationship

# Fields of Person a merge chooses a value for; the others (ids, timestamps) belong to the survivor.
MERGE_FIELDS = [
    "given_name", "middle_name", "family_name", "display_name", "preferred_name", "prefix", "suffix",
    "pronouns", "language", "time_zone", "country", "birth_date", "addressing_notes",
]  # fmt: skip

# Where a value came from, most trusted first (the source of the change that last set it).
DEFAULT_TRUSTED_SOURCES = default_rules()["trusted_sources"]

# Rows that say the same thing twice once they belong to one person: keep the survivor's.
DEDUPE_KEYS = {
    "people.emailaddress": lambda r: match_email(r.normalized),
    "people.phonenumber": lambda r: r.number,
    "people.postaladdress": lambda r: (street_key(r.street), match_postcode(r.postal_code), str(r.country)),
    "people.externalid": lambda r: (r.system, r.value),
    "people.socialprofile": lambda r: (r.network, r.handle.lower(), r.url),
    "people.persontag": lambda r: r.tag_id,
    "people.listmembership": lambda r: r.list_id,
    "people.householdmember": lambda r: r.household_id,
    "people.personrestriction": lambda r: r.team_id,
    "people.affiliation": lambda r: (r.organisation_id, r.role, r.title, r.start_date, r.end_date),
}


def person_links():
    """[(model, [foreign key fields to Person])] for every installed model, found from the app registry."""
    links = []
    for model in apps.get_models(include_auto_created=True):
        fks = [
            f
            for f in model._meta.concrete_fields
            if isinstance(f, models.ForeignKey) and f.remote_field.model is Person
        ]
        if fks:
            links.append((model, fks))
    return links


def _rows(model, fks, ids):
    query = Q()
    for f in fks:
        query |= Q(**{f"{f.attname}__in": ids})
    return list(model._base_manager.filter(query).order_by("pk"))


def _dump(obj):
    return {f.attname: _json_value(getattr(obj, f.attname)) for f in obj._meta.concrete_fields}


def capture(ids):
    """{model label: {pk: {attname: value}}} of the people, every row that points at them, and their pairs."""
    state = {"people.person": {str(p.pk): _dump(p) for p in Person._base_manager.filter(pk__in=ids)}}
    for model, fks in person_links():
        rows = _rows(model, fks, ids)
        if rows:
            state[model._meta.label_lower] = {str(r.pk): _dump(r) for r in rows}
    pairs = DuplicateCandidate.objects.filter(Q(first_id__in=ids) | Q(second_id__in=ids)).order_by("pk")
    if pairs:
        state[DuplicateCandidate._meta.label_lower] = {str(r.pk): _dump(r) for r in pairs}
    return state


def _is_empty(value):
    return value in (None, "", [], {})


def _fuller(mine, theirs):
    """'survivor' or 'merged' when one name is the other in full ('R.' and 'Robert'), else None."""
    if not isinstance(mine, str) or not isinstance(theirs, str):
        return None
    a, b = fold_name(mine), fold_name(theirs)
    if a and b and a != b:
        if len(a) == 1 and b.startswith(a):
            return "merged"
        if len(b) == 1 and a.startswith(b):
            return "survivor"
    return None


def field_sources(person):
    """{field: source} of the change that last set each field of a person (ui, api, import…)."""
    from django.contrib.contenttypes.models import ContentType

    sources = {}
    records = ChangeRecord.objects.filter(
        object_type=ContentType.objects.get_for_model(Person), object_id=person.pk
    ).order_by("time", "id")
    for source, changes in records.values_list("source", "changes"):
        for name in changes or {}:
            sources[name] = source
    return sources


def choose_values(survivor, merged, choices=None, *, trusted_sources=None):
    """{field: (value, from, why)}: the surviving value of each field and why it was chosen.

    Per field: the caller's choice ("survivor" or "merged"); else the filled-in value over an empty
    one, and a full name over an initial (most complete); else the value from the more trusted
    source (the source of the change that set it); else the value of the record changed last.
    """
    choices = dict(choices or {})
    if not isinstance(choices, dict):
        raise ValidationError({"choices": [_('Expected {field: "survivor" or "merged"}.')]})
    unknown = sorted(set(choices) - set(MERGE_FIELDS))
    if unknown:
        raise ValidationError(
            {
                f"choices.{k}": [
                    _("Not a field a merge can choose; expected one of %(names)s.")
                    % {"names": ", ".join(MERGE_FIELDS)}
                ]
                for k in unknown
            }
        )
    for name, pick in choices.items():
        if pick not in ("survivor", "merged"):
            raise ValidationError(
                {f"choices.{name}": [_('Expected "survivor" or "merged", got %(v)r.') % {"v": pick}]}
            )
    order = list(trusted_sources or DEFAULT_TRUSTED_SOURCES)
    rank = {source: i for i, source in enumerate(order)}
    sources = (field_sources(survivor), field_sources(merged))
    newer_is_merged = merged.updated_at > survivor.updated_at
    result = {}
    for name in MERGE_FIELDS:
        mine, theirs = getattr(survivor, name), getattr(merged, name)
        pick = choices.get(name)
        if pick is not None:
            why = "chosen"
        elif _is_empty(theirs) or mine == theirs:
            pick, why = "survivor", "kept"
        elif _is_empty(mine):
            pick, why = "merged", "most complete"
        elif fuller := _fuller(mine, theirs):
            pick, why = fuller, "most complete"
        else:
            mine_rank = rank.get(sources[0].get(name), len(order))
            their_rank = rank.get(sources[1].get(name), len(order))
            if mine_rank != their_rank:
                pick = "survivor" if mine_rank < their_rank else "merged"
                why = "trusted source"
            else:
                pick, why = ("merged", "most recent") if newer_is_merged else ("survivor", "most recent")
        result[name] = (theirs if pick == "merged" else mine, pick, why)
    return result


def preview_merge(survivor, merged, *, choices=None, actor):
    """What a merge would keep, field by field, without merging: {field: (value, from, why)}."""
    from kinfolk.identity.services import active_rules

    require_permission(actor, "view", survivor)
    require_permission(actor, "view", merged)
    trusted = active_rules().rules.get("trusted_sources")
    return choose_values(survivor, merged, choices, trusted_sources=trusted)


def check_merge_people(survivor, merged, *, choices=None, actor):
    """Merge `merged` into `survivor` after checking both may be changed; returns the MergeRecord.

    choices: {field: "survivor" | "merged"} overriding the default surviving value of a field.
    """
    from kinfolk.identity.services import active_rules

    if survivor.pk == merged.pk:
        raise ValidationError({"merged": [_("A person cannot be merged into themselves.")]})
    require_permission(actor, "change", survivor)
    require_permission(actor, "change", merged)
    trusted = active_rules().rules.get("trusted_sources")
    chosen = choose_values(survivor, merged, choices, trusted_sources=trusted)
    return do_merge_people(survivor, merged, chosen=chosen, actor=actor)


@transaction.atomic
def do_merge_people(survivor, merged, *, chosen, actor):
    """Move everything of `merged` to `survivor`, keep one of each duplicate detail, delete `merged`."""
    from kinfolk.identity.services import rebuild_keys

    survivor = Person._base_manager.select_for_update().get(pk=survivor.pk)
    merged = Person._base_manager.select_for_update().get(pk=merged.pk)
    before = capture([survivor.pk, merged.pk])
    for model, fks in person_links():
        _move_rows(model, fks, survivor, merged)
    changes = {
        name: value for name, (value, _pick, _why) in chosen.items() if getattr(survivor, name) != value
    }
    if merged.is_restricted and not survivor.is_restricted:
        changes["is_restricted"] = True  # the merged record's privacy is kept (its teams moved over)
    old = snapshot(survivor)
    for name, value in changes.items():
        setattr(survivor, name, value)
    survivor.save()
    record_change(
        survivor, action=ChangeRecord.Action.UPDATE, before=old, after=snapshot(survivor), actor=actor
    )
    record_change(merged, action=ChangeRecord.Action.DELETE, before=snapshot(merged), after={}, actor=actor)
    merged_id = merged.pk
    Person._base_manager.filter(pk=merged_id).delete()
    rebuild_keys([survivor.pk, merged_id])
    first, second = sorted((survivor.pk, merged_id))
    DuplicateCandidate.objects.update_or_create(
        first_id=first,
        second_id=second,
        defaults={
            "status": DuplicateCandidate.Status.MERGED,
            "decided_at": timezone.now(),
            "decided_by": actor_user(actor),
        },
        create_defaults={"score": 0.0, "status": DuplicateCandidate.Status.MERGED},
    )
    record = MergeRecord.objects.create(
        merged_id=merged_id,
        survivor_id=survivor.pk,
        merged_by=actor_user(actor),
        actor_label=str(getattr(actor, "username", "") or "system")[:200],
        choices={
            name: {"from": pick, "why": why, "value": _json_value(value)}
            for name, (value, pick, why) in chosen.items()
        },
        snapshot={"before": before, "after": capture([survivor.pk])},
    )
    emit_on_commit("person.merged", survivor, actor=actor, data={"merged_id": merged_id, "merge": record.pk})
    return record


def _primary_taken(model, fk, survivor):
    return model._base_manager.filter(**{fk.attname: survivor.pk, "is_primary": True}).exists()


def _move_rows(model, fks, survivor, merged):
    label = model._meta.label_lower
    dedupe = DEDUPE_KEYS.get(label)
    has_primary = any(f.name == "is_primary" for f in model._meta.concrete_fields)
    for fk in fks:
        kept = (
            {dedupe(r) for r in model._base_manager.filter(**{fk.attname: survivor.pk})} if dedupe else set()
        )
        for row in model._base_manager.filter(**{fk.attname: merged.pk}).order_by("pk"):
            setattr(row, fk.attname, survivor.pk)
            if dedupe and dedupe(row) in kept:
                model._base_manager.filter(pk=row.pk).delete()
                continue
            if has_primary and row.is_primary and _primary_taken(model, fk, survivor):
                row.is_primary = False  # the survivor's primary detail stays primary
            if (_constrained(model, fk) and _breaks_constraints(row)) or _mirrors_relationship(row):
                model._base_manager.filter(pk=row.pk).delete()
                continue
            values = {fk.attname: survivor.pk}
            if has_primary:
                values["is_primary"] = row.is_primary
            model._base_manager.filter(pk=row.pk).update(**values)
            if dedupe:
                kept.add(dedupe(row))


def _constrained(model, fk):
    """Whether a constraint of the model involves the link to the person (else moving cannot break one)."""
    meta = model._meta
    if any(f.unique and not f.primary_key and f.name == fk.name for f in meta.concrete_fields):
        return True
    if any(fk.name in fields for fields in meta.unique_together):
        return True
    for constraint in meta.constraints:
        fields = getattr(constraint, "fields", ()) or ()
        condition = getattr(constraint, "condition", None)
        if fk.name in fields or (condition is not None and fk.name in repr(condition)):
            return True
    return False


def _breaks_constraints(row):
    """Whether the moved row would break its model's unique or check constraints (it repeats a survivor's row)."""
    try:
        row.validate_unique()
        row.validate_constraints()
    except ValidationError:
        return True
    return False


def _mirrors_relationship(row):
    """A symmetric relationship whose mirror image the survivor already has (A spouse of B, B spouse of A)."""
    if not isinstance(row, Relationship) or not row.type.is_symmetric:
        return False
    return (
        Relationship.objects.filter(
            from_person_id=row.to_person_id, to_person_id=row.from_person_id, type_id=row.type_id
        )
        .exclude(pk=row.pk)
        .exists()
    )


def _restore(model, values):
    """Field values as Python objects, read back from their JSON form."""
    result = {}
    for f in model._meta.concrete_fields:
        value = values.get(f.attname)
        result[f.attname] = value if value is None else f.to_python(value)
    return result


def check_undo_merge(merge_record, *, actor):
    """Put back both people exactly as before the merge, unless the survivor has changed since."""
    if merge_record.undone_at:
        raise ValidationError(_("This merge was already undone."))
    survivor = Person.objects.filter(pk=merge_record.survivor_id).first()
    if survivor is None:
        later = (
            MergeRecord.objects.filter(merged_id=merge_record.survivor_id, undone_at__isnull=True)
            .order_by("-merged_at", "-id")
            .first()
        )
        if later is not None:
            raise ValidationError(
                _("Person %(id)s was merged into person %(into)s since; undo that merge first.")
                % {"id": merge_record.survivor_id, "into": later.survivor_id}
            )
        raise ValidationError(_("The surviving person no longer exists; this merge cannot be undone."))
    require_permission(actor, "change", survivor)
    return do_undo_merge(merge_record, actor=actor)


@transaction.atomic
def do_undo_merge(merge_record, *, actor):
    """Restore every row captured before the merge, with the same ids and values."""
    from kinfolk.identity.services import rebuild_keys

    merge_record = MergeRecord.objects.select_for_update().get(pk=merge_record.pk)
    if merge_record.undone_at:
        raise ValidationError(_("This merge was already undone."))
    before, after = merge_record.snapshot["before"], merge_record.snapshot["after"]
    now = capture([merge_record.survivor_id])
    # Pairs found by later duplicate runs are no change to the person: they are dropped and found again.
    pairs_label = DuplicateCandidate._meta.label_lower
    changed = sorted(
        str(apps.get_model(label)._meta.verbose_name_plural)
        for label in (set(now) | set(after)) - {pairs_label}
        if now.get(label) != after.get(label)
    )
    if changed:
        raise ValidationError(
            _("The surviving person has changed since the merge (%(what)s); undo those changes first.")
            % {"what": ", ".join(changed)}
        )
    ids = [merge_record.survivor_id, merge_record.merged_id]
    DuplicateCandidate.objects.filter(Q(first_id__in=ids) | Q(second_id__in=ids)).delete()
    order = ["people.person"] + [label for label in before if label != "people.person"]
    for label in order:
        model = apps.get_model(label)
        rows = before.get(label, {})
        gone = set(after.get(label, {})) - set(rows)
        model._base_manager.filter(pk__in=[int(pk) for pk in gone]).delete()
        existing = {
            str(pk)
            for pk in model._base_manager.filter(pk__in=[int(pk) for pk in rows]).values_list("pk", flat=True)
        }
        missing = [model(**_restore(model, v)) for pk, v in rows.items() if pk not in existing]
        model._base_manager.bulk_create(missing)
        for pk, values in rows.items():  # exact values, timestamps included (bulk_create sets auto_now)
            restored = _restore(model, values)
            restored.pop(model._meta.pk.attname)
            model._base_manager.filter(pk=int(pk)).update(**restored)
    for label in set(after) - set(before) - {pairs_label}:  # rows of a kind the two had none of before
        model = apps.get_model(label)
        model._base_manager.filter(pk__in=[int(pk) for pk in after[label]]).delete()
    merge_record.undone_at = timezone.now()
    merge_record.save(update_fields=["undone_at"])
    rebuild_keys([merge_record.survivor_id, merge_record.merged_id])
    survivor = Person.objects.get(pk=merge_record.survivor_id)
    merged = Person.objects.get(pk=merge_record.merged_id)
    record_change(merged, action=ChangeRecord.Action.CREATE, before={}, after=snapshot(merged), actor=actor)
    record_change(
        survivor,
        action=ChangeRecord.Action.UPDATE,
        before=_audit_view(after["people.person"][str(survivor.pk)]),
        after=snapshot(survivor),
        actor=actor,
    )
    emit_on_commit("person.updated", survivor, actor=actor, data={"fields": ["merge_undone"]})
    emit_on_commit("person.created", merged, actor=actor, data={"undone_merge": merge_record.pk})
    return merged


def _audit_view(values):
    """A captured Person row in the form the audit trail records (field names, audited fields only)."""
    from kinfolk.core.audit import audited_fields

    return {f.name: values.get(f.attname) for f in audited_fields(Person)}
