"""The event contract: envelope round trip, CloudEvents attributes, refusals, and privacy."""

from __future__ import annotations

import json
import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from shared.events import (
    CATALOGUE,
    Channel,
    CloudEvent,
    ConcernContactShared,
    ConcernSubmitted,
    EventData,
    Exchange,
    MalformedEvent,
    RequesterContact,
    decode,
    encode,
    envelopes,
    new_event,
)

pytestmark = pytest.mark.unit

SUBMITTED_AT = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def submitted(concern_id: str = "c-1") -> ConcernSubmitted:
    return ConcernSubmitted(
        concern_id=concern_id,
        tracking_number="CS-2026-000123",
        channel=Channel.WEB,
        category="transportation",
        school_id="lincoln-es",
        submitted_at=SUBMITTED_AT,
        resolution_due_at=SUBMITTED_AT + timedelta(hours=72),
    )


def body_of(**overrides: Any) -> bytes:
    """A valid `concern.submitted` body, as a dict edited by `overrides`, re-serialised."""
    raw = json.loads(encode(new_event(submitted(), source="/bureau/intake", subject="c-1")))
    raw.update(overrides)
    return json.dumps(raw).encode()


# --- envelope ------------------------------------------------------------------------------


def test_envelope_survives_encode_and_decode_unchanged() -> None:
    event = new_event(submitted(), source="/bureau/intake", subject="c-1", time=SUBMITTED_AT)

    decoded = decode(encode(event))

    assert decoded == event
    assert decoded.parsed() == submitted()
    assert decoded.name == "concern.submitted"


def test_envelope_carries_cloudevents_attributes() -> None:
    event = new_event(submitted(), source="/bureau/intake", subject="c-1", time=SUBMITTED_AT)

    wire = json.loads(encode(event))

    assert wire["specversion"] == "1.0"
    assert wire["type"] == "org.bureau.concern.submitted.v1"
    assert wire["source"] == "/bureau/intake"
    assert wire["subject"] == "c-1"
    assert wire["datacontenttype"] == "application/json"
    assert wire["id"] and wire["id"] == event.id
    assert datetime.fromisoformat(wire["time"]) == SUBMITTED_AT
    assert wire["data"]["tracking_number"] == "CS-2026-000123"


def test_every_catalogue_type_follows_the_naming_scheme() -> None:
    for name, spec in CATALOGUE.items():
        assert spec.name == name
        assert spec.type == f"org.bureau.{name}.v{spec.version}"


def test_time_is_timezone_aware_when_not_given_and_after_decoding() -> None:
    event = new_event(submitted(), source="/bureau/intake", subject="c-1")

    assert event.time.tzinfo is not None
    assert decode(encode(event)).time.tzinfo is not None


def test_each_new_event_gets_its_own_id() -> None:
    first = new_event(submitted(), source="/bureau/intake", subject="c-1")
    second = new_event(submitted(), source="/bureau/intake", subject="c-1")

    assert first.id != second.id


def test_envelopes_use_the_concern_id_as_subject() -> None:
    events = envelopes(
        [submitted("c-7"), submitted("c-8")], source="/bureau/intake", time=SUBMITTED_AT
    )

    assert [e.subject for e in events] == ["c-7", "c-8"]
    assert all(e.time == SUBMITTED_AT and e.source == "/bureau/intake" for e in events)


def test_contact_shared_is_a_private_event() -> None:
    assert CATALOGUE["concern.contact_shared"].exchange is Exchange.PRIVATE
    assert CATALOGUE["concern.submitted"].exchange is Exchange.PUBLIC


# --- refusals --------------------------------------------------------------------------------


def test_decode_refuses_a_body_that_is_not_json() -> None:
    with pytest.raises(MalformedEvent):
        decode(b"this is not json {")


def test_decode_refuses_an_unknown_type() -> None:
    with pytest.raises(MalformedEvent, match=r"org\.bureau\.concern\.vanished\.v1"):
        decode(body_of(type="org.bureau.concern.vanished.v1"))


def test_decode_refuses_a_later_version_of_a_known_event() -> None:
    with pytest.raises(MalformedEvent):
        decode(body_of(type="org.bureau.concern.submitted.v2"))


def test_decode_refuses_data_missing_a_required_field() -> None:
    data = json.loads(body_of())["data"]
    del data["tracking_number"]

    with pytest.raises(MalformedEvent, match="tracking_number"):
        decode(body_of(data=data))


def test_decode_refuses_data_with_a_field_outside_the_contract() -> None:
    # `extra="forbid"` is what stops a publisher from slipping contact data into a public event
    data = {**json.loads(body_of())["data"], "requester_email": "parent@example.org"}

    with pytest.raises(MalformedEvent, match="requester_email"):
        decode(body_of(data=data))


def test_decode_refuses_data_of_the_wrong_type() -> None:
    data = {**json.loads(body_of())["data"], "channel": "carrier-pigeon"}

    with pytest.raises(MalformedEvent, match="channel"):
        decode(body_of(data=data))


def test_decode_refuses_an_envelope_without_an_id() -> None:
    raw = json.loads(body_of())
    del raw["id"]

    with pytest.raises(MalformedEvent):
        decode(json.dumps(raw).encode())


def test_decode_refuses_another_cloudevents_spec_version() -> None:
    with pytest.raises(MalformedEvent):
        decode(body_of(specversion="0.3"))


def test_event_data_is_frozen() -> None:
    data = submitted()

    with pytest.raises(ValueError, match="frozen"):
        data.category = "safety"  # type: ignore[misc]


# --- privacy ---------------------------------------------------------------------------------

# Parts of a field name that would mean contact details or student information.
FORBIDDEN_WORDS = {
    "email",
    "mail",
    "phone",
    "requester",
    "contact",
    "address",
    "student",
    "grade",
    "description",
    "reason",
    "birth",
    "dob",
    "language",
}
# A field named exactly `name` on an event would be a person's name (staff names carry a
# prefix saying whose they are, e.g. `escalated_to_name`).
FORBIDDEN_EXACT = {"name"}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic models nested anywhere in a type annotation (Optional, list, dict...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def _is_flag(annotation: Any) -> bool:
    """A boolean carries no data, e.g. `has_student_information`."""
    return annotation is bool


def _field_paths(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, Any]]:
    """Every (path, field name, annotation) of a model, recursing into nested models."""
    paths: list[tuple[str, str, Any]] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        paths.append((path, name, field.annotation))
        for nested in _models_in(field.annotation):
            paths += _field_paths(nested, prefix=f"{path}.")
    return paths


def _sensitive_fields(model: type[BaseModel]) -> list[str]:
    sensitive = []
    for path, name, annotation in _field_paths(model):
        if _is_flag(annotation):
            continue
        words = set(name.lower().split("_"))
        if name.lower() in FORBIDDEN_EXACT or words & FORBIDDEN_WORDS:
            sensitive.append(path)
    return sensitive


def test_no_public_event_carries_contact_or_student_fields() -> None:
    public = {name: spec for name, spec in CATALOGUE.items() if spec.exchange is Exchange.PUBLIC}
    assert public, "the catalogue has no public events to check"

    leaks = {name: _sensitive_fields(spec.data_model) for name, spec in public.items()}

    assert {name: fields for name, fields in leaks.items() if fields} == {}


def test_privacy_check_finds_the_contact_in_the_private_event() -> None:
    # Proves the check above can fail: it flags what the private event legitimately carries.
    found = set(_sensitive_fields(CATALOGUE["concern.contact_shared"].data_model))

    assert {
        "requester",
        "requester.name",
        "requester.email",
        "requester.phone",
        "requester.language",
    } <= found


def test_privacy_check_recurses_into_optional_and_list_models() -> None:
    class Wrapper(EventData):
        contacts: list[RequesterContact] | None = None

    assert "contacts.email" in _sensitive_fields(Wrapper)


def test_contact_shared_round_trips_with_the_requester_contact() -> None:
    data = ConcernContactShared(
        concern_id="c-1",
        tracking_number="CS-2026-000123",
        category="transportation",
        submitted_at=SUBMITTED_AT,
        resolution_due_at=SUBMITTED_AT + timedelta(hours=72),
        requester=RequesterContact(name="Alex Doe", email="alex@example.org", language="es"),
    )
    event = new_event(data, source="/bureau/intake", subject="c-1")

    decoded = decode(encode(event))

    assert decoded.parsed() == data
    assert isinstance(decoded, CloudEvent)


def test_union_annotations_are_walked() -> None:
    # Guard for the helper itself: PEP 604 unions are `types.UnionType`, not `typing.Union`.
    annotation = RequesterContact | None
    assert isinstance(annotation, types.UnionType)
    assert _models_in(annotation) == [RequesterContact]
