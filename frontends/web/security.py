"""What keeps the family pages safe without a server-side session: CSRF tokens (a random
cookie and its keyed hash in every form), signed cookies for the tracking access a family
opened, and the strict Content-Security-Policy."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "bureau_csrf"
ACCESS_COOKIE = "bureau_access"
RECEIPT_COOKIE = "bureau_receipt"
LANGUAGE_COOKIE = "bureau_lang"
DONE_COOKIE = "bureau_done"  # what the family just did on a status page, said there once
ACCESS_MAX_AGE_S = 24 * 3600
RECEIPT_MAX_AGE_S = 3600
MAX_CASES_REMEMBERED = 5

# Nothing inline, nothing from elsewhere: styles, scripts and images come from /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


class Csrf:
    """Double-submit tokens: the form's token is an HMAC of the browser's CSRF cookie, so a
    page on another site can neither read nor forge it."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(f"csrf:{secret}".encode()).digest()

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(24)

    def token_for(self, cookie: str) -> str:
        return hmac.new(self._key, cookie.encode(), hashlib.sha256).hexdigest()

    def valid(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token:
            return False
        return hmac.compare_digest(self.token_for(cookie), token)


class SignedCookies:
    """Values kept in the family's browser, signed and time-limited (itsdangerous)."""

    def __init__(self, secret: str) -> None:
        self._access = URLSafeTimedSerializer(secret, salt="tracking-access")
        self._receipt = URLSafeTimedSerializer(secret, salt="receipt")

    def dump_access(self, cases: dict[str, str]) -> str:
        """Tracking number -> access token of the concerns this browser opened (a few)."""
        kept = dict(list(cases.items())[-MAX_CASES_REMEMBERED:])
        return self._access.dumps(kept)

    def load_access(self, value: str | None) -> dict[str, str]:
        loaded = self._load(self._access, value, ACCESS_MAX_AGE_S)
        if not isinstance(loaded, dict):
            return {}
        return {str(k): str(v) for k, v in loaded.items()}

    def dump_receipt(self, receipt: dict[str, Any]) -> str:
        return self._receipt.dumps(receipt)

    def load_receipt(self, value: str | None) -> dict[str, Any] | None:
        loaded = self._load(self._receipt, value, RECEIPT_MAX_AGE_S)
        return loaded if isinstance(loaded, dict) else None

    @staticmethod
    def _load(serializer: URLSafeTimedSerializer, value: str | None, max_age: int) -> Any:
        if not value:
            return None
        try:
            return serializer.loads(value, max_age=max_age)
        except BadSignature:
            return None


class ContentSecurityPolicy:
    """Adds the page's CSP (the shared security headers add the rest)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_csp(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
            await send(message)

        await self.app(scope, receive, with_csp)
