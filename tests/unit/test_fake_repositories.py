"""The in-memory repositories the handler tests use have the interface of the real ones:
every public method, with the same parameters, so a handler cannot pass its unit tests on
a fake and call something else on the store."""

from __future__ import annotations

import inspect

import pytest

from services.escalation.repository import ClockRepository, PolicyRepository
from services.escalation.repository.fakes import FakeClockRepository, FakePolicyRepository
from services.intake.fakes import (
    FakeConcernRepository,
    FakeDisclosureRepository,
    FakeIdempotencyKeys,
)
from services.intake.idempotency import IdempotencyKeys
from services.intake.repository import ConcernRepository, DisclosureRepository
from services.notify.repository import (
    DeliveryRepository,
    SubscriptionRepository,
    SurveyRepository,
    TemplateRepository,
)
from services.notify.repository.fakes import (
    FakeDeliveryRepository,
    FakeSubscriptionRepository,
    FakeSurveyRepository,
    FakeTemplateRepository,
)
from services.triage.fakes import (
    FakeDecisionRepository,
    FakeMemberRepository,
    FakeRuleRepository,
)
from services.triage.repository import DecisionRepository, MemberRepository, RuleRepository

pytestmark = pytest.mark.unit

PAIRS: list[tuple[type, type, set[str]]] = [
    # (real, fake, what the fake leaves out: the Board's aggregations read the collection)
    (ClockRepository, FakeClockRepository, {"collection"}),
    (PolicyRepository, FakePolicyRepository, set()),
    (DeliveryRepository, FakeDeliveryRepository, set()),
    (TemplateRepository, FakeTemplateRepository, set()),
    (SubscriptionRepository, FakeSubscriptionRepository, set()),
    (SurveyRepository, FakeSurveyRepository, set()),
    (DecisionRepository, FakeDecisionRepository, set()),
    (MemberRepository, FakeMemberRepository, set()),
    (RuleRepository, FakeRuleRepository, set()),
    # the staff lists, counts and the Board's callbacks speak the store's query language
    (
        ConcernRepository,
        FakeConcernRepository,
        {"collection", "find", "count", "count_by_status", "callbacks_kept"},
    ),
    (DisclosureRepository, FakeDisclosureRepository, set()),
    (IdempotencyKeys, FakeIdempotencyKeys, set()),
    # notify's FakeConcernRepository is the real class over a dict: its rules are the real ones
]


def public(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and (callable(member) or isinstance(member, property))
    }


def parameters(member: object) -> list[tuple[str, object, object]]:
    signature = inspect.signature(member)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


@pytest.mark.parametrize(
    ("real", "fake", "left_out"), PAIRS, ids=lambda p: getattr(p, "__name__", "")
)
def test_a_fake_repository_has_every_method_of_the_real_one(
    real: type, fake: type, left_out: set[str]
) -> None:
    real_methods, fake_methods = public(real), public(fake)
    assert set(real_methods) - left_out <= set(fake_methods)
    for name in set(real_methods) - left_out:
        if callable(real_methods[name]):
            assert parameters(fake_methods[name]) == parameters(real_methods[name]), name
            is_async = inspect.iscoroutinefunction(real_methods[name])
            assert inspect.iscoroutinefunction(fake_methods[name]) == is_async, name
