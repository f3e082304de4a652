"""Training and pledge records in triage (the staff directory's owner), on the real store:
entered one by one, imported from HR's CSV, read by the Board as coverage without names."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import httpx
import pytest
import yaml
from pymongo import AsyncMongoClient

from services.triage.main import create_app
from services.triage.settings import TriageSettings
from shared.settings import DEFAULT_DISTRICT_CONFIG
from tests.conftest import Isolation, bearer

pytestmark = pytest.mark.integration

ADMIN = bearer("admin", "specialist", sub="hr-admin")
BOARD = bearer("board", sub="board-member-1")


@pytest.fixture
async def triage(
    mongo_url: str,
    amqp_url: str,
    isolation: Isolation,
    mongo: AsyncMongoClient,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = TriageSettings(
        mongo_url=mongo_url,
        mongo_db=isolation.db("triage"),
        amqp_url=amqp_url,
        queue_prefix=isolation.queue_prefix,
        events_exchange=isolation.events_exchange,
        private_exchange=isolation.private_exchange,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://triage", headers=ADMIN
        ) as client:
            yield client


HR_EXPORT = (
    "staff_id,course,completed_on,pledge_version,pledge_signed_on\r\n"
    "p-lincoln,cs-101,2026-09-10,2026-1,2026-09-10\r\n"
    "sd-1,cs-101,2026-09-12,,\r\n"
    "sd-2,,,2026-1,2026-09-14\r\n"
    "nobody,cs-101,2026-09-12,,\r\n"
    "tr-1,cs-999,2026-09-12,,\r\n"
    "tr-lead,cs-101,12/09/2026,,\r\n"
)


async def test_hr_csv_import_records_valid_lines_and_names_refused_ones(
    triage: httpx.AsyncClient,
) -> None:
    answer = await triage.post(
        "/v1/training/import", content=HR_EXPORT.encode(), headers={"content-type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["imported"] == 3
    assert [(p["line"], p["message"]) for p in result["refused"]] == [
        (5, "unknown staff member 'nobody'"),
        (6, "unknown course 'cs-999'"),
        (7, "dates are YYYY-MM-DD"),
    ]
    principal = (await triage.get("/v1/training/p-lincoln")).json()
    assert principal["trained"] and principal["pledged"]
    assert principal["courses"] == {"cs-101": "2026-09-10"}
    needed = {m["staff_id"] for m in (await triage.get("/v1/training/needed")).json()}
    assert "p-lincoln" not in needed and {"sd-1", "sd-2", "tr-lead"} <= needed


async def test_course_and_pledge_entered_one_by_one(triage: httpx.AsyncClient) -> None:
    course = await triage.put(
        "/v1/training/sd-1/courses/cs-101", json={"completed_on": "2026-09-01"}
    )
    assert course.status_code == 200 and course.json()["trained"]
    pledge = await triage.put(
        "/v1/training/sd-1/pledge", json={"version": "2025-1", "signed_on": "2025-09-01"}
    )
    assert pledge.status_code == 200 and not pledge.json()["pledged"]  # an older text
    unknown = await triage.put(
        "/v1/training/sd-1/courses/knitting", json={"completed_on": "2026-09-01"}
    )
    assert unknown.status_code == 422
    other = await triage.put(
        "/v1/training/sd-2/pledge",
        json={"version": "2026-1", "signed_on": "2026-09-01"},
        headers=bearer("team_member", sub="sd-1"),
    )
    assert other.status_code == 403  # a team member records only their own


async def test_board_reads_coverage_by_school_and_department_without_names(
    triage: httpx.AsyncClient,
) -> None:
    await triage.post(
        "/v1/training/import", content=HR_EXPORT.encode(), headers={"content-type": "text/csv"}
    )
    exact = (await triage.get("/v1/training/coverage", headers=ADMIN)).json()
    answer = await triage.get("/v1/training/coverage", headers=BOARD)
    assert answer.status_code == 200
    coverage = answer.json()
    staff = yaml.safe_load(DEFAULT_DISTRICT_CONFIG.read_text())["staff"]
    assert coverage["total"]["staff"] == len(staff) and coverage["total"]["trained"] == 2
    # Lincoln's principal and its office staff member; only the principal is in HR's export:
    # exact for an administrator, too small to show for the Board (`board.suppress_below`)
    lincoln = next(s for s in exact["school"] if s["key"] == "lincoln-es")
    assert (lincoln["staff"], lincoln["trained"], lincoln["pledged"]) == (2, 1, 1)
    lincoln = next(s for s in coverage["school"] if s["key"] == "lincoln-es")
    assert (lincoln["staff"], lincoln["trained"], lincoln["trained_share"]) == (None, None, None)
    assert {"staff", "trained", "pledged", "trained_share"} <= set(lincoln["suppressed"])
    desk = next(d for d in exact["department"] if d["key"] == "service-desk")
    assert (desk["staff"], desk["trained"], desk["pledged"]) == (3, 1, 1)
    assert "Dana" not in answer.text and "p-lincoln" not in answer.text
    for path in ("/v1/training/needed", "/v1/training/p-lincoln", "/v1/members"):
        assert (await triage.get(path, headers=BOARD)).status_code == 403
