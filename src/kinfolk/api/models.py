"""What the API keeps between requests: idempotency keys and rate-limit counters."""

from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """The first response to a POST sent with an Idempotency-Key, replayed when the key comes again."""

    owner = models.CharField(max_length=40, help_text="token:ID or user:ID")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.TextField(blank=True, help_text="The response body as ASCII JSON (replayed byte for byte).")
    headers = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_unique")]

    def __str__(self):
        return f"{self.owner} {self.key}"


class RateCounter(models.Model):
    """Requests one token made in one fixed window: shared by every web process through the database."""

    bucket = models.CharField(max_length=64)
    window = models.BigIntegerField(help_text="Start of the window, in seconds since the epoch.")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bucket", "window"], name="rate_counter_unique")]

    def __str__(self):
        return f"{self.bucket}@{self.window}: {self.count}"
