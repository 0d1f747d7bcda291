"""The organisation page: facts with inline edit, people affiliated (current and past), chapters, timeline."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kinfolk.access.models import Team
from kinfolk.access.scoping import writable_team_ids
from kinfolk.activities.models import Activity
from kinfolk.activities.services import check_create_activity
from kinfolk.core.models import ChangeRecord
from kinfolk.people import services as ps
from kinfolk.people.models import Affiliation, Organisation, OrganisationTag
from kinfolk.web.timeline import TimelineRenderer
from kinfolk.web.views.common import call_service, partial_or_redirect, post_data, posted_id, visible_or_404
from kinfolk.web.views.people import activity_data

ORG_EDIT_FIELDS = ("name", "kind", "website", "description")
PEOPLE_SHOWN = 100


def organisation_context(request, org, *, errors=None, editing=None):
    actor = request.user
    renderer = TimelineRenderer(
        csrf_token=get_token(request), back_url=reverse("web:organisation", args=[org.pk])
    )
    affiliations = list(
        Affiliation.objects.visible_to(actor)
        .filter(organisation=org)
        .select_related("person")
        .order_by("person__display_name", "id")[: PEOPLE_SHOWN + 1]
    )
    return {
        "org": org,
        "can_edit": org.allows(actor, "change") or actor.is_org_admin,
        "errors": errors or {},
        "editing": editing,
        "form": request.POST if request.method == "POST" and errors else {},
        "current": [a for a in affiliations[:PEOPLE_SHOWN] if a.is_current],
        "past": [a for a in affiliations[:PEOPLE_SHOWN] if not a.is_current],
        "more_people": len(affiliations) > PEOPLE_SHOWN,
        "children": list(Organisation.objects.visible_to(actor).filter(parent=org).order_by("name")),
        "tags": list(
            OrganisationTag.objects.visible_to(actor).filter(organisation=org).select_related("tag", "team")
        ),
        "activities": [
            renderer.activity(a, organisation_page=True)
            for a in Activity.objects.visible_to(actor)
            .filter(organisation=org)
            .select_related("team", "author")
            .order_by("-occurred_at", "-id")[:100]
        ],
        "history": [
            renderer.history(c, with_source=False)
            for c in ChangeRecord.objects.visible_to(actor)
            .filter(organisation_id=org.pk)
            .select_related("object_type")
            .order_by("-time", "-id")[:30]
        ],
        "my_teams": list(Team.objects.filter(pk__in=writable_team_ids(actor)).order_by("name")),
        "kinds": Organisation.Kind.choices,
        "activity_kinds": [
            c for c in Activity.Kind.choices if c[0] not in (Activity.Kind.EVENT, Activity.Kind.TASK)
        ],
    }


@login_required
def organisation(request, pk):
    org = visible_or_404(Organisation, request.user, pk, Organisation.objects.select_related("parent"))
    return render(
        request, "web/organisation.html", organisation_context(request, org, editing=request.GET.get("edit"))
    )


def _section(request, org, section, *, errors=None, editing=None):
    context = organisation_context(request, org, errors=errors, editing=editing)
    if errors and not request.htmx:
        return render(request, "web/organisation.html", context, status=400)
    return partial_or_redirect(
        request, f"web/partials/org_{section}.html", context, reverse("web:organisation", args=[org.pk])
    )


@login_required
def organisation_edit(request, pk):
    org = visible_or_404(Organisation, request.user, pk, Organisation.objects.select_related("parent"))
    if request.method == "POST":
        _done, errors = call_service(request, ps.check_update_organisation, org, changes=post_data(request, ORG_EDIT_FIELDS),
                                     actor=request.user, success=_("Saved."))  # fmt: skip
        org.refresh_from_db()
        return _section(request, org, "facts", errors=errors or None, editing="facts" if errors else None)
    return render(request, "web/partials/org_facts.html", organisation_context(request, org, editing="facts"))


@login_required
def organisation_new(request):
    errors, form = {}, {}
    if request.method == "POST":
        form = request.POST
        created, errors = call_service(request, ps.check_create_organisation, data=post_data(request, ORG_EDIT_FIELDS),
                                       actor=request.user)  # fmt: skip
        if created:
            messages.success(request, _("%(name)s added.") % {"name": created})
            return redirect("web:organisation", pk=created.pk)
    return render(
        request,
        "web/organisation_new.html",
        {"errors": errors, "form": form, "kinds": Organisation.Kind.choices},
        status=400 if errors else 200,
    )


@login_required
@require_POST
def organisation_activity_add(request, pk):
    org = visible_or_404(Organisation, request.user, pk)
    team = Team.objects.filter(pk__in=writable_team_ids(request.user), pk=posted_id(request, "team")).first()
    if team is None:
        return _section(request, org, "timeline", errors={"activity_team": [_("Choose one of your teams.")]})
    _a, errors = call_service(request, check_create_activity, team=team, organisation=org, data=activity_data(request),
                              actor=request.user, success=_("Added to the timeline."))  # fmt: skip
    return _section(request, org, "timeline", errors={f"activity_{k}": v for k, v in errors.items()} or None)
