"""Security (low), issue 15: the probe found 500s on out-of-range dates and extreme numbers in
Open311, lists, counts, cursors, callbacks, away-until, reports and trends. Schemathesis with
many more examples than the broad fuzz gives each service, on exactly those operations, with
the path pointing at a concern and a member that exist so the bounds reach the store: no
answer is a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from devtools.bureau import LocalBureau
from tests.conftest import bearer
from tests.e2e.test_fuzz_openapi import EVERYONE, SCHEMAS
from tests.e2e.test_fuzz_openapi import live as live
from tests.integration.test_intake_api import body

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 40
BOUNDED = {
    "intake": SCHEMAS["intake"].include(
        path_regex=r"^(/v1/concerns(/counts|/\{concern_id\}/callbacks)?|/open311/v2/requests\.\{fmt\})$"
    ),
    "triage": SCHEMAS["triage"].include(
        path_regex=r"^/v1/(members/\{member_id\}/away|teams/\{team_id\}/queue)$"
    ),
    "escalation": SCHEMAS["escalation"].include(path_regex=r"^/v1/reports/board(/trend)?$"),
}


@pytest.fixture(scope="module")
def existing(live: LocalBureau) -> Iterator[dict[str, str]]:
    """Path values that exist, so a request gets past the 404 to its bounds."""
    answer = httpx.post(
        f"{live.url('intake')}/v1/concerns",
        json=body(),
        headers=bearer("intake_agent", sub="fuzzer"),
        timeout=20,
    )
    assert answer.status_code == 201, answer.text
    yield {
        "concern_id": answer.json()["id"],
        "member_id": "sd-1",
        "team_id": "service-desk",
        "fmt": "json",
    }


def fuzz(service: str) -> Any:
    @BOUNDED[service].parametrize()
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def test(case: Any, live: LocalBureau, existing: dict[str, str]) -> None:
        for name in case.path_parameters or {}:
            case.path_parameters[name] = existing.get(name, case.path_parameters[name])
        response = case.call(base_url=live.url(service), headers=EVERYONE, timeout=20)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} {case.query} {case.body!r} -> "
            f"{response.status_code}: {response.text[:300]}"
        )

    return test


test_intake_bounds_never_answer_5xx = fuzz("intake")
test_triage_bounds_never_answer_5xx = fuzz("triage")
test_escalation_bounds_never_answer_5xx = fuzz("escalation")
