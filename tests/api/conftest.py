"""API test helpers: tokens made through the service, and a client that sends them as Bearer."""

import json

import pytest
from rest_framework.test import APIClient

from kinfolk.access.actors import SYSTEM
from kinfolk.access.services import check_create_token


def make_token(user, team=None, scope="write", **extra):
    """A token made through check_create_token; returns its secret."""
    data = {"name": extra.pop("name", f"{user.username}-{scope}"), "scope": scope, **extra}
    if team is not None:
        data["team"] = team.pk
    _token, secret = check_create_token(user=user, data=data, actor=SYSTEM)
    return secret


class Api:
    """Calls /api/v1/ with a token, as a program would."""

    def __init__(self, secret=None, csrf=False):
        self.client = APIClient(enforce_csrf_checks=csrf)
        # secure: the suite runs with production settings, which redirect plain http to https
        self.headers = {"secure": True}
        if secret:
            self.headers["HTTP_AUTHORIZATION"] = f"Bearer {secret}"

    def _url(self, path):
        if "://" in path:  # a `next` link: keep the path and query
            path = "/" + path.split("://", 1)[1].split("/", 1)[1]
        return path if path.startswith("/") else f"/api/v1/{path}"

    def get(self, path, params=None, **headers):
        return self.client.get(self._url(path), params or {}, **self.headers, **headers)

    def post(self, path, data=None, **headers):
        return self.client.generic(
            "POST",
            self._url(path),
            json.dumps(data),
            content_type="application/json",
            **self.headers,
            **headers,
        )

    def patch(self, path, data=None, **headers):
        return self.client.generic(
            "PATCH",
            self._url(path),
            json.dumps(data),
            content_type="application/json",
            **self.headers,
            **headers,
        )

    def delete(self, path, **headers):
        return self.client.delete(self._url(path), **self.headers, **headers)


@pytest.fixture
def api_for():
    def build(user, team=None, scope="write", **extra):
        return Api(make_token(user, team, scope, **extra))

    return build


@pytest.fixture
def quick_live_server(plain_http, live_server):
    """The live server, with TCP_NODELAY on its connections.

    Python's WSGI server writes a response in several small sends; on a kept-alive connection Nagle's
    algorithm then waits for the client's delayed ACK (~40 ms) before each response's last part.
    """
    import socket

    httpd = live_server.thread.httpd
    if not getattr(httpd, "_kinfolk_nodelay", False):
        accept = httpd.get_request

        def get_request():
            sock, addr = accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, addr

        httpd.get_request = get_request
        httpd._kinfolk_nodelay = True
    return live_server
