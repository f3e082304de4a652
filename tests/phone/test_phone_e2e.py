"""The phone front door as a process against the four services: a voicemail becomes a
concern with a callback, a text lands in it, STOP and START reach notify."""

# ruff: noqa: F811  (the e2e fixtures imported below are parameters here)

from __future__ import annotations

import re

import httpx
import pytest

from devtools.bureau import LocalBureau
from frontends.phone.domain import spoken_digits
from tests.conftest import bearer
from tests.e2e.conftest import bureau  # noqa: F401
from tests.phone.simulator import Caller, Recording

pytestmark = pytest.mark.e2e

TOKEN = "twilio-e2e-auth-token"
CALLER = "+15555550142"
STAFF = bearer("specialist", sub="e2e-desk")
PHONE = bearer("frontend", sub="phone-frontend")


async def test_voicemail_text_threading_and_stop_start_against_the_real_services(
    bureau: LocalBureau,
) -> None:
    bureau.start_frontends(("phone",), env={"TWILIO_AUTH_TOKEN": TOKEN})
    base = bureau.url("phone")
    async with httpx.AsyncClient(timeout=20) as http:
        caller = Caller(http, base_url=base, auth_token=TOKEN, from_number=CALLER)
        call = await caller.call(["1", "2", "1", Recording(seconds=20)])
        assert "Your tracking number is" in call.text and call.hung_up

        intake = bureau.url("intake")
        found = (
            await http.get(f"{intake}/v1/concerns", params={"channel": "phone"}, headers=STAFF)
        ).json()
        assert len(found["items"]) == 1, found
        concern = (
            await http.get(f"{intake}/v1/concerns/{found['items'][0]['id']}", headers=STAFF)
        ).json()
        assert Recording().url in concern["description"]
        assert len(concern["callbacks"]) == 1
        assert concern["tracking_number"].replace("-", "")[-6:] in call.text.replace(" ", "")

        # calling again, in Spanish, the caller is offered that concern and, with the PIN
        # they heard, hears its status from intake
        [pin] = re.findall(r"Your PIN is ([\d ]+)\.", call.text)[:1]
        pin = pin.replace(" ", "")
        again = Caller(
            http, base_url=base, auth_token=TOKEN, from_number=CALLER, call_sid="CA" + "7" * 32
        )
        status = await again.call(["2", "1", "1", pin])
        said = spoken_digits(concern["tracking_number"])
        assert f"Su caso {said} está" in status.text, status.text
        assert "Gracias por llamar" in status.text and status.hung_up

        # staff ask a question; the text that answers it lands in the concern and ends the wait
        asked = await http.post(
            f"{intake}/v1/concerns/{concern['id']}/request-information",
            headers=STAFF,
            json={"message": "Which bus and which stop?"},
        )
        assert asked.status_code == 200, asked.text
        assert asked.json()["status"] == "awaiting_requester"
        answer = await caller.post(
            "sms", {"Body": "The bus was late again this morning.", "MessageSid": "SM" + "4" * 32}
        )
        assert answer.status_code == 200
        assert f"added to concern {concern['tracking_number']}" in answer.text
        timeline = (await http.get(f"{intake}/v1/concerns/{concern['id']}", headers=STAFF)).json()
        assert "The bus was late again this morning." in [m["text"] for m in timeline["messages"]]
        assert timeline["status"] == "acknowledged"  # no longer waiting on the family

        notify = f"{bureau.url('notify')}/v1/sms-opt-outs/%2B15555550142"
        assert (await http.get(notify, headers=PHONE)).status_code == 404
        # "Sí" is an opt-in keyword too, but from a number that never said STOP it answers
        si = await caller.post("sms", {"Body": "Sí", "MessageSid": "SM" + "7" * 32})
        assert f"added to concern {concern['tracking_number']}" in si.text
        timeline = (await http.get(f"{intake}/v1/concerns/{concern['id']}", headers=STAFF)).json()
        assert [m["text"] for m in timeline["messages"]][-1] == "Sí"
        stopped = await caller.post("sms", {"Body": "STOP", "MessageSid": "SM" + "5" * 32})
        assert "unsubscribed" in stopped.text
        assert (await http.get(notify, headers=PHONE)).status_code == 204
        await caller.post("sms", {"Body": "START", "MessageSid": "SM" + "6" * 32})
        assert (await http.get(notify, headers=PHONE)).status_code == 404
        await caller.post("sms", {"Body": "STOP", "MessageSid": "SM" + "8" * 32})
        yes = await caller.post("sms", {"Body": "yes", "MessageSid": "SM" + "9" * 32})
        assert "subscribed again" in yes.text  # after STOP, YES opts in
        assert (await http.get(notify, headers=PHONE)).status_code == 404

        report = (await http.get(f"{intake}/v1/calls/report", headers=STAFF)).json()
        assert report["by_outcome"]["voicemail_left"] == 1
        assert report["callbacks_scheduled"] == 1
