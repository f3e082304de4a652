"""Open311 GeoReport v2 in JSON and XML: services, filing with an api_key, following
requests; no personal data in any answer, errors in the spec's format."""

# ruff: noqa: F811  (pytest fixtures imported from test_intake_api are parameters here)

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import aio_pika
import httpx
import pytest
from pymongo import AsyncMongoClient

from devtools.secrets import generate
from services.intake.main import create_app
from services.intake.open311 import REQUEST_FIELDS
from services.intake.settings import IntakeSettings
from shared.events import ConcernTriaged, Priority
from tests.conftest import Isolation
from tests.integration.test_intake_api import clock, drain, intake, submit, tap  # noqa: F401
from tests.integration.test_intake_events import Publish, case_when, publish  # noqa: F401

pytestmark = pytest.mark.integration

KEY = "development-open311-key"
BASE = "/open311/v2"
FORM = {
    "api_key": KEY,
    "service_code": "transportation",
    "address_id": "lincoln-es",
    "description": "The bus to Lincoln skipped Lucia Gonzalez again.",
    "first_name": "Maria",
    "last_name": "Gonzalez",
    "email": "maria@example.org",
    "phone": "+15555550123",
}
PERSONAL = ("Lucia", "Maria", "Gonzalez", "maria@example.org", "+15555550123", "skipped")


def xml_rows(text: str, item: str) -> list[dict[str, str]]:
    root = ElementTree.fromstring(text)
    return [{child.tag: child.text or "" for child in element} for element in root.iter(item)]


async def file_request(
    intake: httpx.AsyncClient, fmt: str = "json", **changes: str
) -> httpx.Response:
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
async def test_service_definition_and_unknown_service(intake: httpx.AsyncClient, fmt: str) -> None:
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
    intake: httpx.AsyncClient, fmt: str
) -> None:
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
    resolved = await intake.post(
        f"/v1/concerns/{item['id']}/resolve",
        json={"summary": "The driver was told about Lucia's stop."},
    )
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
    both = (
        await intake.get(
            f"{BASE}/requests.json", params={"service_request_id": f"{first},{second}"}
        )
    ).json()
    assert {r["service_request_id"] for r in both} == {first, second}


async def test_unlisted_categories_never_appear_publicly(intake: httpx.AsyncClient) -> None:
    created = await submit(intake, category="special-education")
    one = await intake.get(f"{BASE}/requests/{created['tracking_number']}.json")
    assert one.status_code == 404
    listed = (await intake.get(f"{BASE}/requests.json")).json()
    assert created["tracking_number"] not in str(listed)


@pytest.mark.parametrize(
    ("changes", "code", "says"),
    [
        ({"api_key": "wrong"}, 403, "api_key"),
        ({"api_key": ""}, 403, "api_key"),
        ({"service_code": "parking"}, 400, "service_code"),
        ({"description": "short"}, 400, "description"),
        ({"address_id": "hogwarts"}, 400, "address_id"),
        ({"email": "not-an-email"}, 400, "email"),
        ({"phone": "555"}, 400, "phone"),
        ({"jurisdiction_id": "elsewhere"}, 404, "jurisdiction_id"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_bad_requests_get_open311_errors_and_create_nothing(
    intake: httpx.AsyncClient, changes: dict[str, str], code: int, says: str, fmt: str
) -> None:
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
    answer = await intake.post(
        f"{BASE}/requests.json",
        content=b"\xff\xfe\x00",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400


def rows_of(answer: httpx.Response, fmt: str, item: str = "request") -> list[dict[str, Any]]:
    if fmt == "json":
        return list(answer.json())
    assert answer.headers["content-type"].startswith("text/xml"), answer.text
    return xml_rows(answer.text, item)


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_api_key_in_the_query_string_files_as_the_spec_clients_send_it(
    intake: httpx.AsyncClient, fmt: str
) -> None:
    form = {k: v for k, v in FORM.items() if k != "api_key"}
    answer = await intake.post(
        f"{BASE}/requests.{fmt}", data=form, params={"api_key": KEY, "jurisdiction_id": ""}
    )
    assert answer.status_code == 201, answer.text
    assert rows_of(answer, fmt)[0]["service_request_id"].startswith("CS-")


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_json_and_multipart_bodies_are_a_clear_400_not_a_403(
    intake: httpx.AsyncClient, fmt: str
) -> None:
    as_json = await intake.post(f"{BASE}/requests.{fmt}", json=FORM)
    as_multipart = await intake.post(
        f"{BASE}/requests.{fmt}", data=FORM, files={"media": ("bus.jpg", b"jpeg", "image/jpeg")}
    )
    for answer, kind in ((as_json, "application/json"), (as_multipart, "multipart/form-data")):
        assert answer.status_code == 400, answer.text
        [error] = rows_of(answer, fmt, "error")
        assert "application/x-www-form-urlencoded" in error["description"]
        assert kind in error["description"]
    assert (await intake.get("/v1/concerns/counts")).json()["total"] == 0


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_location_media_and_client_fields_are_kept_and_shown(
    intake: httpx.AsyncClient, fmt: str
) -> None:
    filed = await file_request(
        intake,
        fmt,
        address_string="Bus stop, Elm St & 3rd Ave",
        lat="38.8977",
        long="-77.0365",
        media_url="https://photos.example.org/stop.jpg",
        account_id="acct-42",
        device_id="device-7",
        **{"attribute[route]": "12"},
    )
    assert filed.status_code == 201, filed.text
    [created] = rows_of(filed, fmt)
    assert created["account_id"] == "acct-42"
    number = created["service_request_id"]
    [row] = rows_of(await intake.get(f"{BASE}/requests/{number}.{fmt}"), fmt)
    assert set(row) == set(REQUEST_FIELDS)
    assert row["address"] == "Bus stop, Elm St & 3rd Ave"
    assert float(row["lat"]) == 38.8977 and float(row["long"]) == -77.0365
    assert row["media_url"] == "https://photos.example.org/stop.jpg"
    assert not row["description"]  # a parent's words are never public
    cid = (await intake.get("/v1/concerns", params={"q": number})).json()["items"][0]["id"]
    case = (await intake.get(f"/v1/concerns/{cid}")).json()  # staff see where it happened
    assert case["location"] == {
        "address": "Bus stop, Elm St & 3rd Ave",
        "lat": 38.8977,
        "long": -77.0365,
    }
    assert case["media_url"] == "https://photos.example.org/stop.jpg"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"lat": "north"}, "lat"),
        ({"lat": "91", "long": "0"}, "lat"),
        ({"lat": "38.9"}, "long"),
        ({"media_url": "javascript:alert(1)"}, "media_url"),
    ],
)
async def test_bad_locations_and_media_urls_are_400(
    intake: httpx.AsyncClient, changes: dict[str, str], says: str
) -> None:
    answer = await file_request(intake, **changes)
    assert answer.status_code == 400
    assert says in answer.json()[0]["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_unlisted_category_answers_a_token_never_a_dead_id(
    intake: httpx.AsyncClient, fmt: str
) -> None:
    filed = await file_request(intake, fmt, service_code="special-education")
    assert filed.status_code == 201, filed.text
    [created] = rows_of(filed, fmt)
    assert "service_request_id" not in created
    token = created["token"]
    assert created["service_notice"]
    answer = await intake.get(f"{BASE}/tokens/{token}.{fmt}")
    assert answer.status_code == 200
    [row] = rows_of(answer, fmt)
    assert row["token"] == token and not row["service_request_id"]
    assert (await intake.get(f"{BASE}/tokens/not-a-token.{fmt}")).status_code == 404


@pytest.mark.parametrize("code", ["transportation", "special-education"])
async def test_an_open311_filer_is_sent_the_personal_status_link(
    intake: httpx.AsyncClient,
    amqp: aio_pika.abc.AbstractRobustConnection,
    isolation: Isolation,
    code: str,
) -> None:
    """Issue 22: the acknowledgement told Open311 filers they could follow their request and
    add information, but never gave them the access token. The private handover to notify
    carries it (the mail's personal status link), listed category or not, and it opens the
    requester's view; the Open311 answer itself never shows it."""
    private = await tap(amqp, isolation.private_exchange)
    filed = await file_request(intake, service_code=code)
    assert filed.status_code == 201, filed.text
    [contact] = [
        e["data"]
        for e in await drain(private, until="concern.contact_shared")
        if e["type"] == "org.bureau.concern.contact_shared.v1"
    ]
    assert contact["requester"]["email"] == FORM["email"]
    token = contact["access_token"]
    assert token and token not in filed.text
    view = await intake.get(
        f"/v1/tracking/{contact['tracking_number']}", headers={"X-Access-Token": token}
    )
    assert view.status_code == 200, view.text


async def test_token_of_a_listed_request_gives_its_id(intake: httpx.AsyncClient) -> None:
    number = (await file_request(intake)).json()[0]["service_request_id"]
    page = (await intake.get("/v1/concerns", params={"q": number})).json()
    token = page["items"][0]["id"]
    [row] = (await intake.get(f"{BASE}/tokens/{token}.json")).json()
    assert row == {"service_request_id": number, "token": token}
    web = await submit(intake)  # filed elsewhere: its id is no Open311 token
    assert (await intake.get(f"{BASE}/tokens/{web['id']}.json")).status_code == 404


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_keywords_are_one_comma_separated_string(intake: httpx.AsyncClient, fmt: str) -> None:
    rows = rows_of(await intake.get(f"{BASE}/services.{fmt}"), fmt, "service")
    transport = next(r for r in rows if r["service_code"] == "transportation")
    assert isinstance(transport["keywords"], str)
    assert transport["keywords"].split(",")[0] == "transportation"


async def test_status_notes_follow_routing(
    intake: httpx.AsyncClient, publish: Publish, clock: Any
) -> None:
    number = (await file_request(intake)).json()[0]["service_request_id"]
    before = (await intake.get(f"{BASE}/requests/{number}.json")).json()[0]
    assert "being routed" in before["status_notes"]
    cid = (await intake.get("/v1/concerns", params={"q": number})).json()["items"][0]["id"]
    clock.advance(timedelta(minutes=20))  # routed a while after it was filed
    await publish(
        ConcernTriaged(
            concern_id=cid,
            category="transportation",
            school_id="lincoln-es",
            team_id="transportation",
            team_name="Transportation Office",
            priority=Priority.NORMAL,
            rule="category",
            triaged_at=clock.now(),
        )
    )
    await case_when(intake, cid, lambda c: c["team"] is not None)
    after = (await intake.get(f"{BASE}/requests/{number}.json")).json()[0]
    assert "being routed" not in after["status_notes"]
    assert "Routed" in after["status_notes"]
    # a client polling for changes sees that the request moved
    moved = datetime.fromisoformat(after["updated_datetime"])
    assert moved - datetime.fromisoformat(before["updated_datetime"]) >= timedelta(minutes=19)


async def test_a_routing_that_tells_special_education_never_shows_publicly(
    intake: httpx.AsyncClient, publish: Publish, clock: Any
) -> None:
    """Security #2: a transportation concern routed to the Special Education team showed
    `agency_responsible: Special Education Department` to anyone, single and bulk, JSON and
    XML."""
    number = (await file_request(intake)).json()[0]["service_request_id"]
    cid = (await intake.get("/v1/concerns", params={"q": number})).json()["items"][0]["id"]
    await publish(
        ConcernTriaged(
            concern_id=cid,
            category="transportation",
            school_id="lincoln-es",
            team_id="special-education",
            team_name="Special Education Department",
            priority=Priority.HIGH,
            rule="rule:special-education-students",
            triaged_at=clock.now(),
            sensitive=True,
        )
    )
    await case_when(intake, cid, lambda c: c["team"] is not None)
    for fmt in ("json", "xml"):
        for answer in (
            await intake.get(f"{BASE}/requests/{number}.{fmt}"),
            await intake.get(f"{BASE}/requests.{fmt}", params={"service_code": "transportation"}),
        ):
            assert answer.status_code == 200
            assert "Special Education" not in answer.text and "special-ed" not in answer.text
            row = next(r for r in rows_of(answer, fmt) if r["service_request_id"] == number)
            assert row["agency_responsible"] == "Example Unified School District"


@pytest.mark.parametrize(
    ("path", "headers", "fmt"),
    [
        ("/nothing.xml", {}, "xml"),
        ("/requests/CS-2026-000001/notes.xml", {}, "xml"),
        ("/discovery", {"accept": "text/xml"}, "xml"),
        ("/nothing.json", {}, "json"),
        ("/nothing", {}, "json"),
    ],
)
async def test_unknown_paths_answer_in_the_format_asked_for(
    intake: httpx.AsyncClient, path: str, headers: dict[str, str], fmt: str
) -> None:
    answer = await intake.get(f"{BASE}{path}", headers=headers)
    assert answer.status_code == 404
    [error] = rows_of(answer, fmt, "error")
    assert str(error["code"]) == "404"


async def test_tracking_numbers_are_found_in_any_case(intake: httpx.AsyncClient) -> None:
    number = (await file_request(intake)).json()[0]["service_request_id"]
    lower = number.lower()
    assert (await intake.get(f"{BASE}/requests/{lower}.json")).status_code == 200
    listed = (
        await intake.get(f"{BASE}/requests.json", params={"service_request_id": lower})
    ).json()
    assert [r["service_request_id"] for r in listed] == [number]
    created = await submit(intake)
    status = await intake.get(
        f"/v1/tracking/{created['tracking_number'].lower()}",
        headers={"X-Access-Token": created["access_token"]},
    )
    assert status.status_code == 200, status.text


async def test_the_example_api_key_is_refused_outside_development(
    mongo_url: str, amqp_url: str, isolation: Isolation, mongo: AsyncMongoClient
) -> None:
    """Security #6: the api key published in deploy/ filed (and paged on) concerns in
    production."""
    secrets = {
        k.lower(): v for k, v in generate().items() if k.lower() in IntakeSettings.model_fields
    }
    settings = IntakeSettings(
        environment="production",
        mongo_url=mongo_url,
        mongo_db=isolation.db("intake"),
        amqp_url=amqp_url,
        queue_prefix=isolation.queue_prefix,
        events_exchange=isolation.events_exchange,
        private_exchange=isolation.private_exchange,
        **secrets,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake"
        ) as production:
            answer = await file_request(production)
    assert answer.status_code == 403
    assert await mongo[isolation.db("intake")]["concerns"].count_documents({}) == 0


@pytest.mark.parametrize(
    "params",
    [
        {"end_date": "0001-01-01T00:00:00Z"},
        {"start_date": "0001-01-01T00:00:00+14:00"},
        {"end_date": "9999-12-31T23:59:59-12:00"},
        {"start_date": "9999-12-31T23:59:59Z"},
    ],
)
async def test_out_of_range_dates_are_a_400_never_a_500(
    intake: httpx.AsyncClient, params: dict[str, str]
) -> None:
    """Security (low): out-of-range Open311 dates answered anonymous 500s."""
    for fmt in ("json", "xml"):
        answer = await intake.get(f"{BASE}/requests.{fmt}", params=params)
        assert answer.status_code == 400, answer.text
        assert "between the years" in answer.text
