"""Templates: the safe renderer, validation that names the problem, complete seeds."""

from __future__ import annotations

import pytest

from services.notify import sms, templates
from services.notify.domain import ChannelName, Kind
from services.notify.templates import MessageTemplate, TemplateProblem

pytestmark = pytest.mark.unit

SEEDS = templates.load_seed()


def email(
    body: str, subject: str = "About $tracking", kind: Kind = Kind.REPLY, language: str = "en"
) -> MessageTemplate:
    return MessageTemplate(
        kind=kind, channel=ChannelName.EMAIL, language=language, subject=subject, body=body
    )


def problems(template: MessageTemplate, max_segments: int = 3) -> list[tuple[str, str]]:
    return [
        (p.field, p.message) for p in templates.validate(template, sms_max_segments=max_segments)
    ]


def test_english_and_spanish_have_every_kind_on_every_channel() -> None:
    keys = {(t.kind, t.channel, t.language) for t in SEEDS}

    for language in ("en", "es"):
        for kind in templates.TEMPLATED_KINDS:
            for channel in templates.TEMPLATED_CHANNELS:
                assert (kind, channel, language) in keys, (kind, channel, language)


def test_every_seed_template_passes_validation() -> None:
    for template in SEEDS:
        assert problems(template) == [], template.key


def test_optional_part_appears_only_when_its_placeholders_have_values() -> None:
    text = "Hello[[ $name]], about $tracking[[ ($category)]]."

    assert (
        templates.render_text(text, {"name": "Ana", "tracking": "T-1", "category": ""})
        == "Hello Ana, about T-1."
    )
    assert (
        templates.render_text(text, {"name": "", "tracking": "T-1", "category": "Bus"})
        == "Hello, about T-1 (Bus)."
    )


def test_values_are_inserted_verbatim_and_never_evaluated() -> None:
    rendered = templates.render_text(
        "Reply: $reply_text",
        {"reply_text": "${district} {{7*7}} $$ __import__('os')", "district": "X"},
    )

    assert rendered == "Reply: ${district} {{7*7}} $$ __import__('os')"


def test_double_dollar_writes_a_dollar_sign() -> None:
    assert templates.render_text("Fee: $$5", {}) == "Fee: $5"


def test_unknown_placeholder_is_refused_with_its_name_and_the_known_ones() -> None:
    [(field, message)] = problems(email("Hello $nmae, $reply_text"))

    assert field == "body"
    assert "$nmae" in message and "reply_text" in message


def test_placeholder_of_another_kind_is_refused() -> None:
    [(field, message)] = problems(email("Take the survey: $survey_url", kind=Kind.REPLY))

    assert field == "body" and "$survey_url" in message


def test_stray_dollar_is_refused_with_its_line() -> None:
    [(field, message)] = problems(email("Hello,\ncosts $ 5\n"))

    assert field == "body" and "line 2" in message


def test_unbalanced_optional_part_is_refused() -> None:
    [(field, message)] = problems(email("Hello[[ $name,"))

    assert field == "body" and "[[" in message


def test_email_needs_a_subject_and_sms_has_none() -> None:
    no_subject = email("Body $tracking", subject="  ")
    sms_subject = MessageTemplate(
        kind=Kind.REPLY, channel=ChannelName.SMS, language="en", subject="Hi", body="$reply_text"
    )

    assert problems(no_subject) == [("subject", "an email needs a subject")]
    assert problems(sms_subject) == [("subject", "an SMS has no subject")]


def test_sms_template_too_long_for_the_segment_limit_is_refused() -> None:
    long = MessageTemplate(
        kind=Kind.REOPENING,
        channel=ChannelName.SMS,
        language="en",
        subject=None,
        body="$district: " + "reopened again. " * 20,
    )

    [(field, message)] = problems(long, max_segments=2)

    assert field == "body" and "segments" in message and "limit is 2" in message


def test_webhooks_have_no_templates() -> None:
    hook = MessageTemplate(
        kind=Kind.WEBHOOK, channel=ChannelName.EMAIL, language="en", subject="x", body="y"
    )

    assert problems(hook)[0][0] == "kind"


def test_spanish_sms_seeds_fit_the_default_limit_with_long_values() -> None:
    values = dict(templates.SAMPLE)
    values["due"] = "miércoles 30 de septiembre de 2026 a las 12:00 (CDT)"
    for template in SEEDS:
        if template.channel is ChannelName.SMS and template.kind is not Kind.REPLY:
            text = " ".join(templates.render(template, values).text.split())
            assert sms.segments(text) <= 3, template.key


@pytest.mark.parametrize(
    ("language", "said"),
    [
        (
            "en",
            "Your PIN is 482913. With your tracking number, it lets you check your concern "
            "by phone or on our website.",
        ),
        (
            "es",
            "Su PIN es 482913. Con su número de seguimiento, le permite consultar su "
            "inquietud por teléfono o en nuestro sitio web.",
        ),
    ],
)
def test_acknowledgement_tells_the_pin_to_check_by_phone_or_web(language: str, said: str) -> None:
    seeds = {(t.channel, t.language): t for t in SEEDS if t.kind is Kind.ACKNOWLEDGEMENT}
    values = dict(templates.SAMPLE, pin="482913")
    mail = templates.render(seeds[(ChannelName.EMAIL, language)], values).text
    text = templates.render(seeds[(ChannelName.SMS, language)], values).text

    assert said in " ".join(mail.split())
    assert "PIN 482913:" in text
    for channel in templates.TEMPLATED_CHANNELS:
        assert problems(seeds[(channel, language)]) == []
    # a concern told without a PIN (an older event) says nothing of one
    without = {k: v for k, v in values.items() if k != "pin"}
    for channel in templates.TEMPLATED_CHANNELS:
        rendered = templates.render(seeds[(channel, language)], without).text
        assert "PIN" not in rendered and "\n\n\n" not in rendered


def test_acknowledgement_sms_with_the_pin_and_a_personal_link_fits_the_limit() -> None:
    link = "https://families.district.example/status/CS-2026-000123?token=" + "x" * 43
    for template in SEEDS:
        if template.kind is Kind.ACKNOWLEDGEMENT and template.channel is ChannelName.SMS:
            values = dict(templates.SAMPLE, status_url=f"{link}&lang={template.language}")
            text = " ".join(templates.render(template, values).text.split())
            assert sms.segments(text) <= 3, template.key
            assert sms.fit(text, 3) == text  # nothing cut: neither the PIN nor the link


def test_other_languages_fall_back_to_english() -> None:
    assert templates.fallback_languages("vi") == ["vi", "en"]
    assert templates.fallback_languages("en") == ["en"]


def test_problem_names_its_field() -> None:
    problem = TemplateProblem("subject", "too long")

    assert str(problem) == "subject: too long"
