"""The one way people, organisations and their links change.

`check_*` validates client input and permission, then calls `do_*`; `do_*` trusts its
input, writes in one transaction, records ChangeRecords and queues events.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kinfolk.access.permissions import require_permission
from kinfolk.core.context import current_via
from kinfolk.core.models import ChangeRecord
from kinfolk.core.services import BulkUpdate, do_create, do_delete, do_update
from kinfolk.core.validation import clean_values
from kinfolk.identity import normalize as norm
from kinfolk.people.models import (
    Affiliation,
    EmailAddress,
    ExternalId,
    Household,
    HouseholdMember,
    List,
    ListMembership,
    Organisation,
    OrganisationTag,
    Person,
    PersonRestriction,
    PersonTag,
    PhoneNumber,
    PostalAddress,
    Relationship,
    RelationshipType,
    SocialProfile,
    Tag,
    compose_display_name,
)

PERSON_FIELDS = (
    "given_name",
    "middle_name",
    "family_name",
    "display_name",
    "preferred_name",
    "prefix",
    "suffix",
    "pronouns",
    "language",
    "time_zone",
    "country",
    "birth_date",
    "addressing_notes",
    "custom_field_data",
)
NAME_FIELDS = (
    "given_name",
    "middle_name",
    "family_name",
    "display_name",
    "preferred_name",
    "prefix",
    "suffix",
)


def _no_custom_fields(value):
    # Custom field definitions arrive with their own issue; until then nothing may be stored unvalidated.
    if value in (None, {}):
        return {}
    if not isinstance(value, dict):
        raise ValidationError(_("Expected an object of custom field values."))
    raise ValidationError(
        _("Unknown custom field(s) %(names)s; no custom fields are defined.")
        % {"names": ", ".join(map(str, value))}
    )


PERSON_NORMALIZERS = {
    **dict.fromkeys(NAME_FIELDS + ("pronouns",), norm.clean_text),
    "language": norm.normalize_language,
    "time_zone": norm.normalize_time_zone,
    "country": norm.normalize_country,
    "custom_field_data": _no_custom_fields,
}


class _CountryOf:
    """What detail validators read of a person being validated (its country), without building a Person."""

    def __init__(self, country):
        self.country = country if hasattr(country, "code") else _Code(country or "")


class _Code:
    def __init__(self, code):
        self.code = code


def _country_of(owner):
    return getattr(getattr(owner, "country", None), "code", None) or None


def _email_values(data, owner, prefix):
    values = clean_values(
        EmailAddress,
        data,
        allowed=("email", "kind", "is_primary", "status"),
        required=("email",),
        normalizers={"email": _email_pair},
        prefix=prefix,
    )
    if "email" in values:
        values["email"], values["normalized"] = values["email"]
    return values


def _email_pair(value):
    return norm.normalize_email(value)


def _phone_values(data, owner, prefix):
    if isinstance(data, dict):
        region = data.get("region") or _country_of(owner)
        data = {k: v for k, v in data.items() if k != "region"}
    else:
        region = None
    values = clean_values(
        PhoneNumber,
        data,
        allowed=("number", "kind", "is_primary"),
        required=("number",),
        normalizers={"number": lambda v: (norm.normalize_phone(v, region), norm.clean_text(v))},
        prefix=prefix,
    )
    if "number" in values:
        values["number"], values["original"] = values["number"]
    return values


def _address_values(data, owner, prefix):
    fields = ("kind", "street", "extended", "locality", "region", "postal_code", "country", "is_primary")
    text = dict.fromkeys(("kind", "street", "extended", "locality", "region", "postal_code"), norm.clean_text)

    def country(value):
        code = norm.normalize_country(value)
        if not code:
            raise ValidationError(_("A country is required, like DE or Germany."))
        return code

    return clean_values(
        PostalAddress,
        data,
        allowed=fields,
        required=("country",),
        normalizers={**text, "country": country},
        prefix=prefix,
    )


def _social_values(data, owner, prefix):
    values = clean_values(
        SocialProfile,
        data,
        allowed=("network", "handle", "url"),
        required=("network",),
        normalizers={"handle": norm.clean_text},
        prefix=prefix,
    )
    if (
        not values.get("handle")
        and not values.get("url")
        and ("handle" in data or "url" in data or not prefix)
    ):
        raise ValidationError({f"{prefix}handle": [_("Give a handle or a URL.")]})
    return values


def _external_id_values(data, owner, prefix):
    return clean_values(
        ExternalId,
        data,
        allowed=("system", "value"),
        required=("system", "value"),
        normalizers={"system": lambda v: norm.clean_text(v).lower(), "value": norm.clean_text},
        prefix=prefix,
    )


# Contact details: which model, and how client input for it is validated.
DETAILS = {
    "emails": (EmailAddress, _email_values),
    "phones": (PhoneNumber, _phone_values),
    "addresses": (PostalAddress, _address_values),
    "social_profiles": (SocialProfile, _social_values),
    "external_ids": (ExternalId, _external_id_values),
}
DETAIL_KIND = {model: kind for kind, (model, _v) in DETAILS.items()}


def _collect(errors, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
        return None


def validate_person(data, *, instance=None):
    """Clean a person's fields and nested details; one ValidationError lists every problem by field path."""
    if not isinstance(data, dict):
        raise ValidationError({"data": [_("Expected an object of field names and values.")]})
    errors = {}
    fields = {k: v for k, v in data.items() if k not in DETAILS and k != "restricted_to_teams"}
    cleaned = _collect(
        errors,
        clean_values,
        Person,
        fields,
        allowed=PERSON_FIELDS,
        normalizers=PERSON_NORMALIZERS,
        instance=instance,
    )
    values = cleaned or {}
    probe = _CountryOf(values.get("country") or (instance.country if instance else ""))
    details = {}
    for kind, (_model, validate) in DETAILS.items():
        items = data.get(kind, [])
        if not isinstance(items, list):
            errors[kind] = [_("Expected a list.")]
            continue
        details[kind] = [
            _collect(errors, validate, item, probe, f"{kind}[{i}].") for i, item in enumerate(items)
        ]
    if instance is None:
        # One bad field (a date, a country) must not also report "no name": judge by what was sent.
        names = values if cleaned is not None else fields
        named = any(
            isinstance(names.get(f), str) and names[f].strip()
            for f in ("given_name", "family_name", "display_name", "preferred_name")
        )
        if not named and not details.get("emails") and "given_name" not in errors:
            errors.setdefault("given_name", []).append(
                _("A person needs a name (given, family or display name) or an email address.")
            )
    _check_unique_in_payload(details, errors)
    if errors:
        raise ValidationError(errors)
    return values, details


def _check_unique_in_payload(details, errors):
    seen = set()
    for i, item in enumerate(details.get("emails") or []):
        if item and item["normalized"] in seen:
            errors.setdefault(f"emails[{i}].email", []).append(_("This email address is given twice."))
        elif item:
            seen.add(item["normalized"])
    seen_ids = set()
    for i, item in enumerate(details.get("external_ids") or []):
        if item and (item["system"], item["value"]) in seen_ids:
            errors.setdefault(f"external_ids[{i}].value", []).append(_("This external id is given twice."))
        elif item:
            seen_ids.add((item["system"], item["value"]))


_COMPOSED_FROM = ("given_name", "preferred_name", "family_name")


def _finish_person_values(values, instance=None):
    """Compose the display name from the name parts unless the user chose one of their own."""
    if values.get("display_name"):
        return values
    chosen = instance is not None and instance.display_name != instance.compose_display_name()
    if chosen and "display_name" not in values:
        return values  # a display name the user chose stays
    names = {k: values.get(k, getattr(instance, k) if instance else "") for k in _COMPOSED_FROM}
    composed = compose_display_name(**names)
    if composed:
        values["display_name"] = composed
    return values


# ---- people -------------------------------------------------------------------------------------


def check_create_person(*, data, actor, team=None):
    """Validate a new person with nested details and restriction, check permission, create it."""
    require_permission(actor, "create", Person())
    values, details = validate_person(data)
    restricted = data.get("restricted_to_teams") or []
    teams = _teams_for_restriction(restricted, actor) if restricted else []
    values = _finish_person_values(values)
    if not values.get("display_name") and details.get("emails"):
        values["display_name"] = details["emails"][0]["email"]
    return do_create_person(values=values, details=details, restricted_to=teams, team=team, actor=actor)


def _teams_for_restriction(team_ids, actor):
    from kinfolk.access.models import Team

    if not isinstance(team_ids, list):
        raise ValidationError({"restricted_to_teams": [_("Expected a list of team ids.")]})
    teams = list(Team.objects.filter(pk__in=[t for t in team_ids if isinstance(t, int)]))
    missing = sorted(set(team_ids) - {t.pk for t in teams}, key=str)
    if missing:
        raise ValidationError({"restricted_to_teams": [_("No team with id %(ids)s.") % {"ids": missing}]})
    if not actor.is_org_admin and not any(actor.has_role(t.pk, "member") for t in teams):
        raise ValidationError(
            {"restricted_to_teams": [_("Restrict a person to at least one of your own teams.")]}
        )
    return teams


@transaction.atomic
def do_create_person(*, values, details=None, restricted_to=(), team=None, actor):
    """Create a person with its details; restrictions are set before anyone else can see them."""
    if restricted_to:
        values = {**values, "is_restricted": True}
    person = do_create(Person, values=values, actor=actor)
    for team_ in restricted_to:
        PersonRestriction.objects.create(person=person, team=team_)
    for kind, items in (details or {}).items():
        for item in items:
            do_add_detail(person, DETAILS[kind][0], values=item, team=team, actor=actor, announce=False)
    from kinfolk.core.events import emit_on_commit

    emit_on_commit("person.created", person, actor=actor)
    return person


def check_update_person(person, *, changes, actor):
    """Validate a user's edit of a person's own fields, check permission, then apply it."""
    require_permission(actor, "change", person)
    if any(k in DETAILS for k in changes):
        raise ValidationError({k: [_("Change contact details one by one.")] for k in changes if k in DETAILS})
    values, _details = validate_person(changes, instance=person)
    values = _finish_person_values(values, instance=person)
    return do_update_person(person, changes=values, actor=actor)


def do_update_person(person, *, changes, actor):
    """Apply validated changes, record them, announce them after commit."""
    return do_update(person, changes=changes, actor=actor, event="person.updated")


def bulk_person_updates(*, actor):
    """do_update_person for many people, written together by its save() (imports): see core BulkUpdate."""
    return BulkUpdate(actor=actor, event="person.updated")


def check_delete_person(person, *, actor):
    require_permission(actor, "delete", person)
    return do_delete_person(person, actor=actor)


# What hangs off a person and goes with them, each removal recorded (relationships and activities too).
_PERSON_PARTS = (
    EmailAddress,
    PhoneNumber,
    PostalAddress,
    SocialProfile,
    ExternalId,
    Affiliation,
    HouseholdMember,
    PersonTag,
    ListMembership,
)


@transaction.atomic
def do_delete_people(people, *, actor):
    """do_delete_person for many people at once (undoing an import): the same records and events, a few
    statements per kind of detail instead of a few per detail."""
    from kinfolk.activities.models import Activity
    from kinfolk.core.audit import build_record, snapshot
    from kinfolk.core.events import emit_on_commit

    people = list(people)
    if not people:
        return 0
    ids = [p.pk for p in people]
    records = []

    def remove(objs):
        objs = list(objs)
        records.extend(
            build_record(o, action=ChangeRecord.Action.DELETE, before=snapshot(o), after={}, actor=actor)
            for o in objs
        )
        if objs:
            type(objs[0]).objects.filter(pk__in=[o.pk for o in objs]).delete()

    for model in _PERSON_PARTS:
        remove(model.objects.filter(person_id__in=ids))
    for rel in Relationship.objects.filter(Q(from_person_id__in=ids) | Q(to_person_id__in=ids)):
        do_delete_relationship(rel, actor=actor)  # the other person's history shows the unlink
    remove(Activity.objects.filter(person_id__in=ids))
    restrictions = {}
    for pid, team_id in PersonRestriction.objects.filter(person_id__in=ids).values_list(
        "person_id", "team_id"
    ):
        restrictions.setdefault(pid, []).append(team_id)
    for person in people:
        restricted_to = sorted(restrictions.get(person.pk, ())) if person.is_restricted else []
        emit_on_commit("person.deleted", person, actor=actor, data={"restricted_to_teams": restricted_to})
    remove(people)
    ChangeRecord.objects.bulk_create(records, batch_size=2000)
    return len(people)


@transaction.atomic
def do_delete_person(person, *, actor):
    """Delete a person and everything that hangs off them, each removal recorded."""
    for model in _PERSON_PARTS:
        for detail in model.objects.filter(person=person):
            do_delete(detail, actor=actor)
    for rel in Relationship.objects.involving(person):
        do_delete_relationship(rel, actor=actor)  # the other person's history shows the unlink
    from kinfolk.activities.models import Activity

    for activity in Activity.objects.filter(person=person):
        do_delete(activity, actor=actor)
    # The event names the teams a restricted person was shown to: once deleted, nothing else can tell.
    from kinfolk.core.events import emit_on_commit

    restricted_to = (
        sorted(person.restrictions.values_list("team_id", flat=True)) if person.is_restricted else []
    )
    emit_on_commit("person.deleted", person, actor=actor, data={"restricted_to_teams": restricted_to})
    return do_delete(person, actor=actor)


def check_set_restriction(person, *, team_ids, actor):
    """Restrict a person to the given teams (an empty list lifts the restriction)."""
    require_permission(actor, "change", person)
    teams = _teams_for_restriction(team_ids, actor) if team_ids else []
    return do_set_restriction(person, teams=teams, actor=actor)


@transaction.atomic
def do_set_restriction(person, *, teams, actor):
    before = sorted(person.restrictions.values_list("team_id", flat=True))
    PersonRestriction.objects.filter(person=person).exclude(team__in=teams).delete()
    for team in teams:
        PersonRestriction.objects.get_or_create(person=person, team=team)
    after = sorted(t.pk for t in teams)
    do_update(person, changes={"is_restricted": bool(teams)}, actor=actor)
    if before != after:
        from kinfolk.core.audit import record_change

        record_change(
            person,
            action=ChangeRecord.Action.UPDATE,
            before={"restricted_to_teams": before},
            after={"restricted_to_teams": after},
            actor=actor,
        )
    return person


# ---- contact details ----------------------------------------------------------------------------


def check_add_detail(owner, kind, *, data, actor, team=None):
    """Add an email/phone/address/social profile/external id to a person or an organisation."""
    if kind not in DETAILS:
        raise ValidationError({"kind": [_("Unknown detail %(kind)r.") % {"kind": kind}]})
    model, validate = DETAILS[kind]
    if kind == "emails" and not isinstance(owner, Person):
        raise ValidationError({"kind": [_("Organisations keep email domains, not addresses.")]})
    require_permission(actor, "change", owner)
    values = validate(data, owner, "")
    return do_add_detail(owner, model, values=values, team=team, actor=actor)


@transaction.atomic
def do_add_detail(owner, model, *, values, team=None, actor, announce=True):
    """Create a contact detail with its provenance; the first one of its kind becomes primary."""
    link = "person" if isinstance(owner, Person) else "organisation"
    values = {**values, link: owner, "added_by_team": team, "source": current_via().source}
    if hasattr(model, "is_primary"):
        siblings = model.objects.filter(**{link: owner})
        if values.get("is_primary"):
            for other in siblings.filter(is_primary=True):
                do_update(other, changes={"is_primary": False}, actor=actor)
        elif not siblings.exists():
            values["is_primary"] = True
    detail = do_create(model, values=values, actor=actor)
    if announce:
        _announce_owner(owner, actor, DETAIL_KIND[model])
    return detail


def _announce_owner(owner, actor, kind):
    from kinfolk.core.events import emit_on_commit

    event = "person.updated" if isinstance(owner, Person) else "organisation.updated"
    emit_on_commit(event, owner, actor=actor, data={"fields": [kind]})


def check_update_detail(detail, *, changes, actor):
    require_permission(actor, "change", detail)
    owner = detail.person if detail.person_id else detail.organisation
    _model, validate = DETAILS[DETAIL_KIND[type(detail)]]
    values = validate(changes, owner, "")
    return do_update_detail(detail, changes=values, actor=actor)


@transaction.atomic
def do_update_detail(detail, *, changes, actor):
    owner = detail.person if detail.person_id else detail.organisation
    link = "person" if detail.person_id else "organisation"
    if changes.get("is_primary"):
        for other in type(detail).objects.filter(**{link: owner}, is_primary=True).exclude(pk=detail.pk):
            do_update(other, changes={"is_primary": False}, actor=actor)
    do_update(detail, changes=changes, actor=actor)
    _announce_owner(owner, actor, DETAIL_KIND[type(detail)])
    return detail


def check_remove_detail(detail, *, actor):
    require_permission(actor, "change", detail)
    return do_remove_detail(detail, actor=actor)


@transaction.atomic
def do_remove_detail(detail, *, actor):
    """Remove a detail; if it was primary, the oldest remaining one becomes primary."""
    owner = detail.person if detail.person_id else detail.organisation
    link = "person" if detail.person_id else "organisation"
    was_primary = getattr(detail, "is_primary", False)
    record = do_delete(detail, actor=actor)
    if was_primary:
        successor = type(detail).objects.filter(**{link: owner}).order_by("id").first()
        if successor:
            do_update(successor, changes={"is_primary": True}, actor=actor)
    _announce_owner(owner, actor, DETAIL_KIND[type(detail)])
    return record


# ---- organisations ------------------------------------------------------------------------------

ORGANISATION_FIELDS = ("name", "kind", "domains", "website", "parent", "description", "custom_field_data")


def _domains(value):
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(_("Expected a list of domains like ['example.org']."))
    cleaned = []
    for raw in value:
        domain = norm.clean_text(raw).lower().lstrip("@")
        try:
            _name, normalized = norm.normalize_email(f"x@{domain}")
        except ValidationError as exc:
            raise ValidationError(
                _("%(domain)r is not a domain like example.org.") % {"domain": raw}
            ) from exc
        cleaned.append(normalized.split("@", 1)[1])
    return sorted(set(cleaned))


def validate_organisation(data, *, actor, instance=None):
    def parent(value):
        if value in (None, ""):
            return None
        found = (
            Organisation.objects.visible_to(actor).filter(pk=value).first()
            if isinstance(value, int)
            else None
        )
        if found is None:
            raise ValidationError(_("No organisation with this id."))
        if instance is not None and _is_descendant(found, instance):
            raise ValidationError(_("An organisation cannot be its own parent or ancestor."))
        return found

    values = clean_values(
        Organisation,
        data,
        allowed=ORGANISATION_FIELDS,
        required=("name",),
        instance=instance,
        normalizers={
            "name": norm.clean_text,
            "domains": _domains,
            "parent": parent,
            "custom_field_data": _no_custom_fields,
        },
    )
    return values


def _is_descendant(candidate, ancestor):
    node, hops = candidate, 0
    while node is not None and hops < 100:
        if node.pk == ancestor.pk:
            return True
        node, hops = node.parent, hops + 1
    return False


def check_create_organisation(*, data, actor):
    require_permission(actor, "create", Organisation())
    return do_create_organisation(values=validate_organisation(data, actor=actor), actor=actor)


def do_create_organisation(*, values, actor):
    return do_create(Organisation, values=values, actor=actor, event="organisation.created")


def check_update_organisation(organisation, *, changes, actor):
    require_permission(actor, "change", organisation)
    values = validate_organisation(changes, actor=actor, instance=organisation)
    return do_update(organisation, changes=values, actor=actor, event="organisation.updated")


def check_delete_organisation(organisation, *, actor):
    require_permission(actor, "delete", organisation)
    if organisation.children.exists():
        raise ValidationError(
            {
                "parent": [
                    ngettext(
                        "Move or delete its %(n)d child organisation first.",
                        "Move or delete its %(n)d child organisations first.",
                        count := organisation.children.count(),
                    )
                    % {"n": count}
                ]
            }
        )
    return do_delete_organisation(organisation, actor=actor)


@transaction.atomic
def do_delete_organisation(organisation, *, actor):
    for model in (Affiliation, PhoneNumber, PostalAddress, SocialProfile, ExternalId, OrganisationTag):
        for row in model.objects.filter(organisation=organisation):
            do_delete(row, actor=actor)
    return do_delete(organisation, actor=actor, event="organisation.deleted")


# ---- affiliations, relationships, households --------------------------------------------------

AFFILIATION_FIELDS = ("role", "title", "start_date", "end_date", "is_primary", "custom_field_data")


def _affiliation_values(data, instance=None):
    return clean_values(
        Affiliation,
        data,
        allowed=AFFILIATION_FIELDS,
        instance=instance,
        normalizers={
            "role": norm.clean_text,
            "title": norm.clean_text,
            "custom_field_data": _no_custom_fields,
        },
    )


def check_create_affiliation(person, organisation, *, data, actor):
    probe = Affiliation(person=person, organisation=organisation)
    require_permission(actor, "create", probe)
    values = _affiliation_values(data)
    return do_create_affiliation(person, organisation, values=values, actor=actor)


@transaction.atomic
def do_create_affiliation(person, organisation, *, values, actor):
    affiliation = do_create(
        Affiliation, values={**values, "person": person, "organisation": organisation}, actor=actor
    )
    _announce_owner(person, actor, "affiliations")
    return affiliation


def check_update_affiliation(affiliation, *, changes, actor):
    require_permission(actor, "change", affiliation)
    values = _affiliation_values(changes, instance=affiliation)
    do_update(affiliation, changes=values, actor=actor)
    _announce_owner(affiliation.person, actor, "affiliations")
    return affiliation


def check_delete_affiliation(affiliation, *, actor):
    require_permission(actor, "delete", affiliation)
    person = affiliation.person
    record = do_delete(affiliation, actor=actor)
    _announce_owner(person, actor, "affiliations")
    return record


RELATIONSHIP_TYPE_FIELDS = ("name", "forward_label", "reverse_label", "is_symmetric")


def check_create_relationship_type(*, data, actor):
    require_permission(actor, "create", RelationshipType())
    values = clean_values(
        RelationshipType,
        data,
        allowed=RELATIONSHIP_TYPE_FIELDS,
        required=("name", "forward_label"),
        normalizers=dict.fromkeys(("name", "forward_label", "reverse_label"), norm.clean_text),
    )
    if not values.get("reverse_label") or values.get("is_symmetric"):
        values["reverse_label"] = (
            values["forward_label"]
            if values.get("is_symmetric")
            else values.get("reverse_label") or values["forward_label"]
        )
    return do_create(RelationshipType, values=values, actor=actor)


def check_update_relationship_type(rtype, *, changes, actor):
    require_permission(actor, "change", rtype)
    values = clean_values(
        RelationshipType,
        changes,
        allowed=RELATIONSHIP_TYPE_FIELDS,
        instance=rtype,
        normalizers=dict.fromkeys(("name", "forward_label", "reverse_label"), norm.clean_text),
    )
    return do_update(rtype, changes=values, actor=actor)


def check_delete_relationship_type(rtype, *, actor):
    require_permission(actor, "delete", rtype)
    if rtype.relationships.exists():
        raise ValidationError(
            {
                "type": [
                    ngettext(
                        "%(n)d relationship uses this type; remove it first.",
                        "%(n)d relationships use this type; remove them first.",
                        count := rtype.relationships.count(),
                    )
                    % {"n": count}
                ]
            }
        )
    return do_delete(rtype, actor=actor)


def check_create_relationship(from_person, to_person, rtype, *, data=None, actor):
    """Link two people; the actor must be able to change both."""
    probe = Relationship(from_person=from_person, to_person=to_person, type=rtype)
    require_permission(actor, "create", probe)
    values = clean_values(
        Relationship,
        data or {},
        allowed=("start_date", "end_date", "note"),
        normalizers={"note": norm.clean_text},
    )
    return do_create_relationship(from_person, to_person, rtype, values=values, actor=actor)


@transaction.atomic
def do_create_relationship(from_person, to_person, rtype, *, values, actor):
    if (
        rtype.is_symmetric
        and Relationship.objects.filter(from_person=to_person, to_person=from_person, type=rtype).exists()
    ):
        raise ValidationError({"to_person": [_("These two people already have this relationship.")]})
    rel = do_create(
        Relationship,
        values={**values, "from_person": from_person, "to_person": to_person, "type": rtype},
        actor=actor,
    )
    from kinfolk.core.audit import record_change

    # The second person's history shows the link too.
    record_change(
        to_person, action=ChangeRecord.Action.LINK, before={}, after={"relationship": str(rel)}, actor=actor
    )
    _announce_owner(from_person, actor, "relationships")
    _announce_owner(to_person, actor, "relationships")
    return rel


def check_delete_relationship(rel, *, actor):
    require_permission(actor, "delete", rel)
    return do_delete_relationship(rel, actor=actor)


@transaction.atomic
def do_delete_relationship(rel, *, actor):
    from kinfolk.core.audit import record_change

    record_change(
        rel.to_person,
        action=ChangeRecord.Action.UNLINK,
        before={"relationship": str(rel)},
        after={},
        actor=actor,
    )
    return do_delete(rel, actor=actor)


def check_create_household(*, data, actor):
    require_permission(actor, "create", Household())
    values = clean_values(
        Household, data, allowed=("name",), required=("name",), normalizers={"name": norm.clean_text}
    )
    return do_create(Household, values=values, actor=actor)


def check_add_household_member(household, person, *, role="", head=False, actor):
    require_permission(actor, "change", household)
    require_permission(actor, "change", person)
    if HouseholdMember.objects.filter(household=household, person=person).exists():
        raise ValidationError(
            {
                "person": [
                    _("%(person)s is already in %(household)s.") % {"person": person, "household": household}
                ]
            }
        )
    return do_add_household_member(household, person, role=norm.clean_text(role), head=head, actor=actor)


@transaction.atomic
def do_add_household_member(household, person, *, role, head, actor):
    member = do_create(
        HouseholdMember, values={"household": household, "person": person, "role": role}, actor=actor
    )
    if head:
        do_update(household, changes={"head": person}, actor=actor)
    return member


@transaction.atomic
def check_add_housemate(person, other, *, role="", actor):
    """Put `other` in `person`'s household; the first time, the household is made with `person` at its head."""
    membership = HouseholdMember.objects.visible_to(actor).filter(person=person).select_related("household")
    membership = membership.first()
    if membership is None:
        name = _("%(name)s household") % {"name": person.family_name or person}
        household = check_create_household(data={"name": name}, actor=actor)
        check_add_household_member(household, person, head=True, actor=actor)
    else:
        household = membership.household
    return check_add_household_member(household, other, role=role, actor=actor)


@transaction.atomic
def check_remove_household_member(member, *, actor):
    # Atomic: clearing the head and removing the member happen together or not at all.
    require_permission(actor, "change", member)
    household = member.household
    if household.head_id == member.person_id:
        do_update(household, changes={"head": None}, actor=actor)
    return do_delete(member, actor=actor)


# ---- tags and lists -----------------------------------------------------------------------------


def check_create_tag(*, data, team=None, actor):
    require_permission(actor, "create", Tag(team=team))
    values = clean_values(
        Tag, data, allowed=("name", "color"), required=("name",), normalizers={"name": norm.clean_text}
    )
    if values.get("color") and not (len(values["color"]) == 7 and values["color"].startswith("#")):
        raise ValidationError({"color": [_("%(v)r: expected #RRGGBB.") % {"v": values["color"]}]})
    return do_create(Tag, values={**values, "team": team}, actor=actor)


def check_delete_tag(tag, *, actor):
    require_permission(actor, "delete", tag)
    return do_delete(tag, actor=actor)


def _tagging_team(tag, team):
    if tag.team_id and team and tag.team_id != team.pk:
        raise ValidationError({"tag": [_("Tag %(tag)r belongs to another team.") % {"tag": tag.name}]})
    chosen = team or tag.team
    if chosen is None:
        raise ValidationError({"team": [_("Say on behalf of which team the tag is applied.")]})
    return chosen


def check_tag(target, tag, *, team=None, actor):
    """Tag a person or an organisation on behalf of a team."""
    team = _tagging_team(tag, team)
    model = PersonTag if isinstance(target, Person) else OrganisationTag
    link = "person" if isinstance(target, Person) else "organisation"
    require_permission(actor, "view", target)
    require_permission(actor, "create", model(**{link: target}, tag=tag, team=team))
    existing = model.objects.filter(**{link: target}, tag=tag).first()
    if existing:
        return existing
    tagging = do_create(model, values={link: target, "tag": tag, "team": team}, actor=actor)
    _announce_owner(target, actor, "tags")
    return tagging


def check_untag(tagging, *, actor):
    require_permission(actor, "delete", tagging)
    target = tagging.person if isinstance(tagging, PersonTag) else tagging.organisation
    record = do_delete(tagging, actor=actor)
    _announce_owner(target, actor, "tags")
    return record


def check_create_list(*, team, data, actor):
    require_permission(actor, "create", List(team=team))
    values = clean_values(
        List, data, allowed=("name", "description"), required=("name",), normalizers={"name": norm.clean_text}
    )
    return do_create(List, values={**values, "team": team}, actor=actor, event="list.created")


def check_update_list(list_, *, changes, actor):
    require_permission(actor, "change", list_)
    values = clean_values(
        List, changes, allowed=("name", "description"), instance=list_, normalizers={"name": norm.clean_text}
    )
    return do_update(list_, changes=values, actor=actor, event="list.updated")


def check_delete_list(list_, *, actor):
    require_permission(actor, "delete", list_)
    return do_delete_list(list_, actor=actor)


@transaction.atomic
def do_delete_list(list_, *, actor):
    for membership in list_.memberships.all():
        do_delete(membership, actor=actor)
    return do_delete(list_, actor=actor, event="list.deleted")


def check_add_to_list(list_, person, *, actor):
    require_permission(actor, "view", person)
    require_permission(actor, "create", ListMembership(list=list_, person=person, team_id=list_.team_id))
    existing = ListMembership.objects.filter(list=list_, person=person).first()
    if existing:
        return existing
    return do_create(
        ListMembership,
        values={
            "list": list_,
            "person": person,
            "team_id": list_.team_id,
            "added_by": actor if getattr(actor, "pk", None) else None,
        },
        actor=actor,
        event="list.member_added",
    )


def check_remove_from_list(membership, *, actor):
    require_permission(actor, "delete", membership)
    return do_delete(membership, actor=actor, event="list.member_removed")


# ---- upsert: create or update a person by external id or email --------------------------------

BULK_LIMIT = 1000


def _detail_key(kind, item):
    """What makes two details of a kind the same, from the cleaned values."""
    if kind == "emails":
        return item["normalized"]
    if kind == "phones":
        return item["number"]
    if kind == "external_ids":
        return (item["system"], item["value"])
    if kind == "addresses":
        return (item.get("street", "").lower(), item.get("postal_code", "").lower(), str(item["country"]))
    return (item["network"], item.get("handle") or item.get("url") or "")


def _existing_keys(person, kind):
    model = DETAILS[kind][0]
    rows = model.objects.filter(person=person)
    if kind == "emails":
        return set(rows.values_list("normalized", flat=True))
    if kind == "phones":
        return set(rows.values_list("number", flat=True))
    if kind == "external_ids":
        return set(rows.values_list("system", "value"))
    if kind == "addresses":
        return {(s.lower(), p.lower(), c) for s, p, c in rows.values_list("street", "postal_code", "country")}
    return {(n, h or u) for n, h, u in rows.values_list("network", "handle", "url")}


def find_upsert_match(details, *, actor):
    """The visible person that cleaned details name: by external id first, then by email; (person, how)."""
    from kinfolk.identity.services import resolve_person_id

    visible = Person.objects.visible_to(actor)
    for item in details.get("external_ids") or ():
        found = (
            ExternalId.objects.filter(system=item["system"], value=item["value"], person__isnull=False)
            .values_list("person_id", flat=True)
            .first()
        )
        if found is not None:
            person = visible.filter(pk=resolve_person_id(found)).first()
            if person is not None:
                return person, "external_id"
    for item in details.get("emails") or ():
        # The few people with this address first (by its index), then which of them the actor sees:
        # asked the other way round, "among everyone visible, who has this address", the database
        # may walk every visible person (a third of a second at a million people).
        holders = list(
            EmailAddress.objects.filter(normalized=item["normalized"], person__isnull=False)
            .order_by("-is_primary", "person_id")
            .values_list("person_id", flat=True)
        )
        for start in range(0, len(holders), 500):  # an address many people share: in bounded IN lists
            chunk = holders[start : start + 500]
            seen = {p.pk: p for p in visible.filter(pk__in=chunk)}
            found = next((seen[pk] for pk in chunk if pk in seen), None)
            if found is not None:
                return found, "email"
    return None, None


@transaction.atomic
def check_upsert_person(*, data, actor, team=None):
    """Create a person, or update the visible one that data's external ids or emails already name.

    On a match, the person's fields that data gives non-empty are changed and the details it does not
    have yet are added; nothing is removed. Returns (person, outcome, matched_by): outcome is
    'created' or 'updated'; matched_by is 'external_id', 'email' or None.
    """
    if not isinstance(data, dict):
        raise ValidationError({"data": [_("Expected an object of field names and values.")]})
    _values, details = validate_person(data, instance=Person())  # every field checked; no name needed yet
    person, matched_by = find_upsert_match(details, actor=actor)
    if person is None:
        return check_create_person(data=data, actor=actor, team=team), "created", None
    changes = {
        k: v
        for k, v in data.items()
        if k not in DETAILS and k != "restricted_to_teams" and v not in ("", None, {}, [])
    }
    if changes:
        check_update_person(person, changes=changes, actor=actor)
    else:
        require_permission(actor, "change", person)
    for kind in DETAILS:
        have = _existing_keys(person, kind) if details.get(kind) else set()
        for raw, cleaned in zip(data.get(kind) or (), details.get(kind) or (), strict=True):
            key = _detail_key(kind, cleaned)
            if key not in have:
                check_add_detail(person, kind, data=raw, actor=actor, team=team)
                have.add(key)
    return person, "updated", matched_by


def check_bulk_upsert_people(items, *, actor, team=None):
    """Upsert up to BULK_LIMIT people; one bad item never stops the others.

    Returns one result per item, in order: {"index", "status": created|updated|error, "id",
    "matched_by", "errors": [{"field", "message"}]}.
    """
    from django.core.exceptions import PermissionDenied

    from kinfolk.core.events import collected_events

    if not isinstance(items, list):
        raise ValidationError({"people": [_("Expected a list of people.")]})
    if not items:
        raise ValidationError({"people": [_("Send at least one person.")]})
    if len(items) > BULK_LIMIT:
        raise ValidationError(
            {
                "people": [
                    _("At most %(limit)d people per request; this one has %(n)d.")
                    % {"limit": BULK_LIMIT, "n": len(items)}
                ]
            }
        )
    results = []
    # One commit for the batch, each item in its own savepoint; the batch's events are dispatched
    # together, so that matching keys, the search index and webhooks are brought up to date set-wise.
    with transaction.atomic(), collected_events():
        for index, item in enumerate(items):
            try:
                with transaction.atomic():
                    person, outcome, matched_by = check_upsert_person(data=item, actor=actor, team=team)
            except ValidationError as exc:
                errors = (
                    [{"field": k, "message": m} for k, ms in exc.message_dict.items() for m in ms]
                    if hasattr(exc, "error_dict")
                    else [{"field": "", "message": m} for m in exc.messages]
                )
                results.append({"index": index, "status": "error", "id": None, "errors": errors})
            except PermissionDenied as exc:
                results.append(
                    {
                        "index": index,
                        "status": "error",
                        "id": None,
                        "errors": [{"field": "", "message": str(exc)}],
                    }
                )
            else:
                results.append(
                    {
                        "index": index,
                        "status": outcome,
                        "id": person.pk,
                        "matched_by": matched_by,
                        "errors": [],
                    }
                )
    return results
