"""GeoReport v2 conformance: two published Open311 clients nobody here wrote, against intake
served over HTTP on the real store and broker, every answer checked against the spec's
field list in JSON and XML.

- Code for America's `georeport` (Python 3, reads only) runs as it is.
- Code for America's `open311` is Python 2 and cannot run here: its requests are replayed
  byte for byte as its `Open311` class builds them (path, query string, form body, headers
  of Python 2's urllib2), and its answers parsed the way it reads them.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

import httpx
import pytest
import uvicorn
import xmltodict
from georeport import GeoReport
from pymongo import MongoClient

from devtools.broker import delete_prefixed_topology
from devtools.launcher import free_port
from services.intake.main import create_app
from services.intake.open311 import REQUEST_FIELDS, SERVICE_FIELDS
from tests.conftest import STAFF_ROLES, Isolation, bearer
from tests.integration.test_intake_api import intake_settings

pytestmark = pytest.mark.integration

KEY = "development-open311-key"
JURISDICTION = "district.example"
FORMATS = ["json", "xml"]
POST_FIELDS = {"service_notice", "account_id"}  # besides service_request_id or token
ERROR_FIELDS = {"code", "description"}
DATETIMES = ("requested_datetime", "updated_datetime", "expected_datetime")


@pytest.fixture(scope="module")
def endpoint(mongo_url: str, amqp_url: str) -> Iterator[str]:
    """Intake served over HTTP by uvicorn (in a thread with its own event loop): the
    Open311 root a client is configured with."""
    isolation = Isolation(uuid.uuid4().hex[:10])
    settings = intake_settings(mongo_url, amqp_url, isolation, outbox_poll_s=0.1)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "intake did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/open311/v2"
    finally:
        server.should_exit = True
        thread.join(30)
        client: MongoClient[dict[str, Any]]
        with MongoClient(mongo_url) as client:
            client.drop_database(isolation.db("intake"))
        asyncio.run(
            delete_prefixed_topology(
                amqp_url,
                isolation.queue_prefix,
                (isolation.events_exchange, isolation.private_exchange),
            )
        )


# --- the spec's field list --------------------------------------------------------------


def check_request(row: dict[str, Any]) -> None:
    """A service request as GET requests answers it: every field, W3C times, open/closed."""
    assert set(row) == set(REQUEST_FIELDS), set(row) ^ set(REQUEST_FIELDS)
    assert row["status"] in ("open", "closed")
    for name in DATETIMES:
        assert datetime.fromisoformat(row[name]).tzinfo is not None, row[name]
    for name in ("lat", "long"):
        assert row[name] in (None, "") or float(row[name]) == float(row[name])


def check_service(row: dict[str, Any]) -> None:
    assert set(row) == set(SERVICE_FIELDS), set(row) ^ set(SERVICE_FIELDS)
    assert str(row["metadata"]).lower() in ("true", "false")
    assert row["type"] in ("realtime", "batch", "blackbox")
    assert isinstance(row["keywords"], str)


def check_created(row: dict[str, Any]) -> None:
    ids = {"service_request_id", "token"} & set(row)
    assert len(ids) == 1 and set(row) == POST_FIELDS | ids, row


def xml_items(body: bytes, root: str, item: str) -> list[dict[str, Any]]:
    """Rows of the spec's XML, checking its envelope: `<root><item>...</item>...</root>`."""
    top = ElementTree.fromstring(body)
    assert top.tag == root, top.tag
    assert all(child.tag == item for child in top), [c.tag for c in top]
    return [{field.tag: field.text for field in element} for element in top]


def as_list(parsed: Any) -> list[dict[str, Any]]:
    """xmltodict answers one element as a dict and several as a list."""
    return parsed if isinstance(parsed, list) else [parsed]


# --- Code for America's `open311` (Python 2), replayed -----------------------------------


class Open311Replay:
    """The HTTP requests of `open311.Open311(endpoint=..., format=..., jurisdiction=...,
    api_key=...)`, as Python 2's urllib2 sends them; answers status and body."""

    def __init__(self, endpoint: str, fmt: str) -> None:
        self.endpoint, self.format = endpoint, fmt

    def _send(self, method: str, url: str, body: str | None = None) -> tuple[int, bytes]:
        parts = urlsplit(url)
        headers = {
            "Accept-Encoding": "identity",
            "Host": parts.netloc,
            "User-Agent": "Python-urllib/2.7",
            "Connection": "close",
        }
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(parts.netloc, timeout=10)
        try:
            connection.request(method, f"{parts.path}?{parts.query}", body=body, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def call_api(self, directory: str, **params: str) -> tuple[int, bytes]:
        # API.call_api: base_url + "/" + directory + "?" + urlencode(kwargs)
        return self._send("GET", f"{self.endpoint}/{directory}?{urlencode(params)}")

    def service_list(self) -> tuple[int, bytes]:
        return self.call_api("services.xml", jurisdiction_id=JURISDICTION)  # always XML

    def service_definition(self, code: str) -> tuple[int, bytes]:
        return self.call_api(f"service/{code}.{self.format}", jurisdiction_id=JURISDICTION)

    def service_requests(self, **params: str) -> tuple[int, bytes]:
        return self.call_api(
            f"requests.{self.format}", **{**params, "jurisdiction_id": JURISDICTION}
        )

    def get_service_request(self, number: str) -> tuple[int, bytes]:
        return self.call_api(f"requests/{number}.{self.format}", jurisdiction_id=JURISDICTION)

    def post_service_request(self, **form: str) -> tuple[int, bytes]:
        query = urlencode({"jurisdiction_id": JURISDICTION, "api_key": KEY})
        return self._send(
            "POST", f"{self.endpoint}/requests.{self.format}?{query}", body=urlencode(form)
        )

    def request_id_from_token(self, token: str) -> tuple[int, bytes]:
        return self.call_api(f"tokens/{token}.{self.format}", jurisdiction_id=JURISDICTION)

    def rows(
        self, body: bytes, root: str = "service_requests", item: str = "request"
    ) -> list[dict[str, Any]]:
        if self.format == "json":
            return list(json.loads(body))
        return xml_items(body, root, item)


REPORT = {
    "service_code": "transportation",
    "address_id": "lincoln-es",
    "description": "The bus to Lincoln left the stop five minutes early again.",
    "address_string": "Bus stop, Elm St & 3rd Ave",
    "lat": "38.8977",
    "long": "-77.0365",
    "email": "maria@example.org",
    "first_name": "Maria",
    "last_name": "Gonzalez",
    "account_id": "acct-42",
    "device_id": "phone-7",
    "media_url": "https://photos.example.org/stop.jpg",
    "attribute[route]": "12",
}


def file(client: Open311Replay, **changes: str) -> dict[str, Any]:
    status, body = client.post_service_request(**{**REPORT, **changes})
    assert status == 201, body
    [created] = client.rows(body)
    check_created(created)
    return created


@pytest.mark.parametrize("fmt", FORMATS)
def test_open311_client_files_and_follows_a_request(endpoint: str, fmt: str) -> None:
    client = Open311Replay(endpoint, fmt)
    status, body = client.service_list()
    assert status == 200
    services = xml_items(body, "services", "service")
    for service in services:
        check_service(service)
    status, body = client.service_definition("transportation")
    assert status == 200, body
    created = file(client)
    number = created["service_request_id"]
    assert created["account_id"] == "acct-42"
    status, body = client.get_service_request(number)
    assert status == 200, body
    [row] = client.rows(body)
    check_request(row)
    assert row["address"] == REPORT["address_string"]
    assert row["media_url"] == REPORT["media_url"]
    status, body = client.service_requests(service_request_id=number)
    assert [r["service_request_id"] for r in client.rows(body)] == [number]
    status, body = client.service_requests(status="open", service_code="transportation")
    rows = client.rows(body)
    assert number in [r["service_request_id"] for r in rows]
    for row in rows:
        check_request(row)
    for secret in ("Maria", "Gonzalez", "maria@example.org", "five minutes"):
        assert secret.encode() not in body


@pytest.mark.parametrize("fmt", FORMATS)
def test_open311_client_gets_a_token_for_a_private_category(endpoint: str, fmt: str) -> None:
    client = Open311Replay(endpoint, fmt)
    created = file(client, service_code="special-education", address_string="", lat="", long="")
    status, body = client.request_id_from_token(created["token"])
    assert status == 200, body
    [row] = client.rows(body)
    assert set(row) == {"service_request_id", "token"}
    assert row["token"] == created["token"] and not row["service_request_id"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_open311_client_errors_are_the_spec_errors(endpoint: str, fmt: str) -> None:
    client = Open311Replay(endpoint, fmt)
    for status, body in (
        client.post_service_request(**{**REPORT, "service_code": "parking"}),
        client.get_service_request("CS-1999-000001"),
        client.call_api(f"nothing.{fmt}"),
    ):
        assert status in (400, 404), body
        [error] = client.rows(body, "errors", "error")
        assert set(error) == ERROR_FIELDS
        assert str(error["code"]) == str(status)


# --- Code for America's `georeport` (Python 3), as published -----------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_georeport_client_reads_services_and_requests(endpoint: str, fmt: str) -> None:
    filed = file(Open311Replay(endpoint, fmt))["service_request_id"]
    client = GeoReport(endpoint, jurisdiction=JURISDICTION, api_key=KEY, output_format=fmt)
    services = as_list(client.get_service_list())
    assert "transportation" in [s["service_code"] for s in services]
    for service in services:
        check_service(service)
    definition = client.get_service_definition("transportation")
    assert definition["service_code"] == "transportation"
    one = client.get_service_request(filed)
    check_request(one)
    assert one["service_request_id"] == filed
    lower = client.get_service_request(filed.lower())  # as a person might type it
    assert lower["service_request_id"] == filed
    several = as_list(client.get_service_requests(service_request_id=filed, status="open"))
    assert [r["service_request_id"] for r in several] == [filed]
    recent = as_list(
        client.get_service_requests(
            service_code="transportation", start_date="2000-01-01T00:00:00Z"
        )
    )
    for row in recent:
        check_request(row)


def test_georeport_xml_is_what_xmltodict_reads(endpoint: str) -> None:
    filed = file(Open311Replay(endpoint, "xml"))["service_request_id"]
    answer = httpx.get(f"{endpoint}/requests/{filed}.xml")
    parsed = xmltodict.parse(answer.content)
    assert set(parsed) == {"service_requests"}
    check_request(parsed["service_requests"]["request"])


def test_requests_filed_by_a_client_reach_staff(endpoint: str) -> None:
    filed = file(Open311Replay(endpoint, "json"))["service_request_id"]
    base = endpoint.removesuffix("/open311/v2")
    page = httpx.get(
        f"{base}/v1/concerns", params={"q": filed}, headers=bearer(*STAFF_ROLES, sub="agent-7")
    ).json()
    [item] = page["items"]
    assert item["tracking_number"] == filed
