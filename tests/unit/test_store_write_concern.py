"""A 201 means durable (issue 14): every write a service makes through its store connection
(the concern, its clock, every outbox entry, every delivery) asks the store to journal it,
with the majority of a replica set by default; `STORE_WRITE_CONCERN` chooses, and an unknown
choice is refused at startup."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pymongo import WriteConcern

from shared.settings import ServiceSettings
from shared.store import connect_store, database

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("majority+journal", WriteConcern(w="majority", j=True)),
        ("journal", WriteConcern(j=True)),
        ("default", WriteConcern()),
    ],
)
async def test_every_collection_of_a_service_writes_with_the_configured_concern(
    setting: str, expected: WriteConcern
) -> None:
    settings = ServiceSettings(service_name="intake", store_write_concern=setting)
    client = connect_store(settings)
    try:
        for collection in ("concerns", "outbox", "deliveries"):
            assert database(client, settings)[collection].write_concern == expected
    finally:
        await client.close()


def test_the_default_survives_a_crash_of_the_store() -> None:
    assert ServiceSettings().store_write_concern == "majority+journal"


def test_an_unknown_write_concern_is_refused_at_startup() -> None:
    with pytest.raises(ValidationError, match="STORE_WRITE_CONCERN"):
        ServiceSettings(store_write_concern="fast")
