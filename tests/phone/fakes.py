"""A recording fake of the services, shaped as `frontends.phone.client.Bureau`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from frontends.common.intake import (
    ConcernReceipt,
    IntakeConflict,
    IntakeError,
    IntakeNotFound,
    IntakeRateLimited,
    IntakeUnavailable,
    RequesterView,
)
from frontends.phone.client import (
    CallOutcome,
    CallStepCreate,
    InboundMessageCreate,
    RecentConcern,
    Survey,
)
from services.intake.domain import OPEN_STATUSES, Status
from services.intake.schemas import ConcernCreate
from shared.clock import Clock
from shared.district import DistrictConfig

WRONG_PINS_BEFORE_LOCK = 5
# The concern a test's caller has, unless the test names another.
TRACKING, PIN = "CS-2026-000042", "271828"
DONE = frozenset({Status.RESOLVED, Status.CLOSED})


@dataclass
class FakeBureau:
    district: DistrictConfig
    clock: Clock
    concerns: dict[str, dict[str, Any]] = field(default_factory=dict)  # by tracking number
    steps: list[tuple[str, str, CallOutcome | None]] = field(default_factory=list)
    ended: dict[str, int | None] = field(default_factory=dict)
    callbacks: list[tuple[str, str, datetime]] = field(default_factory=list)
    texts: list[tuple[str, str, str | None]] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)
    wrong_pins: int = 0
    # a resolved concern's survey in notify, by tracking number: open, answered, expired,
    # or unreachable (notify does not answer); none until notify heard of the resolution
    surveys: dict[str, str] = field(default_factory=dict)
    survey_answers: list[tuple[str, int]] = field(default_factory=list)

    def add(
        self,
        *,
        tracking_number: str = TRACKING,
        pin: str = PIN,
        phone: str | None = None,
        language: str = "en",
        status: Status = Status.ACKNOWLEDGED,
    ) -> None:
        self.concerns[tracking_number] = {
            "pin": pin,
            "phone": phone,
            "language": language,
            "status": status,
            "id": f"id-{tracking_number}",
        }

    def view(self, tracking_number: str) -> RequesterView:
        concern = self.concerns[tracking_number]
        return RequesterView(
            tracking_number=tracking_number,
            status=concern["status"],
            category="transportation",
            category_name="Transportation",
            team_name="Transportation Department",
            submitted_at=self.clock.now(),
            resolution_due_at=datetime.fromisoformat("2026-12-04T21:00:00+00:00"),
            messages=[],
        )

    @property
    def outcomes(self) -> list[CallOutcome]:
        return [o for _, _, o in self.steps if o is not None]

    async def ready(self) -> bool:
        return True

    async def category_names(self, language: str) -> list[tuple[str, str]]:
        return [(c.id, c.name.get(language)) for c in self.district.categories]

    async def create_concern(self, body: dict[str, Any], *, idempotency_key: str) -> ConcernReceipt:
        ConcernCreate.model_validate(body)  # what intake would refuse
        number = f"CS-2026-{len(self.concerns) + 1:06d}"
        self.concerns[number] = {
            "pin": "314159",
            "phone": body["requester"]["phone"],
            "language": body["requester"]["language"],
            "status": Status.RECEIVED,
            "id": f"id-{number}",
            "body": body,
            "key": idempotency_key,
        }
        return ConcernReceipt.model_construct(
            id=f"id-{number}",
            tracking_number=number,
            status=Status.RECEIVED,
            submitted_at=self.clock.now(),
            resolution_due_at=self.clock.now() + timedelta(hours=72),
            pin="314159",
        )

    async def status_by_pin(self, tracking_number: str, pin: str) -> RequesterView:
        if self.wrong_pins >= WRONG_PINS_BEFORE_LOCK:
            raise IntakeRateLimited(429, "Too many wrong PINs")
        concern = self.concerns.get(tracking_number)
        if concern is None or concern["pin"] != pin:
            self.wrong_pins += 1
            raise IntakeNotFound(404, "Concern not found")
        return self.view(tracking_number)

    async def recent_concern(self, phone: str, *, done: bool = False) -> RecentConcern | None:
        for statuses in (OPEN_STATUSES, DONE) if done else (OPEN_STATUSES,):
            for number, concern in reversed(self.concerns.items()):
                if concern["phone"] == phone and concern["status"] in statuses:
                    return RecentConcern(language=concern["language"], view=self.view(number))
        return None

    async def start_call(self, call_sid: str) -> None:
        self.steps.append((call_sid, "start", None))

    async def call_step(self, call_sid: str, step: CallStepCreate) -> None:
        self.steps.append((call_sid, step.step, step.outcome))

    async def end_call(self, call_sid: str, duration_s: int | None) -> None:
        self.ended[call_sid] = duration_s

    async def voicemail_callback(self, call_sid: str, concern_id: str, due_at: datetime) -> None:
        self.callbacks.append((call_sid, concern_id, due_at))

    async def inbound_text(self, text: InboundMessageCreate) -> None:
        self.texts.append((text.from_address, text.body, text.tracking_number))

    async def sms_opt_out(self, phone: str, opted_out: bool) -> None:
        (self.opted_out.add if opted_out else self.opted_out.discard)(phone)

    async def sms_opted_out(self, phone: str) -> bool:
        return phone in self.opted_out

    def _survey(self, tracking_number: str) -> str:
        state = self.surveys.get(tracking_number)
        if state is None:
            raise IntakeNotFound(404, "Survey not found")
        if state == "expired":
            raise IntakeError(410, "Survey expired")
        if state == "unreachable":
            raise IntakeUnavailable(503, "Unreachable")
        return state

    async def concern_survey(self, tracking_number: str) -> Survey:
        return Survey(
            language="en",
            status=self._survey(tracking_number),
            expires_at=self.clock.now() + timedelta(days=30),
        )

    async def answer_concern_survey(self, tracking_number: str, score: int) -> None:
        if self._survey(tracking_number) == "answered":
            raise IntakeConflict(409, "Survey already answered")
        self.surveys[tracking_number] = "answered"
        self.survey_answers.append((tracking_number, score))
