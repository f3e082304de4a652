"""The committed AsyncAPI document is valid AsyncAPI 3 and matches the event contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shared.asyncapi import EXCHANGES, build_document, render
from shared.events import CATALOGUE, ConcernSubmitted, new_event

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"
# The official AsyncAPI 3.0.0 JSON schema (from the @asyncapi/specs package, Apache-2.0).
ASYNCAPI_SCHEMA = ROOT / "tests" / "schemas" / "asyncapi-3.0.0.json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return dict(yaml.safe_load(COMMITTED.read_text()))


def test_committed_document_is_what_the_contract_generates() -> None:
    assert COMMITTED.read_text() == render(), (
        "docs/asyncapi.yaml is stale: run `python -m shared.asyncapi > docs/asyncapi.yaml`"
    )


def test_document_validates_against_the_asyncapi_3_schema(document: dict[str, Any]) -> None:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(document)]
    assert errors == []


def test_every_event_has_a_channel_on_its_exchange(document: dict[str, Any]) -> None:
    assert set(document["channels"]) == set(CATALOGUE)
    for name, spec in CATALOGUE.items():
        binding = document["channels"][name]["bindings"]["amqp"]
        assert binding["is"] == "routingKey"
        assert binding["exchange"]["name"] == EXCHANGES[spec.exchange]


def test_message_schemas_are_the_models_own(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for spec in CATALOGUE.values():
        model = spec.data_model
        own = model.model_json_schema()
        assert set(schemas[model.__name__]["properties"]) == set(own["properties"])
        assert set(schemas[model.__name__].get("required", [])) == set(own.get("required", []))


def test_a_real_envelope_satisfies_its_documented_schema() -> None:
    document = build_document()
    schemas = document["components"]["schemas"]
    at = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
    event = new_event(
        ConcernSubmitted(
            concern_id="c1",
            tracking_number="CS-2026-000001",
            channel="web",
            category="enrollment",
            submitted_at=at,
            resolution_due_at=at,
        ),
        source="/bureau/intake",
        subject="c1",
    )
    envelope = json.loads(event.model_dump_json(exclude_none=True))
    resolver_root = {"components": {"schemas": schemas}, **schemas["ConcernSubmittedEvent"]}
    jsonschema.Draft202012Validator(resolver_root).validate(envelope)
