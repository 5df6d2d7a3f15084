"""Standard Webhooks secrets and signatures (the ``standardwebhooks`` package)."""

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """Return a fresh ``whsec_<base64>`` secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature_header(
    secrets_: list[str], *, msg_id: str, timestamp: datetime, body: bytes
) -> str:
    """Return ``webhook-signature``: ``v1,<b64>`` per secret, space-separated."""
    return " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body)
        for secret in secrets_
    )
