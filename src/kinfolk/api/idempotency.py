"""Idempotency-Key on POST: a retried request gets the first response; the same key with another body, 422."""

import datetime
import hashlib
import json

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from kinfolk.access.models import ApiToken
from kinfolk.api.errors import ApiProblem
from kinfolk.api.models import IdempotencyKey

HEADER = "Idempotency-Key"
KEEP = datetime.timedelta(hours=24)
# A claim never completed after this long belongs to a request whose process died (a worker killed
# at its timeout): the key is free again, so that the client's retry runs instead of waiting a day.
ABANDONED = datetime.timedelta(minutes=5)
REPLAYED_HEADERS = ("ETag", "Location", "Content-Type")


class Replay(Exception):
    """Raised in a view's initial(): answer with the stored response instead of running the handler."""

    def __init__(self, response):
        self.response = response


def owner_of(request):
    token = request.auth if isinstance(request.auth, ApiToken) else None
    return f"token:{token.pk}" if token else f"user:{request.user.pk}"


def begin(request):
    """Claim the key for this request, or raise Replay / a 409 / a 422; returns the claim or None."""
    key = request.headers.get(HEADER)
    if key is None or request.method != "POST":
        return None
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ApiProblem(
            400, "invalid_idempotency_key", _("An Idempotency-Key is 1 to 255 printable characters.")
        )
    digest = hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + request.body)
    owner = owner_of(request)
    IdempotencyKey.objects.filter(owner=owner, created_at__lt=timezone.now() - KEEP).delete()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(owner=owner, key=key, request_hash=digest.hexdigest())
    except IntegrityError:
        pass
    first = IdempotencyKey.objects.filter(owner=owner, key=key).first()
    if first is None:  # expired between the two statements: treat as new
        return IdempotencyKey.objects.create(owner=owner, key=key, request_hash=digest.hexdigest())
    if first.request_hash != digest.hexdigest():
        raise ApiProblem(
            422,
            "idempotency_key_reused",
            _("This Idempotency-Key was used for a different request; use a new key for a new request."),
        )
    if not first.completed and first.created_at < timezone.now() - ABANDONED:
        IdempotencyKey.objects.filter(pk=first.pk, completed=False).delete()
        return begin(request)
    if not first.completed:
        raise ApiProblem(
            409, "idempotency_key_in_use", _("A request with this Idempotency-Key is still being processed.")
        )
    response = Response(json.loads(first.body or "null"), status=first.status_code, headers=first.headers)
    response["Idempotent-Replayed"] = "true"
    raise Replay(response)


def finish(claim, response):
    """Store the response for replays; a server error frees the key so a retry runs again."""
    if claim is None:
        return
    if response.status_code >= 500:
        IdempotencyKey.objects.filter(pk=claim.pk).delete()
        return
    # ASCII JSON text: what a client echoed back (a NUL, a lone surrogate) stores on every database.
    body = json.dumps(getattr(response, "data", None), cls=JSONEncoder, ensure_ascii=True)
    headers = {h: response[h] for h in REPLAYED_HEADERS if response.has_header(h)}
    IdempotencyKey.objects.filter(pk=claim.pk).update(
        completed=True, status_code=response.status_code, body=body, headers=headers
    )
