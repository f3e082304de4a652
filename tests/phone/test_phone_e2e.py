"""The phone front door as a process against the four services: a voicemail becomes a
concern with a callback, a text lands in it, STOP and START reach notify; the survey of a
resolved concern answered by phone reaches notify and the Board, once."""

# ruff: noqa: F811  (the e2e fixtures imported below are parameters here)

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from devtools.bureau import LocalBureau
from frontends.phone.domain import spoken_digits
from tests.conftest import bearer, eventually
from tests.e2e.conftest import bureau  # noqa: F401
from tests.phone.simulator import Caller, Recording

pytestmark = pytest.mark.e2e

TOKEN = "twilio-e2e-auth-token"
CALLER = "+15555550142"
STAFF = bearer("specialist", sub="e2e-desk")
PHONE = bearer("frontend", sub="phone-frontend")
# a staff reader of reports: exact counts (a Board member reads counts under 5 suppressed)
BOARD = bearer("auditor", sub="auditor-1")


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


async def test_a_caller_answers_the_survey_of_a_resolved_concern_and_notify_and_the_board_count_it_once(  # noqa: E501
    bureau: LocalBureau,
) -> None:
    bureau.start_frontends(("phone",), env={"TWILIO_AUTH_TOKEN": TOKEN})
    base, intake = bureau.url("phone"), bureau.url("intake")
    async with httpx.AsyncClient(timeout=20) as http:
        # a family without email or SMS leaves a voicemail and writes down number and PIN
        caller = Caller(http, base_url=base, auth_token=TOKEN, from_number=CALLER)
        filed = await caller.call(["2", "2", "1", Recording(seconds=20)])
        [pin] = re.findall(r"Su PIN es ([\d ]+)\.", filed.text)[:1]
        found = (
            await http.get(f"{intake}/v1/concerns", params={"channel": "phone"}, headers=STAFF)
        ).json()
        [concern] = found["items"]
        tracking = concern["tracking_number"]
        resolved = await http.post(
            f"{intake}/v1/concerns/{concern['id']}/resolve",
            headers=STAFF,
            json={"summary": "Llamamos a la familia; la parada vuelve a la ruta."},
        )
        assert resolved.status_code == 200, resolved.text
        survey_url = f"{bureau.url('notify')}/v1/concerns/by-tracking/{tracking}/survey"

        async def survey_state() -> str | None:
            answer = await http.get(survey_url, headers=PHONE)
            return answer.json()["status"] if answer.status_code == 200 else None

        assert await eventually(survey_state, what="notify opens the survey") == "open"

        # the family calls back in Spanish, keys the tracking digits and the PIN, hears the
        # concern resolved and answers the one question with a 4
        sid = "CA" + "8" * 32
        keys = [tracking.replace("-", "")[2:], pin.replace(" ", "")]
        call = Caller(http, base_url=base, auth_token=TOKEN, from_number=CALLER, call_sid=sid)
        heard = await call.call(["2", "1", *keys, "4"])
        assert f"Su caso {spoken_digits(tracking)} está resuelto." in heard.text
        assert "¿qué tan satisfecho está" in heard.text
        assert "Gracias por su respuesta." in heard.text and heard.hung_up
        assert await survey_state() == "answered"

        # the Board counts the answer once, and the call once, as a status heard
        async def board_answers() -> int | None:
            today = datetime.now(UTC).date()
            report = await http.get(
                f"{bureau.url('escalation')}/v1/reports/board",
                headers=BOARD,
                params={
                    "from": str(today - timedelta(days=1)),
                    "to": str(today + timedelta(days=2)),
                },
            )
            answers = int(report.json()["total"]["satisfaction_responses"])
            return answers or None

        assert await eventually(board_answers, what="the Board counts the answer") == 1
        record = await http.post(f"{intake}/v1/calls/{sid}/end", json={}, headers=PHONE)
        assert record.json()["outcomes"] == ["status_heard"], record.text
        assert record.json()["path"][-1] == "survey:answered"
        report = (await http.get(f"{intake}/v1/calls/report", headers=STAFF)).json()
        assert report["by_outcome"]["status_heard"] == 1, report

        # calling again, the caller hears the status and the menu, and is not asked again
        again = Caller(
            http, base_url=base, auth_token=TOKEN, from_number=CALLER, call_sid="CA" + "9" * 32
        )
        second = await again.call(["1", "1", *keys, None, None, None])
        assert f"Your concern {spoken_digits(tracking)} is resolved." in second.text
        assert "how satisfied" not in second.text and "To speak to someone" in second.text
        assert await board_answers() == 1

        # a family who only texts: STATUS of its resolved concern asks the question, and the
        # score it texts back reaches notify and the Board as the caller's did
        texter = Caller(
            http,
            base_url=base,
            auth_token=TOKEN,
            from_number="+15555550143",
            call_sid="CA" + "6" * 32,
        )
        await texter.call(["1", "2", "1", Recording(seconds=15)])
        [texted] = [
            c
            for c in (
                await http.get(f"{intake}/v1/concerns", params={"channel": "phone"}, headers=STAFF)
            ).json()["items"]
            if c["tracking_number"] != tracking
        ]
        done = await http.post(
            f"{intake}/v1/concerns/{texted['id']}/resolve",
            headers=STAFF,
            json={"summary": "The stop is back on the route."},
        )
        assert done.status_code == 200, done.text
        texted_url = (
            f"{bureau.url('notify')}/v1/concerns/by-tracking/{texted['tracking_number']}/survey"
        )

        async def texted_survey() -> str | None:
            answer = await http.get(texted_url, headers=PHONE)
            return answer.json()["status"] if answer.status_code == 200 else None

        assert await eventually(texted_survey, what="notify opens the survey") == "open"
        status = await texter.post("sms", {"Body": "STATUS", "MessageSid": "SM" + "a" * 32})
        assert f"Concern {texted['tracking_number']}: resolved." in status.text
        assert "How did we do? Reply with a number from 1" in status.text
        score = await texter.post("sms", {"Body": "5", "MessageSid": "SM" + "b" * 32})
        assert "your answer about concern" in score.text, score.text
        assert await texted_survey() == "answered"
        assert await eventually(lambda: _at_least(board_answers, 2), what="the Board") == 2


async def _at_least(count: Callable[[], Awaitable[int | None]], wanted: int) -> int | None:
    """`count()` once it has reached `wanted` (None before, for `eventually`)."""
    found = await count()
    return found if found is not None and found >= wanted else None
