"""The satisfaction survey: its secret link, its question, and what an answer may be.

The token in the link is derived from the concern with a keyed hash, so every replica and
every redelivery of `concern.resolved` writes the same link without storing it; the store
keeps only a hash of the token, so a copy of the database opens no survey.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from enum import StrEnum

from services.notify.domain import DEFAULT_LANGUAGE

VALID_FOR = timedelta(days=30)
MAX_COMMENT_CHARS = 2000

QUESTION = {
    "en": "How satisfied are you with how the Customer Service Bureau handled your concern?",
    "es": "¿Qué tan satisfecho está con la forma en que la Oficina de Atención al Público "
    "atendió su inquietud?",
}
SCALE = {
    "en": {
        1: "Very dissatisfied",
        2: "Dissatisfied",
        3: "Neutral",
        4: "Satisfied",
        5: "Very satisfied",
    },
    "es": {
        1: "Muy insatisfecho",
        2: "Insatisfecho",
        3: "Neutral",
        4: "Satisfecho",
        5: "Muy satisfecho",
    },
}


class SurveyState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    EXPIRED = "expired"


def token_for(key: str, concern_id: str) -> str:
    """The survey token of a concern (43 URL-safe characters, 256 bits)."""
    mac = hmac.new(key.encode(), f"survey:{concern_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_hash(token: str) -> str:
    """What the store keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def link(base_url: str, token: str) -> str:
    """The link sent to the requester."""
    return f"{base_url.rstrip('/')}/{token}"


def expires_at(resolved_at: datetime) -> datetime:
    """A survey may be answered for 30 days after the (latest) resolution."""
    return resolved_at + VALID_FOR


def state(*, answered: bool, expires: datetime, now: datetime) -> SurveyState:
    """Whether a survey still takes an answer; an answer given stays answered."""
    if answered:
        return SurveyState.ANSWERED
    return SurveyState.EXPIRED if now >= expires else SurveyState.OPEN


def question(language: str) -> tuple[str, dict[int, str]]:
    """The question and the labels of its scale, in the requester's language or English."""
    lang = language if language in QUESTION else DEFAULT_LANGUAGE
    return QUESTION[lang], SCALE[lang]
