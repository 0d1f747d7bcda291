"""Per-token rate limits, counted where every web process sees the same number.

A fixed window of WINDOW seconds per token. The count lives in Redis when KINFOLK_REDIS_URL is set
(INCR is atomic), else in the database (one conditional UPDATE per request, atomic on SQLite and
PostgreSQL). Never in process memory: with several web processes each would allow the full limit.
"""

import time
from functools import lru_cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from rest_framework.throttling import BaseThrottle

from kinfolk.access.models import ApiToken
from kinfolk.core.db import relaxed_durability

WINDOW = 60


class DatabaseCounter:
    """Counts in the api_ratecounter table."""

    def hit(self, bucket, limit, window_start):
        """Count one request; returns whether it is within the limit."""
        with relaxed_durability():  # a count lost in a crash matters less than a disk wait per request
            return self._hit(bucket, limit, window_start)

    def _hit(self, bucket, limit, window_start):
        from kinfolk.api.models import RateCounter

        rows = RateCounter.objects.filter(bucket=bucket, window=window_start, count__lt=limit)
        if rows.update(count=F("count") + 1):
            return True
        if RateCounter.objects.filter(bucket=bucket, window=window_start).exists():
            # Either the window is full, or another process opened it since the update above: count again.
            return bool(rows.update(count=F("count") + 1))
        try:
            with transaction.atomic():
                RateCounter.objects.create(bucket=bucket, window=window_start, count=1)
                RateCounter.objects.filter(bucket=bucket, window__lt=window_start).delete()
            return True
        except IntegrityError:  # another process opened the window first: count there
            return bool(rows.update(count=F("count") + 1))


class RedisCounter:
    """Counts in Redis: INCR and EXPIRE in one round trip."""

    def __init__(self, url, prefix):
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix

    def hit(self, bucket, limit, window_start):
        key = f"{self.prefix}{bucket}:{window_start}"
        pipe = self.client.pipeline()
        pipe.incr(key)
        pipe.expire(key, WINDOW * 2)
        count, _ok = pipe.execute()
        return count <= limit


@lru_cache(maxsize=1)
def counter():
    """The counter this site uses (Redis if configured, else the database)."""
    url = getattr(settings, "REDIS_URL", "")
    if url:
        return RedisCounter(url, getattr(settings, "KINFOLK_REDIS_PREFIX", "kinfolk:") + "rate:")
    return DatabaseCounter()


def limit_for(token):
    return token.rate_limit or settings.KINFOLK_API_RATE_LIMIT


class TokenRateThrottle(BaseThrottle):
    """DRF throttle: requests made with a token count against that token's limit per minute."""

    def allow_request(self, request, view):
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is None:
            return True  # the browser session is limited by the person using it
        now = time.time()
        window_start = int(now // WINDOW * WINDOW)
        self._wait = window_start + WINDOW - now
        return counter().hit(f"token:{token.pk}", limit_for(token), window_start)

    def wait(self):
        return getattr(self, "_wait", WINDOW)
