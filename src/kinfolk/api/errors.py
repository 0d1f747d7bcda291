"""Errors as RFC 9457 problem details (application/problem+json) with a stable `code`.

Every error the API answers has: type (urn:kinfolk:problem:<code>), title, status, detail, code,
and for validation errors `errors`: [{"field": "emails[0].email", "message": "…"}].
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.response import Response

log = logging.getLogger("kinfolk.api")
PROBLEM_JSON = "application/problem+json"


class ApiProblem(exceptions.APIException):
    """An error with its own status and stable code: raise ApiProblem(412, 'precondition_failed', '…')."""

    def __init__(self, status_code, code, detail, headers=None):
        self.status_code = status_code
        self.problem_code = code
        self.extra_headers = headers or {}
        super().__init__(detail=detail, code=code)


# DRF's exception classes -> our stable codes
_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}

TITLES = {
    400: gettext_lazy("Bad request"),
    401: gettext_lazy("Not authenticated"),
    403: gettext_lazy("Permission denied"),
    404: gettext_lazy("Not found"),
    405: gettext_lazy("Method not allowed"),
    406: gettext_lazy("Not acceptable"),
    409: gettext_lazy("Conflict"),
    412: gettext_lazy("Precondition failed"),
    413: gettext_lazy("Request too large"),
    415: gettext_lazy("Unsupported media type"),
    422: gettext_lazy("Unprocessable request"),
    428: gettext_lazy("Precondition required"),
    429: gettext_lazy("Too many requests"),
    500: gettext_lazy("Server error"),
}


def problem(status_code, code, detail, *, errors=None, instance=""):
    """The problem-details body for an error."""
    body = {
        "type": f"urn:kinfolk:problem:{code}",
        "title": str(TITLES.get(status_code, _("Error"))),
        "status": status_code,
        "detail": str(detail),
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return body


def field_errors(detail, prefix=""):
    """Flatten DRF's nested error detail (dicts, lists) into [{field, message}] with dotted/indexed paths."""
    out = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # a ListField's errors are keyed by index
                out += field_errors(value, f"{prefix}[{key}]")
                continue
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            out += field_errors(value, path)
    elif isinstance(detail, list):
        if detail and all(not isinstance(d, dict | list) for d in detail):
            out += [{"field": prefix, "message": str(m)} for m in detail]
        else:
            for i, value in enumerate(detail):
                out += field_errors(value, f"{prefix}[{i}]")
    else:
        out.append({"field": prefix, "message": str(detail)})
    return out


def django_validation_errors(exc):
    """[{field, message}] from a Django ValidationError (services key theirs by field path)."""
    if hasattr(exc, "error_dict"):
        return [
            {"field": "" if field == "__all__" else field, "message": str(m)}
            for field, messages in exc.message_dict.items()
            for m in messages
        ]
    return [{"field": "", "message": str(m)} for m in exc.messages]


def validation_response(errors, path=""):
    summary = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors[:3])
    return Response(
        problem(400, "validation_error", summary or _("Invalid input."), errors=errors, instance=path),
        status=400,
        content_type=PROBLEM_JSON,
    )


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error becomes problem+json; nothing leaks a stack trace."""
    request = context.get("request")
    path = request.path if request is not None else ""
    headers = {}
    if isinstance(exc, DjangoValidationError):
        return validation_response(django_validation_errors(exc), path)
    if isinstance(exc, exceptions.ValidationError):
        return validation_response(field_errors(exc.detail), path)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(detail=str(exc) or None)
    if isinstance(exc, ApiProblem):
        code, status_code = exc.problem_code, exc.status_code
        headers.update(exc.extra_headers)
    elif isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
        status_code = exc.status_code
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    else:
        log.exception("unexpected error answering %s", path)
        return Response(
            problem(500, "server_error", _("Something went wrong on our side; it has been logged.")),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
            content_type=PROBLEM_JSON,
        )
    detail = (
        exc.detail
        if not isinstance(exc.detail, list | dict)
        else "; ".join(e["message"] for e in field_errors(exc.detail))
    )
    return Response(
        problem(status_code, code, detail, instance=path),
        status=status_code,
        headers=headers,
        content_type=PROBLEM_JSON,
    )


def not_found(request, exception=None):
    """handler404 for the whole site: problem+json under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            problem(404, "not_found", _("No API resource at this address."), instance=request.path),
            status=404,
            content_type=PROBLEM_JSON,
        )
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request):
    """handler500: problem+json under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            problem(500, "server_error", _("Something went wrong on our side; it has been logged.")),
            status=500,
            content_type=PROBLEM_JSON,
        )
    from django.views.defaults import server_error as django_server_error

    return django_server_error(request)
