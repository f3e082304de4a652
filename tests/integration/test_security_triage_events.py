"""Issue 15, Security #2 on triage's events: a re-triage that moves a concern into a category
whose very route tells a student's special-education status."""

# ruff: noqa: F811  (pytest fixtures imported from test_triage_handlers are parameters here)

from __future__ import annotations

import pytest
from pymongo import AsyncMongoClient

from services.triage import handlers
from shared.clock import FakeClock
from shared.district import DistrictConfig
from shared.events import Priority, encode
from tests.conftest import Isolation
from tests.integration.test_triage_handlers import (  # noqa: F401
    T0,
    context,
    details,
    district,
    outbox,
    triage,
)

pytestmark = pytest.mark.integration


async def test_a_retriage_into_a_special_education_category_is_public_as_the_category_before(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    """A transportation concern, public in Open311 with its tracking number, re-triaged to
    the special-education category: the public `concern.triaged` said
    `category: special-education` for it (its route to the sensitive team was hidden, its
    category was not)."""
    db = isolation.db("triage")
    ctx = context(mongo, db, district, FakeClock(T0))
    await triage(ctx, details("bus", category="transportation"))
    change = handlers.Retriage(reason="about the IEP transport", category="special-education")
    await handlers.retriage(ctx, "bus", change, actor="tr-lead")

    full = [e for e in await outbox(mongo, db, "bus") if e.name == "concern.triaged"]
    assert (full[-1].data["category"], full[-1].data["team_id"]) == (
        "special-education",
        "special-education",
    )
    public = [e for e in await outbox(mongo, db, "bus", public=True)]
    retriaged = [e for e in public if e.name == "concern.triaged"][-1]
    assert retriaged.data["category"] == "transportation"
    assert retriaged.data["team_id"] == "transportation"
    assert "special" not in b"".join(encode(e) for e in public).decode().lower()


async def test_a_retriage_into_a_special_education_category_kept_by_another_team_tells_nothing(
    mongo: AsyncMongoClient, isolation: Isolation, district: DistrictConfig
) -> None:
    """The same category with the team staff name (not sensitive): the category still tells."""
    db = isolation.db("triage")
    ctx = context(mongo, db, district, FakeClock(T0))
    await triage(ctx, details("bus", category="transportation"))
    change = handlers.Retriage(
        reason="IEP transport", category="special-education", team_id="transportation"
    )
    await handlers.retriage(ctx, "bus", change, actor="tr-lead")
    await handlers.retriage(
        ctx, "bus", handlers.Retriage(reason="urgent", priority=Priority.HIGH), actor="tr-lead"
    )
    public = await outbox(mongo, db, "bus", public=True)
    shown = [e.data["category"] for e in public if e.name == "concern.triaged"]
    assert len(shown) >= 2 and set(shown) == {"transportation"}  # both re-triages
    assert "special" not in b"".join(encode(e) for e in public).decode().lower()
    stored = await ctx.decisions.get("bus")
    assert stored is not None and stored["category"] == "special-education"
