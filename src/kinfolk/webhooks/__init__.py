"""Signed webhooks: subscriptions, an outbox of deliveries, attempts, and a guarded HTTP client."""
