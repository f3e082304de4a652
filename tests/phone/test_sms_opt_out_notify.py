"""notify honours the STOP a family texts to the phone front door: no SMS reaches the number
(each is failed for good, saying why) until it texts START; notify's own store and a stand-in
of the SMS provider, the opt-out routes as the phone front door calls them."""

# ruff: noqa: F811  (pytest fixtures imported from test_notify_messages are parameters here)

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest

from services.notify import opt_outs
from services.notify.context import NotifyContext
from services.notify.testing import SmsProviderStandIn
from tests.integration.notify_api import api_client
from tests.integration.test_notify_messages import (  # noqa: F401
    PHONE,
    contact,
    ctx,
    deliver,
    district,
    provider,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def phone_door(ctx: NotifyContext) -> AsyncIterator[httpx.AsyncClient]:
    """notify's opt-out routes, called with the phone front door's token."""
    async with api_client(ctx, "frontend", routers=(opt_outs.router,)) as http:
        yield http


async def test_no_sms_reaches_a_number_that_texted_stop_until_it_texts_start(
    ctx: NotifyContext, provider: SmsProviderStandIn, phone_door: httpx.AsyncClient
) -> None:
    number = f"/v1/sms-opt-outs/{quote(PHONE, safe='')}"
    assert (await phone_door.put(number)).status_code == 204
    assert (await phone_door.get(number)).status_code == 204

    stopped = str(uuid.uuid4())
    await deliver(ctx, contact(stopped, "en", email=None, phone=PHONE))
    [refused] = await ctx.repo.for_concern(stopped)
    doc = await ctx.repo.get_document(refused.id)
    assert doc is not None and doc["status"] == "failed"
    assert doc["last_error"] == opt_outs.REFUSAL  # the delivery log says why nothing was sent
    assert provider.messages == []

    assert (await phone_door.delete(number)).status_code == 204
    assert (await phone_door.get(number)).status_code == 404
    started = str(uuid.uuid4())
    await deliver(ctx, contact(started, "en", email=None, phone=PHONE))
    assert [m.to for m in provider.messages] == [PHONE]
