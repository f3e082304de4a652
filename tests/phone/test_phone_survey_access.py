"""The survey by keypad is answered only for the concern whose PIN the caller gave: the
tracking number rides in the survey step's address, which the provider signs, so a request
for another family's concern (unsigned, or signed for another address) is refused and notify
is never asked."""

# ruff: noqa: F811  (the `phone` fixture imported from test_call_flow is a parameter here)

from __future__ import annotations

from urllib.parse import urljoin

import pytest

from tests.phone.simulator import sign
from tests.phone.test_call_flow import (  # noqa: F401
    BASE,
    RESOLVED,
    TOKEN,
    Phone,
    phone,
    resolved_concern,
)

pytestmark = pytest.mark.unit

OTHER = "CS-2026-000077"  # another family's resolved concern, its survey open


async def test_another_familys_survey_is_not_answered_by_a_forged_survey_step(
    phone: Phone,
) -> None:
    async with phone() as (caller, bureau):
        resolved_concern(bureau)
        bureau.add(tracking_number=OTHER, pin="161803")
        bureau.surveys[OTHER] = "open"
        params = {**caller.params, "Digits": "1"}
        mine = urljoin(BASE, f"/voice/survey?lang=en&tn={RESOLVED}&prompt=1")
        theirs = urljoin(BASE, f"/voice/survey?lang=en&tn={OTHER}&prompt=1")
        unsigned = await caller.http.post(theirs, data=params)
        resigned = await caller.http.post(
            theirs, data=params, headers={"X-Twilio-Signature": sign(TOKEN, mine, params)}
        )
        assert unsigned.status_code == 403 and resigned.status_code == 403
        assert bureau.survey_answers == []
        # the step the provider signed after the PIN is taken, for that concern only
        taken = await caller.post(f"/voice/survey?lang=en&tn={RESOLVED}&prompt=1", {"Digits": "1"})
        assert taken.status_code == 200
    assert bureau.survey_answers == [(RESOLVED, 1)]
