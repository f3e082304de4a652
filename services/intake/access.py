"""The requester's secret access token: derived, shown once, stored only as a hash.

The token is an HMAC of the concern id and a random nonce under a server key. Only its hash
is stored with the concern. The nonce is kept with an Idempotency-Key for as long as that key
lives, so that a retried submission can answer the same token; without the server key the
nonce is worthless, and after the key expires nobody can recover the token. Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_nonce() -> str:
    """Fresh randomness for one concern's token."""
    return secrets.token_hex(16)


def access_token(key: bytes, concern_id: str, nonce: str) -> str:
    """The requester's token for a concern (43 url-safe characters, 256 bits)."""
    digest = hmac.new(key, f"{concern_id}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    """What is stored: a hash that proves a token without revealing it."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    """Constant-time check of a presented token against the stored hash."""
    if not TOKEN_PATTERN.match(token):
        return False
    return hmac.compare_digest(token_hash(token), stored_hash)


# --- the PIN a phone agent reads out ------------------------------------------------------

PIN_PATTERN = re.compile(r"^\d{6}$")
PIN_ATTEMPTS = 5
"""Wrong PINs in a row after which the PIN is locked (the token still works)."""
PIN_LOCKOUT_S = 15 * 60
"""How long a locked PIN refuses every try; each wrong try after that locks it again."""


def access_pin(key: bytes, concern_id: str, nonce: str) -> str:
    """The requester's 6-digit PIN for a concern: derived like the token, so that a retried
    submission answers the same one."""
    digest = hmac.new(key, f"pin:{concern_id}:{nonce}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


def pin_hash(key: bytes, concern_id: str, pin: str) -> str:
    """What is stored of a PIN: keyed, since a plain hash of 6 digits is found by trying
    all million; without the server key the stored value proves nothing."""
    return hmac.new(key, f"pin-hash:{concern_id}:{pin}".encode(), hashlib.sha256).hexdigest()


def pin_matches(key: bytes, concern_id: str, pin: str, stored_hash: str) -> bool:
    """Constant-time check of a presented PIN against the stored keyed hash."""
    if not PIN_PATTERN.match(pin) or not stored_hash:
        return False
    return hmac.compare_digest(pin_hash(key, concern_id, pin), stored_hash)


def pin_locked(failures: int, last_failure_s_ago: float | None) -> float:
    """Seconds the PIN stays locked after `failures` wrong tries in a row (0: open)."""
    if failures < PIN_ATTEMPTS or last_failure_s_ago is None:
        return 0.0
    return max(0.0, PIN_LOCKOUT_S - last_failure_s_ago)


def pin_try_open(
    failures: int,
    last_failure_at: datetime | None,
    *,
    now: datetime,
    attempts: int = PIN_ATTEMPTS,
    lockout_s: float = PIN_LOCKOUT_S,
) -> bool:
    """Whether another PIN try may be made after `failures` wrong ones in a row, the last at
    `last_failure_at`: fewer than `attempts`, or the lockout since the last one over."""
    if failures < attempts:
        return True
    return last_failure_at is not None and last_failure_at < now - timedelta(seconds=lockout_s)
