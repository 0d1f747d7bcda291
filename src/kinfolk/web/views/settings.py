"""Settings: my preferences, teams and memberships, users and roles, relationship types, tags and lists."""

from django.conf import settings as django_settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from kinfolk.access import services as access_services
from kinfolk.access.models import Membership, Role, Team, User
from kinfolk.access.scoping import writable_team_ids
from kinfolk.people import services as ps
from kinfolk.people.models import List, RelationshipType, Tag
from kinfolk.web.accounts import check_invite_user
from kinfolk.web.views.common import call_service, post_data, posted_id, visible_or_404


def _render(request, template, section, context, status=200):
    context = {**context, "settings_section": section}
    return render(request, f"web/settings/{template}", context, status=status)


@login_required
def settings_home(request):
    return redirect("web:settings_profile")


@login_required
def profile(request):
    """My preferences: the language and time zone Kinfolk shows me pages, dates and numbers in."""
    user = request.user
    errors = {}
    if request.method == "POST":
        data = post_data(request, ("language", "time_zone"))
        saved, errors = call_service(
            request, access_services.check_update_preferences, user, data=data, actor=user
        )
        if saved:
            # Said in the language just chosen: the toast is the first thing shown in it.
            with translation.override(saved.language or translation.get_language_from_request(request)):
                messages.success(request, _("Your preferences are saved."))
            return redirect("web:settings_profile")
    form = request.POST if errors else {"language": user.language, "time_zone": user.time_zone}
    return _render(
        request,
        "profile.html",
        "profile",
        {
            "form": form,
            "errors": errors,
            "languages": [
                (code, translation.get_language_info(code)["name_local"])
                for code, _n in django_settings.LANGUAGES
            ],
            "time_zones": sorted(access_services.time_zone_names()),
            "default_time_zone": django_settings.TIME_ZONE,
        },
        status=400 if errors else 200,
    )


@login_required
def teams(request):
    errors = {}
    if request.method == "POST":
        data = post_data(request, ("name", "description", "sharing"))
        team, errors = call_service(request, access_services.check_create_team, data=data, actor=request.user)
        if team:
            messages.success(request, _("Team %(name)s created.") % {"name": team.name})
            return redirect("web:settings_team", pk=team.pk)
    all_teams = Team.objects.visible_to(request.user).annotate(members=Count("memberships")).order_by("name")
    return _render(
        request,
        "teams.html",
        "teams",
        {"teams": all_teams, "errors": errors, "sharing": Team.Sharing.choices, "form": request.POST},
        status=400 if errors else 200,
    )


@login_required
def team(request, pk):
    team = visible_or_404(Team, request.user, pk)
    errors = {}
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "update":
            _t, errors = call_service(request, access_services.check_update_team, team,
                                      changes=post_data(request, ("name", "description", "sharing")),
                                      actor=request.user, success=_("Saved."))  # fmt: skip
        elif action == "add":
            member = User.objects.visible_to(request.user).filter(pk=posted_id(request, "user")).first()
            if member is None:
                errors = {"user": [_("Choose a user.")]}
            else:
                _m, errors = call_service(request, access_services.check_add_member, team, member,
                                          role=request.POST.get("role", ""), actor=request.user,
                                          success=_("%(user)s is now %(role)s.") % {"user": member, "role": dict(Role.choices).get(request.POST.get("role", ""), "")})  # fmt: skip
        elif action == "remove":
            membership = Membership.objects.filter(team=team, pk=posted_id(request, "membership")).first()
            if membership:
                call_service(request, access_services.check_remove_member, membership, actor=request.user,
                             success=_("%(user)s left the team.") % {"user": membership.user})  # fmt: skip
        if not errors:
            return redirect("web:settings_team", pk=team.pk)
        team.refresh_from_db()
    members = Membership.objects.filter(team=team).select_related("user").order_by("user__username")
    return _render(
        request,
        "team.html",
        "teams",
        {
            "team": team,
            "members": members,
            "users": User.objects.visible_to(request.user).filter(is_active=True).order_by("username"),
            "roles": Role.choices,
            "sharing": Team.Sharing.choices,
            "can_manage": request.user.is_org_admin or request.user.has_role(team.pk, Role.MANAGER),
            "errors": errors,
        },
        status=400 if errors else 200,
    )


def invite_from_form(request):
    """(user, errors): invite the person described by the posted invitation form."""
    user, errors = call_service(
        request,
        check_invite_user,
        data=post_data(request, ("email", "first_name", "last_name", "username")),
        team=Team.objects.filter(pk=posted_id(request, "team")).first(),
        role=request.POST.get("role") or Role.MEMBER,
        actor=request.user,
        base_url=request.build_absolute_uri("/"),
    )
    if user:
        messages.success(request, _("Invitation sent to %(email)s.") % {"email": user.email})
    return user, errors


@login_required
def users(request):
    errors = {}
    if request.method == "POST":
        user, errors = invite_from_form(request)
        if user:
            return redirect("web:settings_users")
    people = User.objects.visible_to(request.user).prefetch_related("memberships__team").order_by("username")
    return _render(
        request,
        "users.html",
        "users",
        {
            "users": people,
            "teams": Team.objects.order_by("name"),
            "roles": Role.choices,
            "errors": errors,
            "form": request.POST,
        },  # fmt: skip
        status=400 if errors else 200,
    )


USER_ACTIONS = {
    "deactivate": (access_services.check_set_user_active, {"active": False}, gettext_lazy("%(name)s can no longer sign in.")),
    "reactivate": (access_services.check_set_user_active, {"active": True}, gettext_lazy("%(name)s can sign in again.")),
    "make_admin": (access_services.check_set_org_admin, {"admin": True}, gettext_lazy("%(name)s is now an administrator.")),
    "remove_admin": (access_services.check_set_org_admin, {"admin": False}, gettext_lazy("%(name)s is no longer an administrator.")),
}  # fmt: skip


@login_required
@require_POST
def user_action(request, pk):
    """Deactivate or reactivate a user, or give or take the administrator role (administrators only)."""
    account = visible_or_404(User, request.user, pk)
    action = USER_ACTIONS.get(request.POST.get("action", ""))
    if action is None:
        messages.error(request, _("Choose what to do with %(name)s.") % {"name": account})
    else:
        service, arguments, success = action
        call_service(request, service, account, **arguments, actor=request.user,
                     success=success % {"name": account.get_full_name() or account.username})  # fmt: skip
    return redirect("web:settings_users")


@login_required
def relationship_types(request):
    errors = {}
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            rtype = visible_or_404(RelationshipType, request.user, posted_id(request, "type"))
            _r, errors = call_service(request, ps.check_delete_relationship_type, rtype, actor=request.user,
                                      success=_("Deleted."))  # fmt: skip
        else:
            data = post_data(request, ("name", "forward_label", "reverse_label"))
            data["is_symmetric"] = bool(request.POST.get("is_symmetric"))
            _r, errors = call_service(request, ps.check_create_relationship_type, data=data, actor=request.user,
                                      success=_("Relationship type added."))  # fmt: skip
        if not errors:
            return redirect("web:settings_relationship_types")
    types = RelationshipType.objects.visible_to(request.user).annotate(uses=Count("relationships"))
    return _render(
        request,
        "relationship_types.html",
        "relationship_types",
        {"types": types, "errors": errors, "form": request.POST, "can_manage": request.user.is_org_admin},
        status=400 if errors else 200,
    )


@login_required
def tags(request):
    """Tags (global or a team's) and lists (always a team's)."""
    actor = request.user
    errors = {}
    if request.method == "POST":
        action = request.POST.get("action")
        team = Team.objects.filter(pk=posted_id(request, "team")).first()
        if action == "create_tag":
            _t, errors = call_service(request, ps.check_create_tag, data=post_data(request, ("name", "color")),
                                      team=team, actor=actor, success=_("Tag added."))  # fmt: skip
        elif action == "delete_tag":
            tag = visible_or_404(Tag, actor, posted_id(request, "tag"))
            _t, errors = call_service(
                request, ps.check_delete_tag, tag, actor=actor, success=_("Tag deleted.")
            )
        elif action == "create_list":
            if team is None:
                errors = {"list_team": [_("Choose the team whose list it is.")]}
            else:
                _l, errors = call_service(request, ps.check_create_list, team=team,
                                          data=post_data(request, ("name", "description")), actor=actor,
                                          success=_("List added."))  # fmt: skip
                errors = {f"list_{k}": v for k, v in errors.items()}
        elif action == "delete_list":
            lst = visible_or_404(List, actor, posted_id(request, "list"))
            _l, errors = call_service(
                request, ps.check_delete_list, lst, actor=actor, success=_("List deleted.")
            )
        if not errors:
            return redirect("web:settings_tags")
    return _render(
        request,
        "tags.html",
        "tags",
        {
            "tags": Tag.objects.visible_to(actor)
            .select_related("team")
            .annotate(uses=Count("person_taggings")),
            "lists": List.objects.visible_to(actor)
            .select_related("team")
            .annotate(size=Count("memberships")),
            "my_teams": Team.objects.filter(pk__in=writable_team_ids(actor)).order_by("name"),
            "errors": errors,
            "form": request.POST,
        },
        status=400 if errors else 200,
    )
