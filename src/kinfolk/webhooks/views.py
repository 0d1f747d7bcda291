"""Settings → Webhooks: list and create subscriptions, edit one, rotate its secret, read its delivery log, redeliver."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kinfolk.access.models import Role, Team
from kinfolk.web.views.common import as_id, call_service, visible_or_404
from kinfolk.webhooks import services
from kinfolk.webhooks.models import EVENT_FAMILIES, EVENT_TYPES, WebhookDelivery, WebhookSubscription

DELIVERIES_SHOWN = 50


def _manageable_teams(user):
    teams = Team.objects.order_by("name")
    if user.is_org_admin:
        return teams
    return teams.filter(pk__in=[t for t in user.team_ids if user.has_role(t, Role.MANAGER)])


def _event_choices():
    return [("*", _("Every event")), *[(f, f) for f in EVENT_FAMILIES], *[(t, t) for t in EVENT_TYPES]]


def _form_data(request):
    data = {
        "url": request.POST.get("url", ""),
        "description": request.POST.get("description", ""),
        "event_types": request.POST.getlist("event_types"),
    }
    return data


def _render(request, template, context, status=200):
    context = {
        **context,
        "section": "settings",
        "settings_section": "webhooks",
        "event_choices": _event_choices(),
    }
    return render(request, f"webhooks/{template}", context, status=status)


@login_required
def webhooks(request):
    """The webhooks the user may see; a POST creates one and shows its secret once."""
    errors, secret, values = {}, None, {}
    if request.method == "POST":
        data = _form_data(request)
        team = request.POST.get("team", "")
        data["team"] = (as_id(team) or team) if team else None
        values = {**data, "team": team}
        result, errors = call_service(
            request, services.check_create_subscription, data=data, actor=request.user
        )
        if result:
            subscription, secret = result
            messages.success(request, _("Webhook %(name)s created.") % {"name": subscription})
            values = {}
    subscriptions = WebhookSubscription.objects.visible_to(request.user).select_related("team")
    return _render(
        request,
        "webhooks.html",
        {
            "subscriptions": subscriptions,
            "teams": _manageable_teams(request.user),
            "errors": errors,
            "secret": secret,
            "values": values,
        },
        status=400 if errors else 200,
    )


@login_required
def webhook(request, pk):
    """One webhook: edit it, rotate its secret, delete it, and its delivery log."""
    subscription = visible_or_404(WebhookSubscription, request.user, pk)
    errors, secret = {}, None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "update":
            changes = {**_form_data(request), "is_active": request.POST.get("is_active") == "on"}
            _s, errors = call_service(
                request,
                services.check_update_subscription,
                subscription,
                changes=changes,
                actor=request.user,
                success=_("Saved."),
            )
            if not errors:
                return redirect("webhooks:detail", pk=pk)
        elif action == "rotate":
            result, errors = call_service(
                request,
                services.check_rotate_secret,
                subscription,
                actor=request.user,
                success=_("New secret made; the previous one keeps signing for 24 hours."),
            )
            if result:
                subscription, secret = result
        elif action == "delete":
            _r, errors = call_service(
                request, services.check_delete_subscription, subscription, actor=request.user
            )
            if not errors:
                messages.success(request, _("Webhook %(name)s deleted.") % {"name": subscription})
                return redirect("webhooks:list")
        subscription.refresh_from_db()
    deliveries = (
        WebhookDelivery.objects.visible_to(request.user)
        .filter(subscription=subscription)
        .prefetch_related("attempt_log")
        .order_by("-id")[:DELIVERIES_SHOWN]
    )
    may_change = request.user.is_org_admin or subscription.allows(request.user, "change")
    return _render(
        request,
        "webhook.html",
        {
            "subscription": subscription,
            "deliveries": deliveries,
            "errors": errors,
            "secret": secret,
            "may_change": may_change,
        },
        status=400 if errors else 200,
    )


@login_required
@require_POST
def redeliver(request, pk, delivery_pk):
    subscription = visible_or_404(WebhookSubscription, request.user, pk)
    delivery = (
        WebhookDelivery.objects.visible_to(request.user)
        .filter(pk=delivery_pk, subscription=subscription)
        .first()
    )
    if delivery is None:
        raise Http404
    try:
        _r, _errors = call_service(
            request,
            services.check_redeliver,
            delivery,
            actor=request.user,
            success=_("Event %(id)s will be sent again.") % {"id": delivery.event_id},
        )
    except PermissionDenied as exc:
        raise Http404 from exc
    return redirect("webhooks:detail", pk=pk)
