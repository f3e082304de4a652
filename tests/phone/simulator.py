"""A small caller: follows the TwiML the phone front door returns, as the provider would.

Every request is form-encoded and signed exactly as Twilio signs it (`X-Twilio-Signature`:
`RequestValidator.compute_signature` over the full URL and the parameters). The caller's
script is the list of things it does when asked: keys for a `Gather` (`None` lets it time
out), a `Recording` for a `Record`, an `Answer` for a `Dial`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx
from twilio.request_validator import RequestValidator

ACCOUNT = "AC" + "a" * 32
BUREAU_NUMBER = "+15555550000"


@dataclass(frozen=True)
class Recording:
    seconds: int = 25
    url: str = "https://api.twilio.example/2010-04-01/Accounts/AC/Recordings/RE0001"


@dataclass(frozen=True)
class Answer:
    """How a dialled desk answers: `completed` after `talk_s` of conversation, or
    `no-answer`, `busy`, `failed`."""

    status: str = "completed"
    talk_s: int = 60


Input = str | None | Recording | Answer


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    return str(RequestValidator(auth_token).compute_signature(url, params))


@dataclass
class Call:
    """What the caller heard and did."""

    heard: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    voices: list[str] = field(default_factory=list)
    dialled: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    gathers: list[dict[str, str]] = field(default_factory=list)  # each Gather's attributes
    hung_up: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.heard)


class Caller:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        auth_token: str,
        from_number: str = "+15555550142",
        call_sid: str = "CA" + "1" * 32,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/") + "/"
        self.auth_token = auth_token
        self.params = {
            "CallSid": call_sid,
            "AccountSid": ACCOUNT,
            "From": from_number,
            "To": BUREAU_NUMBER,
            "Direction": "inbound",
            "CallStatus": "in-progress",
        }

    async def post(self, url: str, extra: dict[str, str] | None = None) -> httpx.Response:
        full = urljoin(self.base_url, url)
        params = {**self.params, **(extra or {})}
        return await self.http.post(
            full, data=params, headers={"X-Twilio-Signature": sign(self.auth_token, full, params)}
        )

    async def call(self, script: Sequence[Input], *, max_steps: int = 40) -> Call:
        """Dial in and follow the TwiML with `script` until the call ends."""
        call = Call()
        inputs: Iterator[Input] = iter(script)
        url, extra = "voice/incoming", dict[str, str]()
        for _ in range(max_steps):
            call.requests.append(url)
            answer = await self.post(url, extra)
            assert answer.status_code == 200, (url, answer.status_code, answer.text)
            assert answer.headers["content-type"].startswith("application/xml")
            following = self._follow(ET.fromstring(answer.text), call, inputs)
            if following is None:
                break
            url, extra = following
        await self.post("voice/call-status", {"CallStatus": "completed", "CallDuration": "90"})
        return call

    def _say(self, element: ET.Element, call: Call) -> None:
        call.heard.append((element.text or "").strip())
        call.languages.append(element.get("language", ""))
        call.voices.append(element.get("voice", ""))

    def _follow(
        self, response: ET.Element, call: Call, inputs: Iterator[Input]
    ) -> tuple[str, dict[str, str]] | None:
        for verb in response:
            if verb.tag == "Say":
                self._say(verb, call)
            elif verb.tag == "Gather":
                call.gathers.append(dict(verb.attrib))
                for inner in verb:
                    if inner.tag == "Say":
                        self._say(inner, call)
                keys = next(inputs, None)
                assert not isinstance(keys, Recording | Answer), ("asked for keys", keys)
                if keys:
                    return verb.get("action", ""), {"Digits": keys}
                if verb.get("actionOnEmptyResult") == "true":
                    return verb.get("action", ""), {"Digits": ""}
            elif verb.tag == "Redirect":
                return (verb.text or "").strip(), {}
            elif verb.tag == "Record":
                done = next(inputs, None)
                if isinstance(done, Recording):
                    return verb.get("action", ""), {
                        "RecordingUrl": done.url,
                        "RecordingDuration": str(done.seconds),
                        "RecordingSid": "RE" + "2" * 32,
                        "Digits": "#",
                    }
                assert done is None, ("asked to record", done)
            elif verb.tag == "Dial":
                numbers = [(n.text or "").strip() for n in verb if n.tag == "Number"]
                call.dialled.extend(numbers)
                answer = next(inputs, None)
                assert isinstance(answer, Answer), ("asked to answer a Dial", answer)
                return verb.get("action", ""), {
                    "DialCallStatus": answer.status,
                    "DialCallDuration": str(answer.talk_s if answer.status == "completed" else 0),
                }
            elif verb.tag == "Hangup":
                call.hung_up = True
                return None
        return None
