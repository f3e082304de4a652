"""Killing a service for a while loses no concern and sends no acknowledgement twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from devtools.bureau import LocalBureau
from tests.e2e.conftest import FRONTEND, STAFF, concern_body, eventually

pytestmark = pytest.mark.e2e

CONCERNS_WHILE_DOWN = 4


@pytest.mark.parametrize("victim", ["intake", "triage", "escalation", "notify"])
async def test_killed_service_catches_up_without_loss_or_duplicate(
    victim: str, bureau: LocalBureau, http: httpx.AsyncClient
) -> None:
    """Downstream services are killed before the concerns arrive; intake right after it
    answered 201, before its outbox relay could be sure to publish everything."""
    intake = bureau.url("intake")
    if victim != "intake":
        bureau.services[victim].kill()  # SIGKILL: no graceful shutdown
    ids: dict[str, str] = {}
    for i in range(CONCERNS_WHILE_DOWN):
        body = concern_body(
            requester={"name": f"Parent {i}", "email": f"parent{i}@example.org", "language": "en"}
        )
        answer = await http.post(f"{intake}/v1/concerns", json=body, headers=FRONTEND)
        assert answer.status_code == 201, answer.text
        ids[answer.json()["id"]] = answer.json()["tracking_number"]
    if victim == "intake":
        bureau.services[victim].kill()
    await asyncio.sleep(1.0)
    await asyncio.to_thread(bureau.restart, victim)

    async def all_triaged() -> bool:
        cases = [
            (await http.get(f"{intake}/v1/concerns/{cid}", headers=STAFF)).json() for cid in ids
        ]
        return all(case.get("team") for case in cases)

    await eventually(all_triaged, timeout_s=30, what="every concern triaged")

    async def all_clocks() -> bool:
        answers = [
            await http.get(f"{bureau.url('escalation')}/v1/clocks/{cid}", headers=STAFF)
            for cid in ids
        ]
        return all(a.status_code == 200 for a in answers)

    await eventually(all_clocks, timeout_s=30, what="an SLA clock for every concern")

    assert bureau.smtp is not None
    tracking_numbers = set(ids.values())

    def acknowledgements() -> Counter[str]:
        """Mails to requesters (staff hear of assignments too) by tracking number."""
        return Counter(
            t
            for mail in bureau.smtp.mails  # type: ignore[union-attr]
            if mail.recipients[0].startswith("parent")
            for t in tracking_numbers
            if t in mail.text
        )

    await asyncio.to_thread(
        bureau.smtp.wait_for, lambda _: set(acknowledgements()) == tracking_numbers, 30
    )

    async def all_settled() -> bool:
        """Every notification of these concerns sent, failed or skipped: none is left to
        send (a redelivered event finds its delivery by id), so no duplicate can follow."""
        for cid in ids:
            answer = await http.get(
                f"{bureau.url('notify')}/v1/concerns/{cid}/deliveries", headers=STAFF
            )
            if answer.status_code != 200 or any(
                d["status"] in ("queued", "sending") for d in answer.json()
            ):
                return False
        return True

    await eventually(all_settled, timeout_s=30, what="every notification settled")
    assert acknowledgements() == Counter({t: 1 for t in tracking_numbers})
