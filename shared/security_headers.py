"""The headers every answer carries so browsers neither sniff, frame nor leak it (an ASGI
middleware the services and the front doors share; no database, no broker, no framework app)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
)
# the interactive API docs load their own scripts and styles
DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")


class SecurityHeaders:
    """Adds the headers browsers need to keep an API's answers from being sniffed, framed or
    leaked through referrers (OWASP secure headers for APIs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in DOCS_PATHS:
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(h for h in SECURITY_HEADERS if h[0] not in present),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)
