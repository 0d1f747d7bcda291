"""Helpers every page uses: the visible record or 404, service errors as field messages, htmx replies."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _


def visible_or_404(model, actor, pk, queryset=None):
    """The record with this id if the actor may see it; a hidden record is 'not found', never 'forbidden'."""
    qs = queryset if queryset is not None else model.objects.all()
    obj = qs.visible_to(actor).filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


def error_dict(exc):
    """{field: [messages]} from a ValidationError or PermissionDenied raised by a service."""
    if isinstance(exc, PermissionDenied):
        return {"__all__": [str(exc) or _("Not allowed.")]}
    if hasattr(exc, "error_dict"):
        return exc.message_dict
    return {"__all__": list(exc.messages)}


def call_service(request, func, *args, success=None, **kwargs):
    """(result, errors): run a check_* service; failures become field messages and an error toast."""
    try:
        result = func(*args, **kwargs)
    except (ValidationError, PermissionDenied) as exc:
        errors = error_dict(exc)
        messages.error(request, " ".join(m for ms in errors.values() for m in ms))
        return None, errors
    if success:
        messages.success(request, success)
    return result, {}


def safe_next(request, default):
    """The ?next= (or POST next) address if it stays on this site, else default."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def partial_or_redirect(request, template, context, url):
    """For htmx: the fragment (and the toasts out of band); otherwise back to the page (post/redirect/get)."""
    from django.http import HttpResponse

    if getattr(request, "htmx", False):
        html = render_to_string(template, context, request=request)
        html += render_to_string("web/partials/oob_toasts.html", {}, request=request)
        return HttpResponse(html)
    return redirect(url)


def as_id(value):
    """A record id from a form or query string; anything but digits is 0, which matches no record."""
    value = str(value or "").strip()
    return int(value) if value.isdigit() and len(value) < 19 else 0


def posted_id(request, name):
    return as_id(request.POST.get(name))


def post_data(request, names):
    """Only the named fields of a form, as plain strings (never the whole POST as ORM kwargs)."""
    return {name: request.POST.get(name, "") for name in names if name in request.POST}
