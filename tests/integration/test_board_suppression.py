"""Small counts through the APIs on the real store: a Board member reads the Board report (JSON
and CSV) and intake's call figures with every count under the district's 5 left out (null, named
in `suppressed`) and no share from fewer cases; an administrator reads the same figures exact;
`public=true` (the printed packet) suppresses them for anyone."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are parameters here)

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from services.intake import call_months
from shared.clock import FakeClock
from tests.conftest import bearer
from tests.integration import test_escalation_api
from tests.integration.test_board_api import MARCH, march
from tests.integration.test_call_months import CHICAGO, phone_calls
from tests.integration.test_escalation_api import Service
from tests.integration.test_intake_api import clock, intake  # noqa: F401

pytestmark = pytest.mark.integration

service = test_escalation_api.service  # the escalation service fixture, in-process

BOARD = bearer("board", sub="board-member-1")
ADMIN = bearer("admin", sub="admin-1")


async def test_a_board_member_reads_no_small_count_where_an_administrator_reads_them_exact(
    service: Service,
) -> None:
    await march(service)  # three concerns: two at Lincoln, one district-wide (no school)

    exact = await service.http.get("/v1/board/report", params=MARCH, headers=ADMIN)
    assert exact.status_code == 200, exact.text
    schools = {g["key"]: g for g in exact.json()["breakdown"]["school"]}
    assert (schools["lincoln-es"]["received"], schools["none"]["received"]) == (2, 1)
    assert "suppression" not in exact.json()

    answer = await service.http.get("/v1/board/report", params=MARCH, headers=BOARD)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["suppression"]["below"] == 5
    for scope in ("school", "team", "category"):
        for group in report["breakdown"][scope]:
            assert group["received"] in (None, 0), group
            assert group["resolved_within_guarantee"] is None
            assert all(s["value"] is None for s in group["standards"])
    lincoln = next(g for g in report["breakdown"]["school"] if g["key"] == "lincoln-es")
    assert {"received", "resolved_within_guarantee"} <= set(lincoln["suppressed"])
    month = report["months"][0]  # the district's three: fewer than 5 as well
    assert (month["received"], month["resolved"], month["satisfaction_mean"]) == (
        None,
        None,
        None,
    )

    as_csv = await service.http.get(
        "/v1/board/report", params={**MARCH, "format": "csv"}, headers=BOARD
    )
    rows = {(r["scope"], r["key"]): r for r in csv.DictReader(io.StringIO(as_csv.text))}
    assert rows[("school", "lincoln-es")]["received"] == ""
    assert "received" in rows[("school", "lincoln-es")]["suppressed"].split(";")

    public = await service.http.get(
        "/v1/board/report", params={**MARCH, "public": "true"}, headers=ADMIN
    )
    lincoln = next(g for g in public.json()["breakdown"]["school"] if g["key"] == "lincoln-es")
    assert lincoln["received"] is None  # the packet: suppressed whoever prints it


async def test_the_older_report_and_its_trend_are_suppressed_for_a_board_member(
    service: Service,
) -> None:
    await march(service)
    params = {"from": "2026-03-01", "to": "2026-04-01", "group_by": "school"}
    exact = await service.http.get("/v1/reports/board", params=params, headers=ADMIN)
    assert {g["key"]: g["received"] for g in exact.json()["groups"]} == {
        "lincoln-es": 2,
        "none": 1,
    }
    answer = await service.http.get("/v1/reports/board", params=params, headers=BOARD)
    assert answer.status_code == 200, answer.text
    assert [g["received"] for g in answer.json()["groups"]] == [None, None]
    assert answer.json()["total"]["received"] is None  # three in the district: fewer than 5
    as_csv = await service.http.get(
        "/v1/reports/board", params={**params, "format": "csv"}, headers=BOARD
    )
    rows = {r["group"]: r for r in csv.DictReader(io.StringIO(as_csv.text))}
    assert rows["lincoln-es"]["received"] == "" and "received" in rows["lincoln-es"]["suppressed"]

    months = {"from": "2026-02", "to": "2026-03"}
    trend = await service.http.get("/v1/reports/board/trend", params=months, headers=BOARD)
    february, march_row = trend.json()["months"]
    assert (february["received"], march_row["received"]) == (0, None)  # zero is shown
    trend_csv = await service.http.get(
        "/v1/reports/board/trend", params={**months, "format": "csv"}, headers=BOARD
    )
    assert "received" in list(csv.DictReader(io.StringIO(trend_csv.text)))[-1]["suppressed"]


async def test_intake_call_figures_are_suppressed_for_a_board_member_only(
    intake: httpx.AsyncClient, clock: FakeClock
) -> None:
    await phone_calls(intake, clock)  # four calls: one at Lincoln, one Roosevelt, two unknown
    month = call_months.month_of(clock.now(), CHICAGO)
    params = {"from": month, "to": month}

    exact = await intake.get("/v1/calls/months", params=params, headers=ADMIN)
    assert exact.status_code == 200, exact.text
    schools: dict[str, Any] = {g["key"]: g for g in exact.json()["by_school"]}
    assert schools["lincoln-es"]["calls"] == 1 and schools["lincoln-es"]["answered_share"] == 1.0

    answer = await intake.get("/v1/calls/months", params=params, headers=BOARD)
    assert answer.status_code == 200, answer.text
    for group in answer.json()["by_school"]:
        assert (group["calls"], group["answered_share"]) == (None, None)
        assert "calls" in group["suppressed"]

    report = await intake.get("/v1/calls/report", headers=BOARD)
    assert report.status_code == 200, report.text
    assert all(g["calls"] is None for g in report.json()["by_school"])
    # the district's four calls are under 5 too: no total, outcome or time to answer
    district = report.json()
    assert (district["calls"], district["answered"], district["median_answer_s"]) == (None,) * 3
    assert {"calls", "answered"} <= set(district["suppressed"])
    assert all(n in (None, 0) for n in district["by_outcome"].values())
    exact_report = await intake.get("/v1/calls/report", headers=ADMIN)
    assert {g["key"]: g["calls"] for g in exact_report.json()["by_school"]}["unknown"] == 2
    assert (exact_report.json()["calls"], exact_report.json()["suppressed"]) == (4, [])
