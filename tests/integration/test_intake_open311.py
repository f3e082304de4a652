"""Open311 GeoReport v2 in JSON and XML: services, filing with an api_key, following
requests; no personal data in any answer, errors in the spec's format."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from tests.integration.test_intake_api import clock, intake, submit  # noqa: F401

pytestmark = pytest.mark.integration

KEY = "development-open311-key"
BASE = "/open311/v2"
FORM = {"api_key": KEY, "service_code": "transportation", "address_id": "lincoln-es",
        "description": "The bus to Lincoln skipped Lucia Gonzalez again.",
        "first_name": "Maria", "last_name": "Gonzalez", "email": "maria@example.org",
        "phone": "+15555550123"}
PERSONAL = ("Lucia", "Maria", "Gonzalez", "maria@example.org", "+15555550123", "skipped")


def xml_rows(text: str, item: str) -> list[dict[str, str]]:
    root = ElementTree.fromstring(text)
    return [{child.tag: child.text or "" for child in element} for element in root.iter(item)]


async def file_request(intake: httpx.AsyncClient, fmt: str = "json",
                       **changes: str) -> httpx.Response:
    return await intake.post(f"{BASE}/requests.{fmt}", data={**FORM, **changes})


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_services_list_every_category(intake: httpx.AsyncClient, fmt: str) -> None:
    answer = await intake.get(f"{BASE}/services.{fmt}")
    assert answer.status_code == 200
    if fmt == "json":
        rows: list[dict[str, Any]] = answer.json()
        assert answer.headers["content-type"].startswith("application/json")
    else:
        assert answer.headers["content-type"].startswith("text/xml")
        assert ElementTree.fromstring(answer.text).tag == "services"
        rows = xml_rows(answer.text, "service")
    codes = {r["service_code"] for r in rows}
    assert {"transportation", "enrollment", "special-education"} <= codes
    transport = next(r for r in rows if r["service_code"] == "transportation")
    assert transport["service_name"] == "Transportation"
    assert str(transport["metadata"]).lower() == "false"
    assert transport["type"] == "realtime"


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_service_definition_and_unknown_service(intake: httpx.AsyncClient,
                                                      fmt: str) -> None:
    known = await intake.get(f"{BASE}/services/transportation.{fmt}")
    assert known.status_code == 200
    if fmt == "json":
        assert known.json() == {"service_code": "transportation", "attributes": []}
    else:
        assert ElementTree.fromstring(known.text).findtext("service_code") == "transportation"
    unknown = await intake.get(f"{BASE}/services/parking.{fmt}")
    assert unknown.status_code == 404
    if fmt == "json":
        assert unknown.json()[0]["code"] == 404
    else:
        assert xml_rows(unknown.text, "error")[0]["code"] == "404"


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_filed_request_can_be_followed_without_personal_data(
        intake: httpx.AsyncClient, fmt: str) -> None:
    filed = await file_request(intake, fmt)
    assert filed.status_code == 201, filed.text
    created = filed.json()[0] if fmt == "json" else xml_rows(filed.text, "request")[0]
    number = created["service_request_id"]
    assert number.startswith("CS-")
    one = await intake.get(f"{BASE}/requests/{number}.{fmt}")
    assert one.status_code == 200
    row = one.json()[0] if fmt == "json" else xml_rows(one.text, "request")[0]
    assert row["status"] == "open"
    assert row["service_code"] == "transportation"
    assert row["agency_responsible"]
    assert row["status_notes"]
    assert row["requested_datetime"] and row["updated_datetime"]
    assert row["expected_datetime"]
    assert row["address_id"] == "lincoln-es"
    for secret in PERSONAL:
        assert secret not in one.text, secret
    many = await intake.get(f"{BASE}/requests.{fmt}", params={"service_code": "transportation"})
    rows = many.json() if fmt == "json" else xml_rows(many.text, "request")
    assert [r["service_request_id"] for r in rows] == [number]
    for secret in PERSONAL:
        assert secret not in many.text, secret


async def test_filed_request_becomes_a_concern_staff_can_work(intake: httpx.AsyncClient) -> None:
    number = (await file_request(intake)).json()[0]["service_request_id"]
    page = (await intake.get("/v1/concerns", params={"q": number})).json()
    [item] = page["items"]
    case = (await intake.get(f"/v1/concerns/{item['id']}")).json()
    assert case["via"] == "open311:development"
    assert case["anonymous"] is False
    resolved = await intake.post(f"/v1/concerns/{item['id']}/resolve",
                                 json={"summary": "The driver was told about Lucia's stop."})
    assert resolved.status_code == 200
    row = (await intake.get(f"{BASE}/requests/{number}.json")).json()[0]
    assert row["status"] == "closed"
    assert "Lucia" not in row["status_notes"]


async def test_requests_filter_by_status_and_ids(intake: httpx.AsyncClient) -> None:
    first = (await file_request(intake)).json()[0]["service_request_id"]
    second = (await file_request(intake)).json()[0]["service_request_id"]
    page = (await intake.get("/v1/concerns", params={"q": first})).json()
    await intake.post(f"/v1/concerns/{page['items'][0]['id']}/resolve", json={"summary": "ok"})
    closed = (await intake.get(f"{BASE}/requests.json", params={"status": "closed"})).json()
    assert [r["service_request_id"] for r in closed] == [first]
    opened = (await intake.get(f"{BASE}/requests.json", params={"status": "open"})).json()
    assert [r["service_request_id"] for r in opened] == [second]
    both = (await intake.get(f"{BASE}/requests.json",
                             params={"service_request_id": f"{first},{second}"})).json()
    assert {r["service_request_id"] for r in both} == {first, second}


async def test_unlisted_categories_never_appear_publicly(intake: httpx.AsyncClient) -> None:
    created = await submit(intake, category="special-education")
    one = await intake.get(f"{BASE}/requests/{created['tracking_number']}.json")
    assert one.status_code == 404
    listed = (await intake.get(f"{BASE}/requests.json")).json()
    assert created["tracking_number"] not in str(listed)


@pytest.mark.parametrize(("changes", "code", "says"), [
    ({"api_key": "wrong"}, 403, "api_key"),
    ({"api_key": ""}, 403, "api_key"),
    ({"service_code": "parking"}, 400, "service_code"),
    ({"description": "short"}, 400, "description"),
    ({"address_id": "hogwarts"}, 400, "address_id"),
    ({"email": "not-an-email"}, 400, "email"),
    ({"phone": "555"}, 400, "phone"),
    ({"jurisdiction_id": "elsewhere"}, 404, "jurisdiction_id"),
])
@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_bad_requests_get_open311_errors_and_create_nothing(
        intake: httpx.AsyncClient, changes: dict[str, str], code: int, says: str,
        fmt: str) -> None:
    answer = await file_request(intake, fmt, **changes)
    assert answer.status_code == code
    error = answer.json()[0] if fmt == "json" else xml_rows(answer.text, "error")[0]
    assert str(error["code"]) == str(code)
    assert says in error["description"]
    assert (await intake.get("/v1/concerns/counts")).json()["total"] == 0


async def test_unknown_format_and_bad_dates_are_open311_errors(intake: httpx.AsyncClient) -> None:
    assert (await intake.get(f"{BASE}/services.yaml")).status_code == 404
    bad = await intake.get(f"{BASE}/requests.json", params={"start_date": "yesterday"})
    assert bad.status_code == 400 and "start_date" in bad.json()[0]["description"]
    status = await intake.get(f"{BASE}/requests.xml", params={"status": "pending"})
    assert status.status_code == 400
    assert xml_rows(status.text, "error")[0]["code"] == "400"


async def test_a_body_that_is_not_a_form_is_a_400(intake: httpx.AsyncClient) -> None:
    answer = await intake.post(f"{BASE}/requests.json", content=b"\xff\xfe\x00",
                               headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400
