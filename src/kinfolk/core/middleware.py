"""Request middleware that sets the actor context for everything a request writes."""

import re

from kinfolk.core.context import acting, new_request_id

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ActorContextMiddleware:
    """Every write made while serving a request is recorded as source 'ui' (or 'api') with its request id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else new_request_id()
        source = "api" if request.path.startswith("/api/") else "ui"
        request.request_id = request_id
        with acting(source, request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
