"""Staff sign-in: OpenID Connect authorization code with PKCE (Authlib), the session it opens
(signed cookie, idle timeout), and the short-lived bearer token the console sends to the
services on the signed-in person's behalf."""

from __future__ import annotations

import time
from typing import Any

from authlib.integrations.starlette_client import OAuth
from starlette.requests import Request

from frontends.web.settings import WebSettings
from frontends.web.staff.config import StaffSettings, StaffSignInConfig
from frontends.web.staff.views import StaffUser
from shared.auth import mint_token

SESSION_KEY = "staff"
SEEN_KEY = "staff_seen"
SESSION_COOKIE = "bureau_staff"
SESSION_MAX_AGE_S = 12 * 3600


class SignInNeeded(Exception):
    """No staff session (or it went idle): the person is sent to the sign-in page."""


class SignIn:
    """The provider client and the session rules."""

    def __init__(self, web: WebSettings, staff: StaffSettings, config: StaffSignInConfig) -> None:
        self.web = web
        self.staff = staff
        self.config = config
        self.oauth = OAuth()
        if staff.oidc_issuer:
            secret = staff.oidc_client_secret
            self.oauth.register(
                "district",
                client_id=staff.oidc_client_id,
                client_secret=secret.get_secret_value() if secret else None,
                server_metadata_url=staff.oidc_issuer.rstrip("/")
                + "/.well-known/openid-configuration",
                client_kwargs={"scope": config.oidc.scope, "code_challenge_method": "S256"},
            )

    @property
    def provider(self) -> bool:
        return bool(self.staff.oidc_issuer)

    @property
    def development(self) -> bool:
        return self.web.environment == "development"

    def callback_url(self) -> str:
        return self.web.public_base_url.rstrip("/") + "/staff/sign-in/callback"

    async def redirect(self, request: Request) -> Any:
        """To the provider's authorization endpoint (state, nonce and PKCE kept in session)."""
        return await self.oauth.district.authorize_redirect(request, self.callback_url())

    async def finish(self, request: Request) -> StaffUser:
        """The provider's answer: exchange the code, read the ID token's claims."""
        token = await self.oauth.district.authorize_access_token(request)
        claims: dict[str, Any] = dict(token.get("userinfo") or {})
        if not claims:
            claims = dict(await self.oauth.district.userinfo(token=token))
        return self.user_from_claims(claims)

    def user_from_claims(self, claims: dict[str, Any]) -> StaffUser:
        names = self.config.oidc.claims

        def listed(key: str) -> tuple[str, ...]:
            value = claims.get(key) or []
            return tuple(str(v) for v in ([value] if isinstance(value, str) else value))

        return StaffUser(
            sub=str(claims["sub"]),
            name=str(claims.get(names.name) or claims.get("email") or claims["sub"]),
            roles=tuple(self.config.roles_for(claims.get(names.groups))),
            schools=listed(names.schools),
            teams=listed(names.teams),
            via="oidc",
        )

    # --- the session ---------------------------------------------------------------------

    def open(self, request: Request, user: StaffUser) -> None:
        """A fresh session for this person (nothing of an earlier one is kept)."""
        request.session.clear()
        request.session[SESSION_KEY] = user.to_session()
        request.session[SEEN_KEY] = int(time.time())

    def user(self, request: Request) -> StaffUser:
        """The signed-in person; `SignInNeeded` without a session or after the idle timeout."""
        data = request.session.get(SESSION_KEY)
        seen = request.session.get(SEEN_KEY)
        if not isinstance(data, dict) or not isinstance(seen, int):
            raise SignInNeeded
        if time.time() - seen > self.config.idle_timeout_minutes * 60:
            request.session.clear()
            raise SignInNeeded
        request.session[SEEN_KEY] = int(time.time())
        return StaffUser.from_session(data)

    def token(self, user: StaffUser) -> str:
        """A short-lived bearer token carrying this person's subject, roles, schools, teams."""
        return mint_token(
            subject=user.sub,
            roles=list(user.roles),
            signing_key=self.web.jwt_signing_key.get_secret_value(),
            issuer=self.web.jwt_issuer,
            audience=self.web.jwt_audience,
            ttl_s=self.staff.staff_token_ttl_s,
            schools=list(user.schools),
            teams=list(user.teams),
            name=user.name,
        )
