"""Per-token rate limits, counted where every web process sees the same number.

A fixed window of WINDOW seconds per token. The count lives in Redis when KINFOLK_REDIS_URL is set
(INCR is atomic), else in the database (a conditional UPDATE, atomic on SQLite and PostgreSQL). Never
in process memory: with several web processes each would allow the full limit.

The database counter lets a web process take a few requests of a window at once (a lease of
limit/LEASE_SHARE, at most LEASE_MAX): one UPDATE per lease instead of one per request. Leases are
counted in the shared row when taken, so the limit is never exceeded; near the limit a token may be
refused fewer than (processes - 1) x lease requests early, since other processes hold unspent leases. Below
LEASE_SHARE requests a minute the lease is a single request, i.e. exact counting.
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
LEASE_SHARE = 100  # a lease is at most a hundredth of the limit...
LEASE_MAX = 16  # ...and at most this many requests


def lease_size(limit):
    return max(1, min(LEASE_MAX, limit // LEASE_SHARE))


class DatabaseCounter:
    """Counts in the api_ratecounter table; this process's unspent leases in `leases`."""

    def __init__(self):
        self.leases = {}  # bucket -> [window start, requests left]

    def hit(self, bucket, limit, window_start):
        """Count one request; returns whether it is within the limit."""
        lease = self.leases.get(bucket)
        if lease is not None and lease[0] == window_start and lease[1] > 0:
            lease[1] -= 1
            return True
        size = lease_size(limit)
        with relaxed_durability():  # a count lost in a crash matters less than a disk wait per request
            if size > 1 and self._take(bucket, limit, window_start, size):
                self.leases[bucket] = [window_start, size - 1]
                return True
            self.leases.pop(bucket, None)
            return self._hit(bucket, limit, window_start)

    def _take(self, bucket, limit, window_start, size):
        """Count `size` requests at once if the window has room for all of them."""
        from kinfolk.api.models import RateCounter

        rows = RateCounter.objects.filter(bucket=bucket, window=window_start, count__lte=limit - size)
        return bool(rows.update(count=F("count") + size))

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
        # The hash tells apart a token from one that once had its id (and may have left a lease behind)
        return counter().hit(f"token:{token.pk}:{token.key_hash[:16]}", limit_for(token), window_start)

    def wait(self):
        return getattr(self, "_wait", WINDOW)
