"""The security policy header: django-csp's own, built once."""

from csp.middleware import CSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from kinfolk.web.middleware import ContentSecurityPolicyMiddleware

HEADERS = ("Content-Security-Policy", "Content-Security-Policy-Report-Only")


def _headers(middleware_class, path, use_nonce=False):
    request = RequestFactory().get(path)
    middleware = middleware_class(lambda request: HttpResponse())
    middleware.process_request(request)
    nonce = str(request.csp_nonce) if use_nonce else None
    response = middleware.process_response(request, HttpResponse())
    return {name: response.get(name) for name in HEADERS}, nonce


def test_the_policy_is_what_django_csp_builds_for_every_response():
    for path in ("/api/v1/people/", "/people/", "/"):
        assert _headers(ContentSecurityPolicyMiddleware, path) == _headers(CSPMiddleware, path)
    policy, _nonce = _headers(ContentSecurityPolicyMiddleware, "/")
    assert "script-src 'self'" in policy["Content-Security-Policy"]


def test_a_page_that_uses_a_nonce_gets_it_in_its_policy():
    from csp.constants import NONCE, SELF

    with override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"script-src": [SELF, NONCE]}}):
        headers, nonce = _headers(ContentSecurityPolicyMiddleware, "/", use_nonce=True)
        assert f"script-src 'self' 'nonce-{nonce}'" in headers["Content-Security-Policy"]
        # and a page that does not gets none: the policy built once holds no nonce
        assert "nonce-" not in _headers(ContentSecurityPolicyMiddleware, "/")[0]["Content-Security-Policy"]


def test_changed_settings_change_the_policy():
    before, _nonce = _headers(ContentSecurityPolicyMiddleware, "/")
    policy = {"DIRECTIVES": {"default-src": ["'none'"]}, "EXCLUDE_URL_PREFIXES": ["/api/"]}
    with override_settings(CONTENT_SECURITY_POLICY_REPORT_ONLY=policy):
        changed, _nonce = _headers(ContentSecurityPolicyMiddleware, "/")
        assert changed == _headers(CSPMiddleware, "/")[0]
        assert changed["Content-Security-Policy-Report-Only"] == "default-src 'none'"
        assert _headers(ContentSecurityPolicyMiddleware, "/api/v1/people/")[0] == {
            **changed,
            HEADERS[1]: None,
        }
    assert _headers(ContentSecurityPolicyMiddleware, "/")[0] == before
