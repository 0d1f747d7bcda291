"""The person page and everything done on it: inline edits, details, timeline, relationships, tags, lists."""

import math
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.http import Http404
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kinfolk.access.models import Team, User
from kinfolk.access.scoping import writable_team_ids
from kinfolk.activities.models import Activity
from kinfolk.activities.services import check_complete_task, check_create_activity
from kinfolk.core.models import ChangeRecord
from kinfolk.identity.services import find_possible_duplicates
from kinfolk.people import services as ps
from kinfolk.people.models import (
    Affiliation,
    EmailAddress,
    ExternalId,
    HouseholdMember,
    List,
    ListMembership,
    Organisation,
    Person,
    PersonTag,
    PhoneNumber,
    PostalAddress,
    Relationship,
    RelationshipType,
    SocialProfile,
    Tag,
)
from kinfolk.people.timeline import parse_timeline_cursor, person_timeline, timeline_cursor
from kinfolk.web.models import Follow
from kinfolk.web.services import check_follow, check_unfollow
from kinfolk.web.timeline import TimelineRenderer
from kinfolk.web.views.common import (
    as_id,
    call_service,
    partial_or_redirect,
    post_data,
    posted_id,
    visible_or_404,
)

# The person's own fields a user edits in place (the display name follows the names).
PERSON_EDIT_FIELDS = tuple(f for f in ps.PERSON_FIELDS if f not in ("display_name", "custom_field_data"))
DETAIL_MODELS = {
    "emails": EmailAddress,
    "phones": PhoneNumber,
    "addresses": PostalAddress,
    "social_profiles": SocialProfile,
    "external_ids": ExternalId,
}
DETAIL_FIELDS = {
    "emails": ("email", "kind"),
    "phones": ("number", "kind"),
    "addresses": ("street", "postal_code", "locality", "region", "country", "kind"),
    "social_profiles": ("network", "handle", "url"),
    "external_ids": ("system", "value"),
}
TIMELINE_KINDS = [*Activity.Kind.values, "relationship", "change"]
TIMELINE_LIMIT = 200
GRAPH_SIZE, GRAPH_RADIUS, GRAPH_NODES = 320, 120, 12


def _get_person(request, pk):
    """The person (404 if hidden), with whether the user follows them read in the same query."""
    following = Follow.objects.filter(user=request.user, person=OuterRef("pk"))
    return visible_or_404(Person, request.user, pk, Person.objects.annotate(following=Exists(following)))


def _timeline_filters(request):
    chosen = [k for k in request.GET.getlist("show") if k in TIMELINE_KINDS] or TIMELINE_KINDS
    team = as_id(request.GET.get("team"))
    team_ids = [team] if team else None
    return chosen, team_ids


def timeline_items(person, actor, chosen, team_ids, *, before=None, limit=TIMELINE_LIMIT, relationships=None):
    """The person's timeline as the page shows it: activities, relationships and changes to their record."""
    activity_kinds = [k for k in chosen if k in Activity.Kind.values]
    kinds = set()
    if activity_kinds:
        kinds.add("activity")
    if "relationship" in chosen:
        kinds.add("relationship")
    if "change" in chosen and not team_ids:
        kinds.add("change")
    if not kinds:
        return []
    return person_timeline(
        person,
        actor=actor,
        limit=limit,
        kinds=kinds,
        team_ids=team_ids,
        activity_kinds=activity_kinds,
        # Activities and relationships have items of their own; their change records would say it twice.
        skip_changes_of=(Activity, Relationship),
        before=before,
        relationships=relationships,
    )


def timeline_renderer(request, person):
    return TimelineRenderer(csrf_token=get_token(request), back_url=reverse("web:person", args=[person.pk]))


def timeline_context(request, person, *, relationships=None, renderer=None):
    """One page of the timeline (the newest, or the one older than ?before=) and the link to the next.

    relationships: the person's visible relationships, when the caller has read them already.
    """
    chosen, team_ids = _timeline_filters(request)
    before = parse_timeline_cursor(request.GET.get("before"))
    items = timeline_items(
        person,
        request.user,
        chosen,
        team_ids,
        before=before,
        limit=TIMELINE_LIMIT + 1,
        relationships=relationships,
    )
    more = None
    if len(items) > TIMELINE_LIMIT:
        items = items[:TIMELINE_LIMIT]
        query = [("show", k) for k in chosen] + ([("team", team_ids[0])] if team_ids else [])
        more = urlencode([*query, ("before", timeline_cursor(items[-1]))])
    renderer = renderer or timeline_renderer(request, person)
    return {
        "timeline": [renderer.item(item) for item in items],
        "timeline_kinds": [(k, k in chosen) for k in TIMELINE_KINDS],
        "timeline_team": team_ids[0] if team_ids else None,
        "timeline_older": before is not None,
        "timeline_more": more,
    }


def relationship_graph(person, relationships):
    """Nodes and edges of a small graph: the person in the middle, the people they are tied to around them."""
    centre = GRAPH_SIZE / 2
    others = []
    for rel in relationships:
        other = rel.other(person)
        if all(o["id"] != other.pk for o in others):
            others.append({"id": other.pk, "name": str(other), "label": rel.label_for(person)})
    others = others[:GRAPH_NODES]
    for i, node in enumerate(others):
        angle = 2 * math.pi * i / max(len(others), 1) - math.pi / 2
        node["x"] = round(centre + GRAPH_RADIUS * math.cos(angle), 1)
        node["y"] = round(centre + GRAPH_RADIUS * math.sin(angle), 1)
        node["short"] = node["name"][:16]
    return {"size": GRAPH_SIZE, "centre": centre, "nodes": others, "name": str(person)[:16]}


def person_context(request, person, *, errors=None, editing=None):
    """Everything the person page shows, read in a fixed number of queries."""
    actor = request.user
    relationships = list(
        Relationship.objects.visible_to(actor)
        .filter(Q(from_person=person) | Q(to_person=person))
        .select_related("type", "from_person", "to_person")
        .order_by("type__name", "id")
    )
    # The person's households and everyone in them, in one query.
    household_places = list(
        HouseholdMember.objects.visible_to(actor)
        .filter(
            household_id__in=HouseholdMember.objects.visible_to(actor)
            .filter(person=person)
            .values("household_id")
        )
        .select_related("person", "household")
        .order_by("household_id", "id")
    )
    households = [m for m in household_places if m.person_id == person.pk]
    housemates = [m for m in household_places if m.person_id != person.pk]
    affiliations = list(
        Affiliation.objects.visible_to(actor).filter(person=person).select_related("organisation")
    )
    can_edit = person.allows(actor, "change") or actor.is_org_admin
    renderer = timeline_renderer(request, person)
    history = [
        renderer.history(c)
        for c in ChangeRecord.objects.visible_to(actor)
        .filter(person_id=person.pk)
        .select_related("object_type")
        .order_by("-time", "-id")[:30]
    ]
    teams = list(Team.objects.order_by("name"))
    writable = writable_team_ids(actor)
    my_teams = [t for t in teams if t.pk in writable]
    return {
        **timeline_context(request, person, relationships=relationships, renderer=renderer),
        "person": person,
        "can_edit": can_edit,
        "errors": errors or {},
        "editing": editing,
        "editing_email": int(editing[7:])
        if editing and editing.startswith("emails-") and editing[7:].isdigit()
        else None,
        "form": request.POST if request.method == "POST" and errors else {},
        "emails": list(
            EmailAddress.objects.visible_to(actor).filter(person=person).order_by("-is_primary", "id")
        ),
        "phones": list(
            PhoneNumber.objects.visible_to(actor).filter(person=person).order_by("-is_primary", "id")
        ),
        "addresses": list(PostalAddress.objects.visible_to(actor).filter(person=person)),
        "social_profiles": list(SocialProfile.objects.visible_to(actor).filter(person=person)),
        "external_ids": list(ExternalId.objects.visible_to(actor).filter(person=person)),
        "affiliations": affiliations,
        "relationships": [
            {"obj": r, "label": r.label_for(person), "other": r.other(person)} for r in relationships
        ],
        "graph": relationship_graph(person, relationships),
        "households": households,
        "housemates": housemates,
        "tags": list(PersonTag.objects.visible_to(actor).filter(person=person).select_related("tag", "team")),
        "lists": list(
            ListMembership.objects.visible_to(actor).filter(person=person).select_related("list", "team")
        ),
        "history": history,
        "following": person.following
        if hasattr(person, "following")
        else Follow.objects.filter(user=actor, person=person).exists(),
        "my_teams": my_teams,
        "teams": teams,
        "all_tags": list(Tag.objects.visible_to(actor).select_related("team").order_by("name")),
        "writable_lists": list(
            List.objects.filter(team_id__in=[t.pk for t in my_teams]).select_related("team")
        ),
        "relationship_types": list(RelationshipType.objects.visible_to(actor)),
        "assignees": list(User.objects.visible_to(actor).filter(is_active=True).order_by("username")),
        "activity_kinds": [c for c in Activity.Kind.choices if c[0] != Activity.Kind.EVENT],
        "edit_fields": PERSON_EDIT_FIELDS,
        "field_labels": {f: Person._meta.get_field(f).verbose_name for f in PERSON_EDIT_FIELDS},
    }


@login_required
def person(request, pk):
    try:
        person = _get_person(request, pk)
    except Http404:
        # A merged-away person's address leads to the survivor (if the user may see them).
        from kinfolk.identity.services import resolve_person_id

        survivor = resolve_person_id(pk)
        if survivor == pk or not Person.objects.visible_to(request.user).filter(pk=survivor).exists():
            raise
        return redirect("web:person", pk=survivor)
    if request.htmx and request.htmx.target == "timeline-items":
        # "Show older": only the next page of items, and the link after it.
        context = {"person": person, **timeline_context(request, person)}
        return render(request, "web/partials/person_timeline_page.html", context)
    context = person_context(request, person, editing=request.GET.get("edit"))
    if request.htmx and request.htmx.target == "person-timeline":
        return render(request, "web/partials/person_timeline.html", context)
    return render(request, "web/person.html", context)


def _section(request, person, section, *, errors=None, editing=None):
    """After a change: the section again (htmx), or the whole page (post/redirect/get)."""
    context = person_context(request, person, errors=errors, editing=editing)
    if errors and not request.htmx:
        return render(request, "web/person.html", context, status=400)
    return partial_or_redirect(
        request, f"web/partials/person_{section}.html", context, reverse("web:person", args=[person.pk])
    )


@login_required
def duplicates(request, pk):
    """The possible duplicates panel, loaded after the page: matching is the slowest part of it."""
    person = _get_person(request, pk)
    found = find_possible_duplicates(person, actor=request.user, limit=5)
    context = {"person": person, "duplicates": found, "loaded": True}
    if request.htmx:
        return render(request, "web/partials/person_duplicates.html", context)
    return render(request, "web/person_duplicates.html", context)


@login_required
def person_new(request):
    """Add a person: names and, optionally, an email address and a phone number."""
    errors, form = {}, {}
    if request.method == "POST":
        form = request.POST
        data = post_data(request, ("given_name", "family_name", "pronouns", "country"))
        if request.POST.get("email"):
            data["emails"] = [{"email": request.POST["email"]}]
        if request.POST.get("phone"):
            data["phones"] = [{"number": request.POST["phone"]}]
        team = Team.objects.filter(pk__in=writable_team_ids(request.user)).order_by("name").first()
        created, errors = call_service(
            request, ps.check_create_person, data=data, team=team, actor=request.user
        )
        if created:
            messages.success(request, _("%(name)s added.") % {"name": created})
            return redirect("web:person", pk=created.pk)
        errors = {
            k.replace("emails[0].", "").replace("phones[0].number", "phone"): v for k, v in errors.items()
        }
    return render(
        request, "web/person_new.html", {"errors": errors, "form": form}, status=400 if errors else 200
    )


@login_required
def person_edit(request, pk):
    """The person's own fields: a form in place of the facts (htmx), saved by check_update_person."""
    person = _get_person(request, pk)
    if request.method == "POST":
        changes = post_data(request, PERSON_EDIT_FIELDS)
        updated, errors = call_service(request, ps.check_update_person, person, changes=changes, actor=request.user,
                                       success=_("Saved."))  # fmt: skip
        if errors:
            person.refresh_from_db()
            return _section(request, person, "facts", errors=errors, editing="facts")
        return _section(request, updated, "facts")
    return render(request, "web/partials/person_facts.html", person_context(request, person, editing="facts"))


@login_required
@require_POST
def detail_add(request, pk, kind):
    person = _get_person(request, pk)
    if kind not in DETAIL_MODELS:
        raise Http404
    data = post_data(request, DETAIL_FIELDS[kind])
    team = Team.objects.filter(pk__in=writable_team_ids(request.user)).order_by("name").first()
    _detail, errors = call_service(request, ps.check_add_detail, person, kind, data=data, team=team,
                                   actor=request.user, success=_("Added."))  # fmt: skip
    return _section(request, person, "identities", errors={f"add_{k}": v for k, v in errors.items()} or None)


@login_required
def detail_edit(request, pk, kind, detail_pk):
    """Change one email, phone…: errors are shown next to the field, and nothing is saved."""
    person = _get_person(request, pk)
    if kind not in DETAIL_MODELS:
        raise Http404
    detail = visible_or_404(
        DETAIL_MODELS[kind], request.user, detail_pk, DETAIL_MODELS[kind].objects.filter(person=person)
    )
    editing = f"{kind}-{detail.pk}"
    if request.method != "POST":
        return render(
            request, "web/partials/person_identities.html", person_context(request, person, editing=editing)
        )
    changes = post_data(request, DETAIL_FIELDS[kind])
    _done, errors = call_service(request, ps.check_update_detail, detail, changes=changes, actor=request.user,
                                 success=_("Saved."))  # fmt: skip
    if errors:
        return _section(request, person, "identities", errors=errors, editing=editing)
    return _section(request, person, "identities")


@login_required
@require_POST
def detail_remove(request, pk, kind, detail_pk):
    person = _get_person(request, pk)
    if kind not in DETAIL_MODELS:
        raise Http404
    detail = visible_or_404(
        DETAIL_MODELS[kind], request.user, detail_pk, DETAIL_MODELS[kind].objects.filter(person=person)
    )
    call_service(request, ps.check_remove_detail, detail, actor=request.user, success=_("Removed."))
    return _section(request, person, "identities")


def _aware(value):
    """A date or date-time from a form field, in the user's time zone."""

    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            return value  # the service reports the bad value by name
        from datetime import datetime, time

        parsed = datetime.combine(day, time(9))
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


def activity_data(request):
    data = post_data(request, ("kind", "subject", "body"))
    if request.POST.get("due_at"):
        data["due_at"] = _aware(request.POST["due_at"])
    return data


@login_required
@require_POST
def activity_add(request, pk):
    """Add a note, log a call or create a task from the person's timeline."""
    person = _get_person(request, pk)
    team = Team.objects.filter(pk__in=writable_team_ids(request.user), pk=posted_id(request, "team")).first()
    if team is None:
        return _section(
            request, person, "timeline", errors={"activity_team": [_("Choose one of your teams.")]}
        )
    assignee = None
    data = activity_data(request)
    if data.get("kind") == Activity.Kind.TASK:
        assignee = User.objects.filter(
            pk=posted_id(request, "assignee") or request.user.pk, is_active=True
        ).first()
    _activity, errors = call_service(request, check_create_activity, team=team, person=person, data=data,
                                     assignee=assignee, actor=request.user, success=_("Added to the timeline."))  # fmt: skip
    return _section(
        request, person, "timeline", errors={f"activity_{k}": v for k, v in errors.items()} or None
    )


@login_required
@require_POST
def activity_complete(request, pk):
    activity = visible_or_404(Activity, request.user, pk)
    call_service(request, check_complete_task, activity, actor=request.user, done=request.POST.get("done") != "0",
                 success=_("Task updated."))  # fmt: skip
    target = reverse("web:person", args=[activity.person_id]) if activity.person_id else reverse("web:home")
    from kinfolk.web.views.common import safe_next

    return redirect(safe_next(request, target))


@login_required
@require_POST
def relationship_add(request, pk):
    """Tie this person to another: 'mentor of' reads forward, 'mentee of' is the same type backwards."""
    person = _get_person(request, pk)
    other = Person.objects.visible_to(request.user).filter(pk=posted_id(request, "other")).first()
    type_value = request.POST.get("type", "")
    type_pk, _sep, direction = type_value.partition(":")
    rtype = RelationshipType.objects.filter(pk=as_id(type_pk)).first()
    errors = {}
    if other is None:
        errors["rel_other"] = [_("Find and choose the other person.")]
    if rtype is None:
        errors["rel_type"] = [_("Choose how they are related.")]
    if errors:
        messages.error(request, " ".join(m for ms in errors.values() for m in ms))
        return _section(request, person, "relationships", errors=errors)
    first, second = (person, other) if direction != "r" else (other, person)
    _rel, errs = call_service(request, ps.check_create_relationship, first, second, rtype, actor=request.user,
                              success=_("Relationship added."))  # fmt: skip
    return _section(request, person, "relationships", errors={f"rel_{k}": v for k, v in errs.items()} or None)


@login_required
@require_POST
def relationship_remove(request, pk, rel_pk):
    person = _get_person(request, pk)
    rel = visible_or_404(Relationship, request.user, rel_pk, Relationship.objects.involving(person))
    call_service(
        request, ps.check_delete_relationship, rel, actor=request.user, success=_("Relationship removed.")
    )
    return _section(request, person, "relationships")


@login_required
@require_POST
def household_add(request, pk):
    """Put someone in this person's household; the first one makes the household, with this person at its head."""
    person = _get_person(request, pk)
    other = Person.objects.visible_to(request.user).filter(pk=posted_id(request, "other")).first()
    if other is None or other.pk == person.pk:
        errors = {"hh_other": [_("Find and choose the person who lives with them.")]}
        messages.error(request, errors["hh_other"][0])
        return _section(request, person, "households", errors=errors)
    _member, errs = call_service(request, ps.check_add_housemate, person, other, role=request.POST.get("role", ""),
                                 actor=request.user, success=_("%(name)s added to the household.") % {"name": other})  # fmt: skip
    return _section(request, person, "households", errors={f"hh_{k}": v for k, v in errs.items()} or None)


@login_required
@require_POST
def household_remove(request, pk, member_pk):
    """Take someone out of a household this person is in (themselves included)."""
    person = _get_person(request, pk)
    households = HouseholdMember.objects.filter(person=person).values("household_id")
    member = visible_or_404(
        HouseholdMember, request.user, member_pk, HouseholdMember.objects.filter(household_id__in=households)
    )
    call_service(request, ps.check_remove_household_member, member, actor=request.user,
                 success=_("%(name)s left the household.") % {"name": member.person})  # fmt: skip
    return _section(request, person, "households")


AFFILIATION_FORM_FIELDS = ("role", "title", "start_date", "end_date")


@login_required
@require_POST
def affiliation_add(request, pk):
    """Tie this person to an organisation, with a role or title and dates."""
    person = _get_person(request, pk)
    organisation = Organisation.objects.visible_to(request.user).filter(pk=posted_id(request, "organisation"))
    organisation = organisation.first()
    if organisation is None:
        errors = {"aff_organisation": [_("Find and choose the organisation.")]}
        messages.error(request, errors["aff_organisation"][0])
        return _section(request, person, "affiliations", errors=errors)
    data = {k: v for k, v in post_data(request, AFFILIATION_FORM_FIELDS).items() if v.strip()}
    data["is_primary"] = request.POST.get("is_primary") == "on"
    _aff, errs = call_service(request, ps.check_create_affiliation, person, organisation, data=data,
                              actor=request.user, success=_("Added to %(organisation)s.") % {"organisation": organisation})  # fmt: skip
    return _section(request, person, "affiliations", errors={f"aff_{k}": v for k, v in errs.items()} or None)


@login_required
@require_POST
def affiliation_end(request, pk, aff_pk):
    """Mark an affiliation as past: it ends today (or on the date given) and stays in the record."""
    person = _get_person(request, pk)
    affiliation = visible_or_404(Affiliation, request.user, aff_pk, Affiliation.objects.filter(person=person))
    end = request.POST.get("end_date") or timezone.localdate().isoformat()
    _aff, errs = call_service(request, ps.check_update_affiliation, affiliation, changes={"end_date": end},
                              actor=request.user, success=_("Marked as past."))  # fmt: skip
    return _section(request, person, "affiliations", errors={f"aff_{k}": v for k, v in errs.items()} or None)


@login_required
@require_POST
def affiliation_remove(request, pk, aff_pk):
    person = _get_person(request, pk)
    affiliation = visible_or_404(Affiliation, request.user, aff_pk, Affiliation.objects.filter(person=person))
    call_service(
        request,
        ps.check_delete_affiliation,
        affiliation,
        actor=request.user,
        success=_("Affiliation removed."),
    )
    return _section(request, person, "affiliations")


@login_required
@require_POST
def tag_add(request, pk):
    person = _get_person(request, pk)
    tag = Tag.objects.visible_to(request.user).filter(pk=posted_id(request, "tag")).first()
    team = Team.objects.filter(pk=posted_id(request, "team")).first()
    if tag is None:
        messages.error(request, _("Choose a tag."))
        return _section(request, person, "tags", errors={"tag": [_("Choose a tag.")]})
    _t, errors = call_service(request, ps.check_tag, person, tag, team=team, actor=request.user,
                              success=_("Tagged “%(tag)s”.") % {"tag": tag.name})  # fmt: skip
    return _section(request, person, "tags", errors=errors or None)


@login_required
@require_POST
def tag_remove(request, pk, tagging_pk):
    person = _get_person(request, pk)
    tagging = visible_or_404(PersonTag, request.user, tagging_pk, PersonTag.objects.filter(person=person))
    call_service(request, ps.check_untag, tagging, actor=request.user, success=_("Tag removed."))
    return _section(request, person, "tags")


@login_required
@require_POST
def list_add(request, pk):
    person = _get_person(request, pk)
    target = List.objects.visible_to(request.user).filter(pk=posted_id(request, "list")).first()
    if target is None:
        messages.error(request, _("Choose a list."))
        return _section(request, person, "tags", errors={"list": [_("Choose a list.")]})
    _m, errors = call_service(request, ps.check_add_to_list, target, person, actor=request.user,
                              success=_("Added to “%(list)s”.") % {"list": target.name})  # fmt: skip
    return _section(request, person, "tags", errors=errors or None)


@login_required
@require_POST
def list_remove(request, pk, membership_pk):
    person = _get_person(request, pk)
    membership = visible_or_404(
        ListMembership, request.user, membership_pk, ListMembership.objects.filter(person=person)
    )
    call_service(
        request,
        ps.check_remove_from_list,
        membership,
        actor=request.user,
        success=_("Removed from the list."),
    )
    return _section(request, person, "tags")


@login_required
@require_POST
def follow(request, pk):
    person = _get_person(request, pk)
    try:
        if request.POST.get("follow") == "0":
            check_unfollow(person, actor=request.user)
            messages.success(request, _("You no longer follow %(name)s.") % {"name": person})
        else:
            check_follow(person, actor=request.user)
            messages.success(
                request, _("You follow %(name)s; they show on your home page.") % {"name": person}
            )
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    return redirect("web:person", pk=person.pk)
