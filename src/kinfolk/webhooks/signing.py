"""Standard Webhooks signatures: `whsec_` secrets, and `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret():
    """A fresh signing secret: whsec_ followed by 32 random bytes in base64."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret):
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret, *, msg_id, timestamp, body):
    """The v1 signature of one message under one secret."""
    if isinstance(body, str):
        body = body.encode()
    signed = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_, *, msg_id, timestamp, body):
    """The webhook-id, webhook-timestamp and webhook-signature headers (one signature per secret)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(
            sign(s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets_
        ),
    }
