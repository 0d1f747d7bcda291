"""The user's language and time zone for every request, and the Content-Security-Policy header."""

import functools
import zoneinfo

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone, translation


class UserPreferencesMiddleware:
    """Activates the user's language (else the browser's, via LocaleMiddleware) and time zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
        zone = getattr(user, "time_zone", "") if user is not None and user.is_authenticated else ""
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        try:
            timezone.activate(zoneinfo.ZoneInfo(zone)) if zone else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        return self.get_response(request)


# What a response can carry to have a policy of its own from django-csp (its view decorators)
_OWN_POLICY = tuple(
    f"_csp_{kind}{ro}" for kind in ("config", "update", "replace", "exempt") for ro in ("", "_ro")
)


@functools.cache
def _site_policies():
    """[(header, policy, path prefixes it is not sent for)] of the settings, built once by django-csp."""
    policies = []
    for header, name, report_only in (
        (HEADER, "CONTENT_SECURITY_POLICY", False),
        (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", True),
    ):
        excluded = (getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES", None) or ()
        policies.append((header, build_policy(report_only=report_only), tuple(excluded)))
    return policies


@receiver(setting_changed)
def _forget_site_policies(setting, **kwargs):
    """Build the policy again after the settings change (in tests)."""
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _site_policies.cache_clear()


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the site's policy built once instead of for every response."""

    # Building it from the settings took ~90 µs a response (3% of an API read). A response with a
    # policy of its own (django-csp's decorators), one that used a nonce or already has the header,
    # and every response in debug mode, are left to django-csp itself.

    def process_response(self, request, response):
        if (
            settings.DEBUG
            or getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _OWN_POLICY)
            or HEADER in response
            or HEADER_REPORT_ONLY in response
        ):
            return super().process_response(request, response)
        for header, policy, excluded in _site_policies():
            if policy and not request.path_info.startswith(excluded):
                response[header] = policy
        # As django-csp does: a nonce asked for after the header is written is an error, not a silent gap
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
