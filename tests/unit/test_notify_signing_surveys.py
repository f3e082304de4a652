"""Webhook signatures a receiver can verify, and the survey's secret link and rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notify import signing, surveys
from services.notify.surveys import SurveyState

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
SECRET = "a-subscriber-secret-of-some-length"
BODY = b'{"specversion":"1.0","type":"org.bureau.concern.resolved.v1"}'


def headers(secret: str = SECRET, at: datetime = NOW, body: bytes = BODY) -> dict[str, str]:
    return signing.signed_headers(secret, int(at.timestamp()), body)


def verify(h: dict[str, str], body: bytes = BODY, now: datetime = NOW) -> bool:
    return signing.verify(
        SECRET,
        body,
        timestamp=h.get(signing.TIMESTAMP_HEADER),
        signature=h.get(signing.SIGNATURE_HEADER),
        now=now,
    )


def test_receiver_verifies_a_signed_webhook() -> None:
    assert verify(headers())


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    stamp = int(NOW.timestamp())
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + BODY, hashlib.sha256).hexdigest()

    assert headers()[signing.SIGNATURE_HEADER] == f"sha256={expected}"


def test_tampered_body_fails_verification() -> None:
    assert not verify(headers(), body=BODY.replace(b"resolved", b"reopened"))


def test_other_secret_fails_verification() -> None:
    assert not verify(headers(secret="someone-elses-secret-value"))


def test_moved_timestamp_fails_verification() -> None:
    h = headers()
    h[signing.TIMESTAMP_HEADER] = str(int(NOW.timestamp()) + 1)

    assert not verify(h)


def test_replayed_old_webhook_fails_verification() -> None:
    assert not verify(headers(at=NOW - timedelta(minutes=10)))
    assert verify(headers(at=NOW - timedelta(minutes=4)))


@pytest.mark.parametrize("missing", [signing.TIMESTAMP_HEADER, signing.SIGNATURE_HEADER])
def test_unsigned_webhook_fails_verification(missing: str) -> None:
    h = headers()
    del h[missing]

    assert not verify(h)


def test_survey_token_is_stable_per_concern_and_unguessable_without_the_key() -> None:
    token = surveys.token_for("key-one-key-one-key", "c-1")

    assert token == surveys.token_for("key-one-key-one-key", "c-1")
    assert token != surveys.token_for("key-one-key-one-key", "c-2")
    assert token != surveys.token_for("key-two-key-two-key", "c-1")
    assert len(token) == 43 and token.replace("-", "").replace("_", "").isalnum()


def test_store_keeps_a_hash_not_the_token() -> None:
    token = surveys.token_for("key-one-key-one-key", "c-1")

    assert surveys.token_hash(token) != token and len(surveys.token_hash(token)) == 64


def test_survey_link_joins_base_url_and_token() -> None:
    assert surveys.link("https://x.example/survey/", "abc") == "https://x.example/survey/abc"


def test_survey_expires_thirty_days_after_resolution() -> None:
    expires = surveys.expires_at(NOW)

    assert (
        surveys.state(answered=False, expires=expires, now=NOW + timedelta(days=29))
        is SurveyState.OPEN
    )
    assert (
        surveys.state(answered=False, expires=expires, now=NOW + timedelta(days=30))
        is SurveyState.EXPIRED
    )
    assert (
        surveys.state(answered=True, expires=expires, now=NOW + timedelta(days=31))
        is SurveyState.ANSWERED
    )


def test_question_in_spanish_and_english_for_other_languages() -> None:
    assert surveys.question("es")[0].startswith("¿")
    assert surveys.question("vi") == surveys.question("en")
    assert sorted(surveys.question("en")[1]) == [1, 2, 3, 4, 5]
