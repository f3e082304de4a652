"""Authentication of staff and frontends: OAuth2 bearer JWTs, and the roles they carry.

Production: tokens from the district's identity provider, verified with its JWKS
(`JWT_JWKS_URL`, `JWT_ISSUER`, `JWT_AUDIENCE`, RS256/ES256). Development: tokens signed with
`JWT_SIGNING_KEY` (HS256) and minted by `bureau token`. Expired, forged or wrong-audience
tokens are refused (401); a valid token without the needed role is refused (403).

Claims the bureau reads: `sub` (staff id or frontend name), `roles` (list), and for scoped
roles `schools` (a principal's school, an assistant superintendent's schools) and `teams`
(a team member's teams). What each role may do is the table in `shared/authz.py`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jwt

DEVELOPMENT_SIGNING_KEY = "development-only-signing-key-change-me"
CLOCK_SKEW_S = 30


class Role(StrEnum):
    FRONTEND = "frontend"
    INTAKE_AGENT = "intake_agent"
    SPECIALIST = "specialist"
    TEAM_MEMBER = "team_member"  # works the concerns of the teams in its `teams` claim
    PRINCIPAL = "principal"
    ASSISTANT_SUPERINTENDENT = "assistant_superintendent"
    OMBUDSPERSON = "ombudsperson"
    ADMIN = "admin"
    AUDITOR = "auditor"
    BOARD = "board"  # Board members: aggregates only, never a case, a name or a student


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the token says."""

    subject: str
    roles: frozenset[Role]
    schools: frozenset[str] = field(default_factory=frozenset)
    teams: frozenset[str] = field(default_factory=frozenset)
    name: str | None = None

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))


class AuthError(Exception):
    """The token is missing, malformed, expired, forged or meant for someone else."""


@dataclass(frozen=True)
class TokenVerifier:
    """Verifies bearer tokens with either a shared development key or the provider's JWKS."""

    issuer: str
    audience: str
    signing_key: str | None = None
    jwks_url: str | None = None
    max_ttl_s: float | None = None  # a token may not live longer than this from now
    _jwks: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.signing_key and not self.jwks_url:
            raise ValueError("a token verifier needs a signing key or a JWKS URL")
        if self.jwks_url:
            object.__setattr__(self, "_jwks", jwt.PyJWKClient(self.jwks_url, cache_keys=True))

    def verify(self, token: str) -> Principal:
        """The principal of a valid token. The header's algorithm picks the key: HS256 only
        with the shared signing key (tokens the staff console mints for a signed-in person),
        RS256/ES256 only with the provider's JWKS; a token never chooses a key of another kind."""
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            if algorithm == "HS256" and self.signing_key:
                key: Any = self.signing_key
                algorithms = ["HS256"]
            elif algorithm in ("RS256", "ES256") and self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = ["RS256", "ES256"]
            else:
                raise AuthError(f"tokens signed with {algorithm!r} are not accepted here")
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=CLOCK_SKEW_S,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(str(exc)) from exc
        if self.max_ttl_s is not None and float(claims["exp"]) - time.time() > self.max_ttl_s:
            raise AuthError("the token lives longer than this bureau accepts (JWT_MAX_TTL_S)")
        return principal_from_claims(claims)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    roles = claims.get("roles", [])
    if not isinstance(roles, list):
        raise AuthError("the roles claim must be a list")
    known = {r.value for r in Role}
    return Principal(
        subject=str(claims["sub"]),
        roles=frozenset(Role(r) for r in roles if r in known),
        schools=frozenset(str(s) for s in claims.get("schools", []) or []),
        teams=frozenset(str(t) for t in claims.get("teams", []) or []),
        name=claims.get("name"),
    )


def mint_token(
    *,
    subject: str,
    roles: list[str],
    signing_key: str,
    issuer: str,
    audience: str,
    ttl_s: int = 3600,
    schools: list[str] | None = None,
    teams: list[str] | None = None,
    name: str | None = None,
) -> str:
    """A development token (HS256). Production tokens come from the identity provider."""
    unknown = sorted(set(roles) - {r.value for r in Role})
    if unknown:
        raise ValueError(f"unknown roles {unknown}; known: {sorted(r.value for r in Role)}")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": roles,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_s,
    }
    if schools:
        claims["schools"] = schools
    if teams:
        claims["teams"] = teams
    if name:
        claims["name"] = name
    return jwt.encode(claims, signing_key, algorithm="HS256")
