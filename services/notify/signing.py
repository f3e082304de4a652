"""Signed webhooks: HMAC-SHA256 over `timestamp.body`, so a receiver can verify what it got.

Headers: `X-Bureau-Timestamp` (Unix seconds) and `X-Bureau-Signature` (`sha256=<hex>`). A
receiver recomputes the signature with the secret it registered, compares in constant time,
and refuses a timestamp too far from its own clock (a replayed old request).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

TIMESTAMP_HEADER = "X-Bureau-Timestamp"
SIGNATURE_HEADER = "X-Bureau-Signature"
DELIVERY_HEADER = "X-Bureau-Delivery"
SCHEME = "sha256="
DEFAULT_TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value of `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The two headers a signed webhook carries."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secret: str,
    body: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """True when `signature` is ours for this body and timestamp, and the timestamp is recent."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs(now.timestamp() - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)
