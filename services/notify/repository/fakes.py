"""In-memory stand-ins for notify's repositories, with their interface: handler tests run in
milliseconds without a store. They keep the rules a caller relies on (a delivery is
recorded once by its id and, when due at once, recorded claimed; only the holder of a
lease settles it; a later fact about a concern wins over an older one, the first contact
stays; a survey is answered once before it expires; each write's events land in
`outbox`); the integration tier tests the real repositories against a store."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from services.notify.domain import ChannelName, DeliveryStatus, Kind
from services.notify.repository.concerns import ConcernFacts, ConcernRepository, _facts
from services.notify.repository.deliveries import (
    LEASE_TOKEN,
    LEASE_UNTIL,
    MAX_HISTORY,
    Attempt,
    Delivery,
    DeliveryRepository,
    NewDelivery,
    Settlement,
    _new_document,
    from_document,
)
from services.notify.repository.subscriptions import Subscription
from services.notify.repository.surveys import SurveyRepository
from services.notify.repository.templates import StoredTemplate, TemplateRepository
from services.notify.templates import MessageTemplate, template_key
from shared.clock import as_utc
from shared.events import CloudEvent
from shared.store import Document


class FakeDeliveryRepository(DeliveryRepository):
    """`DeliveryRepository` in memory, its documents as the real one writes them; how an
    attempt is settled (sent, released, failed) is the real repository's own methods over
    `_finish_attempt`."""

    def __init__(self) -> None:  # no store: every method that would reach one is overridden
        self.documents: dict[str, Document] = {}
        self.outbox: list[CloudEvent] = []

    async def ensure_indexes(self) -> None:
        return None

    async def record(
        self, deliveries: Sequence[NewDelivery], *, now: datetime, lease_until: datetime
    ) -> list[Delivery]:
        recorded = []
        for delivery in deliveries:
            if delivery.id not in self.documents:
                doc = _new_document(delivery, now=now, lease_until=lease_until)
                self.documents[delivery.id] = doc
                recorded.append(from_document(doc))
        return recorded

    async def claim_due(self, *, now: datetime, lease_until: datetime) -> Delivery | None:
        due = [
            d
            for d in self.documents.values()
            if d["status"] == DeliveryStatus.QUEUED.value and as_utc(d["next_attempt_at"]) <= now
        ]
        if not due:
            return None
        first = min(due, key=lambda d: as_utc(d["next_attempt_at"]))
        return self._take(first, now=now, lease_until=lease_until)

    async def claim_abandoned(
        self, *, now: datetime, lease_until: datetime, silent_for: timedelta
    ) -> list[Delivery]:
        """The leases that ran out `silent_for` ago (the real one watches them that long)."""
        gone = [
            d
            for d in self.documents.values()
            if d["status"] == DeliveryStatus.SENDING.value
            and as_utc(d[LEASE_UNTIL]) + silent_for <= now
        ]
        return [self._take(d, now=now, lease_until=lease_until) for d in gone]

    async def hand_back(self, delivery_id: str, *, token: str, now: datetime) -> bool:
        doc = self._held(delivery_id, token)
        if doc is None:
            return False
        doc.update(status=DeliveryStatus.QUEUED.value, next_attempt_at=now, updated_at=now)
        doc["attempts"] -= 1
        doc.pop(LEASE_TOKEN, None)
        doc.pop(LEASE_UNTIL, None)
        return True

    async def renew(self, delivery_id: str, *, token: str, lease_until: datetime) -> bool:
        doc = self._held(delivery_id, token)
        if doc is not None:
            doc[LEASE_UNTIL] = lease_until
        return doc is not None

    async def get(self, delivery_id: str) -> Delivery | None:
        doc = self.documents.get(delivery_id)
        return from_document(doc) if doc else None

    async def get_document(self, delivery_id: str) -> Document | None:
        return self.documents.get(delivery_id)

    async def for_concern(self, concern_id: str) -> list[Delivery]:
        docs = [d for d in self.documents.values() if d["concern_id"] == concern_id]
        return [from_document(d) for d in sorted(docs, key=lambda d: as_utc(d["created_at"]))]

    async def _bounce(self, delivery_id: str, bounced: Settlement) -> bool:
        doc = self.documents.get(delivery_id)
        if doc is None or doc["status"] != DeliveryStatus.SENT.value:
            return False
        doc.update(bounced.fields)
        self._log(doc, bounced.attempt)
        self.outbox.extend(bounced.events)
        return True

    def _take(self, doc: Document, *, now: datetime, lease_until: datetime) -> Delivery:
        doc.update(status=DeliveryStatus.SENDING.value, updated_at=now)
        doc.update({LEASE_TOKEN: uuid.uuid4().hex, LEASE_UNTIL: lease_until})
        doc["attempts"] = doc.get("attempts", 0) + 1
        return from_document(doc)

    def _held(self, delivery_id: str, token: str) -> Document | None:
        doc = self.documents.get(delivery_id)
        held = doc is not None and doc["status"] == DeliveryStatus.SENDING.value
        return doc if held and doc is not None and doc.get(LEASE_TOKEN) == token else None

    async def _finish_attempt(self, delivery_id: str, token: str, settled: Settlement) -> bool:
        doc = self._held(delivery_id, token)
        if doc is None:
            return False
        doc.update(settled.fields, updated_at=settled.attempt.at)
        doc.pop(LEASE_TOKEN, None)
        doc.pop(LEASE_UNTIL, None)
        if settled.final:  # settled: only the log remains
            for name in ("text", "html", "attachments", "next_attempt_at"):
                doc.pop(name, None)
        self._log(doc, settled.attempt)
        self.outbox.extend(settled.events)
        return True

    @staticmethod
    def _log(doc: Document, attempt: Attempt) -> None:
        doc["history"] = [*doc.get("history", []), attempt.entry()][-MAX_HISTORY:]


class FakeConcernRepository(ConcernRepository):
    """`ConcernRepository` in memory: the real rules of what a fact overwrites, over a dict."""

    def __init__(self) -> None:
        self.documents: dict[str, Document] = {}

    async def _upsert(
        self, concern_id: str, unless_known: Document, fields: Document, *, read: bool = True
    ) -> ConcernFacts | None:
        doc = self.documents.setdefault(concern_id, {"_id": concern_id})
        for name, condition in unless_known.items():
            known = doc.get(name)
            if condition is None and known is not None:
                return None  # the first one stays
            if isinstance(condition, dict) and known is not None:
                newer = condition["$not"]
                if "$gt" in newer and as_utc(known) > newer["$gt"]:
                    return None  # a later fact is known
                if "$gte" in newer and as_utc(known) >= newer["$gte"]:
                    return None  # a newer fact is known
        doc.update(fields)
        return _facts(doc) if read else None

    async def ensure_indexes(self) -> None:
        return None

    async def get(self, concern_id: str) -> ConcernFacts | None:
        doc = self.documents.get(concern_id)
        return _facts(doc) if doc else None

    async def by_tracking_number(self, tracking_number: str) -> ConcernFacts | None:
        doc = next(
            (d for d in self.documents.values() if d.get("tracking_number") == tracking_number),
            None,
        )
        return _facts(doc) if doc else None


class FakeTemplateRepository:
    """`TemplateRepository` in memory."""

    def __init__(self) -> None:
        self.templates: dict[str, StoredTemplate] = {}

    async def seed(self, templates: list[MessageTemplate], now: datetime) -> int:
        new = [t for t in templates if t.key not in self.templates]
        self.templates.update((t.key, StoredTemplate(t, now, "seed")) for t in new)
        return len(new)

    async def get(self, kind: Kind, channel: ChannelName, language: str) -> StoredTemplate | None:
        return self.templates.get(template_key(kind, channel, language))

    find = TemplateRepository.find  # the real fallback to English, over the fake's `get`

    async def put(self, template: MessageTemplate, now: datetime) -> StoredTemplate:
        self.templates[template.key] = StoredTemplate(template, now, "admin")
        return self.templates[template.key]

    async def all(self) -> list[StoredTemplate]:
        return [self.templates[key] for key in sorted(self.templates)]


class FakeSubscriptionRepository:
    """`SubscriptionRepository` in memory."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, Subscription] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def create(
        self, *, url: str, event_types: list[str], secret: str, now: datetime
    ) -> Subscription:
        types = tuple(sorted(set(event_types)))
        subscription = Subscription(str(uuid.uuid4()), url, types, secret, now)
        self.subscriptions[subscription.id] = subscription
        return subscription

    async def get(self, subscription_id: str) -> Subscription | None:
        return self.subscriptions.get(subscription_id)

    async def all(self) -> list[Subscription]:
        return sorted(self.subscriptions.values(), key=lambda s: s.created_at)

    async def delete(self, subscription_id: str) -> bool:
        return self.subscriptions.pop(subscription_id, None) is not None

    async def matching(self, event_name: str) -> list[Subscription]:
        return [s for s in await self.all() if s.wants(event_name)]


class FakeSurveyRepository(SurveyRepository):
    """`SurveyRepository` in memory: its rules over primitives on a dict; `outbox` holds the
    answers' events."""

    def __init__(self) -> None:  # no store: the primitives are overridden
        self.documents: dict[str, Document] = {}
        self.outbox: list[CloudEvent] = []

    async def ensure_indexes(self) -> None:
        return None

    async def get_document(self, concern_id: str) -> Document | None:
        return self.documents.get(concern_id)

    async def _insert(self, survey: Document) -> bool:
        if survey["_id"] in self.documents:
            return False
        self.documents[survey["_id"]] = dict(survey)
        return True

    async def _extend(self, concern_id: str, expires_at: datetime) -> None:
        doc = self.documents[concern_id]
        doc["expires_at"] = max(doc["expires_at"], expires_at)

    async def _find(self, token_hash: str) -> Document | None:
        return next((d for d in self.documents.values() if d["token_hash"] == token_hash), None)

    async def _answer(
        self, concern_id: str, answer: Document, *, now: datetime, events: list[CloudEvent]
    ) -> bool:
        doc = self.documents[concern_id]
        if doc["answered_at"] is not None or as_utc(doc["expires_at"]) <= now:
            return False
        doc.update(answer)
        self.outbox.extend(events)
        return True
