"""OpenAPI: the Bearer scheme, problem+json error responses on every operation, and the schema's metadata."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "example": "urn:kinfolk:problem:validation_error"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "example": "validation_error"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

_ERRORS = {
    "400": "Invalid input: `errors` names each field and what was expected.",
    "401": "No valid token or session.",
    "403": "Not allowed (or a read-only token asked to write).",
    "404": "No such record, or not one you may see.",
    "405": "Method not allowed.",
    "406": "Only JSON is offered.",
    "409": "A request with this Idempotency-Key is still running.",
    "412": "If-Match did not match: the record changed since you read it.",
    "415": "Send JSON (Content-Type: application/json).",
    "422": "The Idempotency-Key was used with a different request.",
    "429": "Rate limit reached: wait Retry-After seconds.",
}
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "kinfolk.api.auth.BearerTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token: `Authorization: Bearer kf_…` (create one under Settings → API tokens).",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "kinfolk.api.auth.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


def add_problem_responses(result, generator, request, public):
    """Postprocessing hook: every operation documents the problem+json errors it may answer."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for code, description in _ERRORS.items():
                if code in ("409", "422") and method != "post":
                    continue
                if code == "412" and method not in ("patch", "delete"):
                    continue
                entry = {"description": description, "content": {"application/problem+json": {"schema": ref}}}
                if code == "429":
                    entry["headers"] = _RETRY_AFTER
                responses.setdefault(code, entry)
            for code, response in responses.items():
                if code.startswith("2") and method in ("get", "post", "patch") and "content" in response:
                    response.setdefault("headers", {})["ETag"] = {
                        "schema": {"type": "string"},
                        "description": "The record's version, for If-Match.",
                    }
    return result
