"""Behind the district's proxy: the phone front door believes the scheme a proxy forwards
(X-Forwarded-Proto, over which the provider's signature is checked) only from the proxies in
FORWARDED_ALLOW_IPS, as it is served (frontends.common.serve)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from frontends.common.serve import server_config
from frontends.email.settings import EmailSettings
from frontends.phone.app import create_app
from frontends.phone.settings import PhoneSettings
from shared.clock import FakeClock
from shared.district import load_district
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.phone.fakes import FakeBureau
from tests.phone.simulator import ACCOUNT, BUREAU_NUMBER, sign
from tests.phone.test_call_flow import CALLER, IN_HOURS, TOKEN

pytestmark = pytest.mark.unit

# the address the provider calls (TLS ends at the proxy, which forwards plain HTTP)
PUBLIC = "https://phone.district.example/voice/incoming"
PROXY, STRANGER = "10.1.2.3", "198.51.100.7"


async def answer_to_a_call_signed_for_https(settings: PhoneSettings, *, peer: str) -> int:
    """The status the front door answers, as served, to the provider's first webhook for a
    call, signed over the public https URL and arriving as plain HTTP from `peer`."""
    clock = FakeClock(IN_HOURS)
    app = create_app(settings, bureau=FakeBureau(load_district(DEFAULT_DISTRICT_CONFIG), clock))
    config = server_config(app, settings)
    config.load()
    transport = httpx.ASGITransport(app=config.loaded_app, client=(peer, 40000))
    params = {"CallSid": "CA" + "1" * 32, "AccountSid": ACCOUNT, "From": CALLER}
    params |= {"To": BUREAU_NUMBER, "Direction": "inbound", "CallStatus": "ringing"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport) as http,
    ):
        answer = await http.post(
            PUBLIC.replace("https:", "http:"),
            data=params,
            headers={
                "X-Forwarded-Proto": "https",
                "X-Twilio-Signature": sign(TOKEN, PUBLIC, params),
            },
        )
    return answer.status_code


def phone_settings(forwarded_allow_ips: str) -> PhoneSettings:
    # no PHONE_PUBLIC_URL: the signed URL is the one the request names
    return PhoneSettings(
        twilio_auth_token=SecretStr(TOKEN), forwarded_allow_ips=forwarded_allow_ips
    )


async def test_the_scheme_is_believed_from_a_listed_proxy() -> None:
    settings = phone_settings(forwarded_allow_ips="10.0.0.0/8")
    assert await answer_to_a_call_signed_for_https(settings, peer=PROXY) == 200


@pytest.mark.parametrize(
    ("trusted", "peer"), [("10.0.0.0/8", STRANGER), ("", "127.0.0.1"), ("", PROXY)]
)
async def test_the_scheme_is_not_believed_from_anyone_else(trusted: str, peer: str) -> None:
    # by default no proxy is believed, not even this machine (uvicorn's own default)
    settings = phone_settings(forwarded_allow_ips=trusted)
    assert await answer_to_a_call_signed_for_https(settings, peer=peer) == 403


def test_the_email_door_is_served_believing_its_listed_proxies_only() -> None:
    assert server_config(FastAPI(), EmailSettings()).proxy_headers is False
    listed = server_config(FastAPI(), EmailSettings(forwarded_allow_ips="10.0.0.0/8"))
    assert (listed.proxy_headers, listed.forwarded_allow_ips) == (True, "10.0.0.0/8")
