"""Per-user language and time zone: dates, numbers and texts in the signed-in user's own."""

import zoneinfo

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
