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
