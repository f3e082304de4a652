"""A member's `away.until` is applied (issue 16): assignment skips them only until the date
they gave, then they are back (in assignment and in the member directory), with a fake clock
and the real store."""

# ruff: noqa: F811  (pytest fixtures imported from test_triage_handlers are parameters here)

from __future__ import annotations

from datetime import timedelta

import pytest
from pymongo import AsyncMongoClient

from services.triage import handlers
from services.triage.context import TriageContext
from shared.clock import FakeClock
from shared.district import DistrictConfig
from tests.conftest import Isolation
from tests.integration.test_triage_handlers import (  # noqa: F401  (fixture)
    T0,
    context,
    details,
    district,
    triage,
)

pytestmark = pytest.mark.integration


async def assignees(ctx: TriageContext, concern_ids: list[str]) -> set[str]:
    return {(await ctx.decisions.get(c) or {}).get("assignee_id") or "" for c in concern_ids}


async def test_an_away_member_is_skipped_until_the_date_they_gave_then_gets_concerns_again(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    clock = FakeClock(T0)
    ctx = context(mongo, isolation.db("triage"), district, clock)
    await handlers.set_away(
        ctx, "sd-1", away=True, backup_id="cover", until=T0 + timedelta(days=2), actor="lead"
    )
    await ctx.members.ensure(["sd-1", "cover"])

    away = [f"c-{i}" for i in range(4)]
    for c in away:
        await triage(ctx, details(c))
    assert "sd-1" not in await assignees(ctx, away)
    assert "cover" in await assignees(ctx, away)

    clock.advance(timedelta(days=2, minutes=1))  # back: the date has passed
    back = [f"c-back-{i}" for i in range(4)]
    for c in back:
        await triage(ctx, details(c, at=clock.now()))
    assert "sd-1" in await assignees(ctx, back)
    assert "cover" not in await assignees(ctx, back)  # no longer covering for sd-1
