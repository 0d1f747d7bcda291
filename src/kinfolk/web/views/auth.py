"""Signing in and out, password reset by email, the colour theme, and the first-run set-up page."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kinfolk.access.models import Role, Team, User
from kinfolk.access.services import check_create_team
from kinfolk.web.context import THEMES
from kinfolk.web.views.common import call_service, post_data, safe_next
from kinfolk.web.views.settings import invite_from_form

login = auth_views.LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True)
logout = auth_views.LogoutView.as_view()
password_reset = auth_views.PasswordResetView.as_view(
    template_name="web/registration/password_reset_form.html",
    email_template_name="web/registration/password_reset_email.txt",
    subject_template_name="web/registration/password_reset_subject.txt",
    success_url=reverse_lazy("web:password_reset_done"),
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="web/registration/password_reset_done.html"
)
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="web/registration/password_reset_confirm.html",
    success_url=reverse_lazy("web:password_reset_complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="web/registration/password_reset_complete.html"
)


@require_POST
def theme(request):
    """Remember light or dark (anything else: follow the system) in a cookie; works without JavaScript."""
    chosen = request.POST.get("theme", "")
    response = redirect(safe_next(request, "/"))
    if chosen in THEMES:
        response.set_cookie(
            "kinfolk_theme", chosen, max_age=365 * 24 * 3600, samesite="Lax", secure=request.is_secure()
        )
    else:
        response.delete_cookie("kinfolk_theme")
    return response


@login_required
def setup(request):
    """First run: an administrator creates the organisation's teams and invites the people who use Kinfolk."""
    if not request.user.is_org_admin:
        raise PermissionDenied
    errors = {"team": {}, "invite": {}}
    if request.method == "POST":
        if request.POST.get("form") == "team":
            data = post_data(request, ("name", "sharing"))
            team, errors["team"] = call_service(
                request, check_create_team, data=data, actor=request.user,
                success=_("Team %(name)s created.") % {"name": data.get("name", "")},
            )  # fmt: skip
        elif request.POST.get("form") == "invite":
            _user, errors["invite"] = invite_from_form(request)
        if not any(errors.values()):
            return redirect("web:setup")
    return render(
        request,
        "web/setup.html",
        {
            "teams": Team.objects.visible_to(request.user).order_by("name"),
            "users": User.objects.visible_to(request.user).order_by("username"),
            "sharing": Team.Sharing.choices,
            "roles": Role.choices,
            "errors": errors,
            "form": request.POST if request.method == "POST" else {},
        },
    )
