"""Schemathesis against each service's OpenAPI, on the running bureau: whatever a client
sends, within or outside the schema, no answer is a 5xx. Bounded: a few examples per
operation."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from devtools.broker import delete_prefixed_topology
from devtools.bureau import LocalBureau
from services.escalation.main import create_app as escalation_app
from services.escalation.settings import EscalationSettings
from services.intake.main import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.notify.main import create_app as notify_app
from services.notify.settings import NotifySettings
from services.triage.main import create_app as triage_app
from services.triage.settings import TriageSettings
from tests.conftest import AMQP_URL, bearer

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 4
# every role at once: the fuzzer should reach the handlers, not stop at 403
EVERYONE = bearer(
    "frontend", "intake_agent", "specialist", "ombudsperson", "admin", "auditor", sub="fuzzer"
)
SCHEMAS = {
    "intake": schemathesis.openapi.from_dict(intake_app(IntakeSettings()).openapi()),
    "triage": schemathesis.openapi.from_dict(triage_app(TriageSettings()).openapi()),
    "escalation": schemathesis.openapi.from_dict(escalation_app(EscalationSettings()).openapi()),
    "notify": schemathesis.openapi.from_dict(notify_app(NotifySettings()).openapi()),
}


@pytest.fixture(scope="module")
def live(mongo_url: str) -> Iterator[LocalBureau]:
    """One bureau for the whole module (the fuzzer makes hundreds of calls)."""
    tag = uuid.uuid4().hex[:8]
    prefix, events, private = f"fz.{tag}.", f"fz.{tag}.bureau.events", f"fz.{tag}.bureau.private"
    with tempfile.TemporaryDirectory(prefix="bureau-fuzz-") as workdir:
        bureau = LocalBureau(
            workdir=Path(workdir),
            env={
                "MONGO_URL": mongo_url,
                "AMQP_URL": AMQP_URL,
                "QUEUE_PREFIX": prefix,
                "EVENTS_EXCHANGE": events,
                "PRIVATE_EXCHANGE": private,
                "LOG_LEVEL": "WARNING",
                "TRACKING_LOOKUPS_PER_MINUTE": "100000",
            },
        )
        try:
            bureau.start_smtp()
            bureau.start_services(
                per_service_env={name: {"MONGO_DB": f"fz_{tag}_{name}"} for name in SCHEMAS}
            )
            yield bureau
        finally:
            bureau.stop()
            asyncio.run(delete_prefixed_topology(AMQP_URL, prefix, (events, private)))


def fuzz(service: str) -> Any:
    @SCHEMAS[service].parametrize()
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def test(case: Any, live: LocalBureau) -> None:
        response = case.call(base_url=live.url(service), headers=EVERYONE, timeout=20)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
        )

    return test


test_intake_never_answers_5xx = fuzz("intake")
test_triage_never_answers_5xx = fuzz("triage")
test_escalation_never_answers_5xx = fuzz("escalation")
test_notify_never_answers_5xx = fuzz("notify")
