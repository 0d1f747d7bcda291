"""Authentication: `Authorization: Bearer <token>` for programs, the session (with CSRF) for the browser."""

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import authentication, exceptions, permissions

from kinfolk.access import tokens
from kinfolk.access.services import do_touch_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """An API token in the Authorization header; the request acts as the token's restricted user."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send 'Authorization: Bearer <token>'."))
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("The token has characters no token has.")) from exc
        token = tokens.find_active(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(_("The token is unknown, expired or revoked."))
        actor = tokens.actor_for(token)
        if actor is None:
            raise exceptions.AuthenticationFailed(
                _("The token's user no longer belongs to the token's team.")
            )
        now = timezone.now()
        if tokens.due_for_touch(token, now):
            do_touch_token(token, now=now)
            tokens.note_touch(token, now)
        return actor, token

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The signed-in browser; unsafe methods need the CSRF token, as in the rest of Kinfolk."""


class TokenScope(permissions.BasePermission):
    """Signed in; and a read-only token may only read."""

    message = gettext_lazy("This token is read-only.")  # lazy: read in each request's language

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        token = request.auth if isinstance(request.auth, tokens.ApiToken) else None
        if token is None or request.method in permissions.SAFE_METHODS:
            return True
        return tokens.scope_allows_writes(token)
