"""The safety words through triage's admin API: the district file's until an administrator
sets them; then the stored ones make concerns critical, in the dry run and in routing, and
stay after a restart."""

# ruff: noqa: F811  (pytest fixtures imported from test_triage_api are parameters here)

from __future__ import annotations

import aio_pika
import pytest

from tests.conftest import Isolation, bearer
from tests.integration.test_triage_api import (  # noqa: F401
    Running,
    decided,
    details,
    publish,
    running,
    settings,
)

pytestmark = pytest.mark.integration

VAPING = {"category": "other", "description": "Students are vaping in the restroom."}


async def test_an_administrator_sets_the_safety_words_and_new_concerns_are_routed_with_them(
    running: Running, amqp: aio_pika.abc.AbstractRobustConnection, isolation: Isolation
) -> None:
    async with running() as triage:
        shipped = await triage.get("/v1/safety-words")
        before = await triage.post("/v1/rules/dry-run", json=VAPING)
        refused = await triage.put(
            "/v1/safety-words", json={"words": ["vape*"]}, headers=bearer("specialist")
        )
        invalid = await triage.put("/v1/safety-words", json={"words": ["ok", " * ", "va*pe"]})
        empty = await triage.put("/v1/safety-words", json={"words": []})
        saved = await triage.put(
            "/v1/safety-words", json={"words": ["Vap*", "vap*", "pelea", "peléa"]}
        )
        after = await triage.post("/v1/rules/dry-run", json=VAPING)
        weapon = await triage.post(
            "/v1/rules/dry-run", json={"category": "other", "description": "He had a weapon."}
        )
        fight = details(description="Hubo una pelea en el recreo.")
        await publish(amqp, isolation, fight)
        routed = await decided(triage, fight.concern_id)
    async with running() as triage:  # a restart: the administrator's words stand
        kept = await triage.get("/v1/safety-words")

    assert shipped.status_code == 200 and shipped.json()["origin"] == "district"
    assert "weapon*" in shipped.json()["words"] and shipped.json()["updated_by"] is None
    assert before.json()["priority"] != "critical"
    assert refused.status_code == 403
    assert invalid.status_code == 422
    assert [e["field"] for e in invalid.json()["errors"]] == ["words.1", "words.2"]
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "words"
    assert saved.status_code == 200, saved.text
    assert saved.json()["words"] == ["Vap*", "pelea"]  # repeats, case and accents aside
    assert saved.json()["origin"] == "admin" and saved.json()["updated_by"]
    assert (after.json()["priority"], after.json()["safety_words"]) == ("critical", ["Vap*"])
    assert weapon.json()["safety_words"] == []  # the file's words no longer apply
    assert routed["priority"] == "critical"
    assert kept.json()["words"] == ["Vap*", "pelea"] and kept.json()["origin"] == "admin"
