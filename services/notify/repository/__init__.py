"""Notify's store, one module per aggregate: deliveries (with their outbox), what notify
knows of each concern, templates, webhook subscriptions and surveys. Each module holds the
aggregate's dataclasses and its repository; `fakes.py` holds in-memory ones with the same
interface, for handler tests."""

from services.notify.repository.concerns import (
    CONCERNS,
    ConcernFacts,
    ConcernRepository,
    Contact,
)
from services.notify.repository.deliveries import (
    DELIVERIES,
    Attempt,
    Delivery,
    DeliveryRepository,
    NewDelivery,
    from_document,
)
from services.notify.repository.subscriptions import (
    SUBSCRIPTIONS,
    Subscription,
    SubscriptionRepository,
)
from services.notify.repository.surveys import SURVEYS, Survey, SurveyRepository
from services.notify.repository.templates import (
    CACHE_TTL_S,
    TEMPLATES,
    StoredTemplate,
    TemplateRepository,
)

__all__ = [
    "CACHE_TTL_S",
    "CONCERNS",
    "DELIVERIES",
    "SUBSCRIPTIONS",
    "SURVEYS",
    "TEMPLATES",
    "Attempt",
    "ConcernFacts",
    "ConcernRepository",
    "Contact",
    "Delivery",
    "DeliveryRepository",
    "NewDelivery",
    "StoredTemplate",
    "Subscription",
    "SubscriptionRepository",
    "Survey",
    "SurveyRepository",
    "TemplateRepository",
    "from_document",
]
