"""Settings → API tokens: create (the secret is shown once), list and revoke your tokens."""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kinfolk.access import services
from kinfolk.access.models import ApiToken, Team


def _teams(user):
    teams = Team.objects.order_by("name")
    return teams if user.is_org_admin else teams.filter(pk__in=user.team_ids)


@login_required
def tokens(request):
    """List the user's tokens; a POST creates one and shows its secret once."""
    errors, secret, values = {}, None, {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in ("name", "team", "scope", "expires_in_days")}
        data = {"name": values["name"], "scope": values["scope"] or "read"}
        if values["team"]:
            data["team"] = int(values["team"]) if values["team"].isdigit() else values["team"]
        days = values["expires_in_days"]
        if days:
            if days.isdigit() and int(days) >= 1:
                data["expires_at"] = timezone.now() + datetime.timedelta(days=int(days))
            else:
                errors["expires_at"] = [_("Give a number of days, like 90.")]
        if not errors:
            try:
                token, secret = services.check_create_token(user=request.user, data=data, actor=request.user)
            except ValidationError as exc:
                errors = exc.message_dict
            else:
                messages.success(request, _("Token %(name)s created.") % {"name": token.name})
                values = {}
    listed = ApiToken.objects.visible_to(request.user).filter(user=request.user).select_related("team")
    return render(
        request,
        "access/tokens.html",
        {
            "tokens": listed,
            "teams": _teams(request.user),
            "errors": errors,
            "secret": secret,
            "values": values,
            "scopes": ApiToken.Scope.choices,
            "section": "settings",
            "settings_section": "tokens",
        },
        status=400 if errors else 200,
    )


@login_required
@require_POST
def revoke_token(request, pk):
    token = ApiToken.objects.visible_to(request.user).filter(pk=pk, user=request.user).first()
    if token is None:
        raise Http404
    try:
        services.check_revoke_token(token, actor=request.user)
    except PermissionDenied as exc:
        raise Http404 from exc
    messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
    return redirect("access:tokens")
