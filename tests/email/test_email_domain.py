"""The email front door's reading of mails: over a corpus of real-shaped mails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from frontends.email.domain import (
    IGNORED,
    InboundMail,
    Kind,
    SenderCheck,
    description,
    detect_language,
    read_mail,
    tracking_number_in,
    written_text,
)

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).parent / "corpus"
BUREAU = frozenset({"bureau@district.example"})


def mail(name: str, **options: Any) -> InboundMail:
    return read_mail(
        (CORPUS / name).read_bytes(),
        bureau_domain="district.example",
        own_addresses=BUREAU,
        **options,
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("new_plain_en.eml", Kind.NEW),
        ("new_spanish_latin1.eml", Kind.NEW),
        ("new_html_only.eml", Kind.NEW),
        ("new_html_only_spanish_entities.eml", Kind.NEW),
        ("new_with_attachments.eml", Kind.NEW),
        ("reply_gmail.eml", Kind.REPLY),
        ("reply_outlook.eml", Kind.REPLY),
        ("reply_apple_mail.eml", Kind.REPLY),
        ("reply_spanish_gmail.eml", Kind.REPLY),
        ("reply_outlook_html_only.eml", Kind.REPLY),
        ("forged_from.eml", Kind.REPLY),
        ("reply_authenticated.eml", Kind.REPLY),
        ("reply_spoofed_authentication.eml", Kind.REPLY),
        ("auto_reply_rfc3834.eml", Kind.AUTO_REPLY),
        ("out_of_office_outlook.eml", Kind.AUTO_REPLY),
        ("vacation_xautoreply.eml", Kind.AUTO_REPLY),
        ("mailing_list.eml", Kind.MAILING_LIST),
        ("spam_flagged.eml", Kind.SPAM),
        ("bounce_dsn.eml", Kind.BOUNCE),
    ],
)
def test_each_mail_of_the_corpus_is_classified(name: str, kind: Kind) -> None:
    assert mail(name).kind is kind


def test_an_auto_reply_quoting_a_tracking_number_is_still_ignored() -> None:
    found = mail("auto_reply_rfc3834.eml")
    assert found.tracking_number == "CS-2026-000001"
    assert found.kind in IGNORED


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("reply_gmail.eml", "The bus came today, but it was 25 minutes late again."),
        (
            "reply_apple_mail.eml",
            "The stop is on the corner of Oak Street and 5th Avenue, in "
            "front of the library. Pick up time is 7:10.",
        ),
        ("reply_outlook_html_only.eml", "Yes, the stop at Oak Street and 5th Avenue."),
        (
            "reply_spanish_gmail.eml",
            "Muchas gracias. Ya pude subir los documentos, pero todavía "
            "falta el\ncertificado de vacunas. ¿Lo puedo llevar en persona?",
        ),
    ],
)
def test_replies_keep_only_what_the_person_wrote(name: str, expected: str) -> None:
    assert mail(name).body == expected


def test_outlook_reply_loses_the_quoted_bureau_mail() -> None:
    body = mail("reply_outlook.eml").body
    assert body.startswith("Thanks for the quick answer. The fence is still open")
    assert "We have asked facilities" not in body and "From:" not in body


def test_signature_and_sign_off_are_stripped_from_a_new_mail() -> None:
    body = mail("new_plain_en.eml").body
    assert body.endswith("Could someone please look into it?")
    assert "555-0123" not in body


def test_html_only_mail_becomes_text_in_its_charset() -> None:
    body = mail("new_html_only.eml").body
    assert "<p>" not in body and "It\u2019s been like that for two weeks." in body


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hello,\n\nThanks, but the bus still did not come today.\nMy son waited 40 "
            "minutes.\n\nThanks,\nMaria\n555-0123",
            "Hello,\n\nThanks, but the bus still did not come today.\nMy son waited 40 minutes.",
        ),
        (
            "Hola,\n\nGracias, pero el autobús no vino hoy. Mi hijo esperó 40 minutos.\n\n"
            "Saludos,\nLucía",
            "Hola,\n\nGracias, pero el autobús no vino hoy. Mi hijo esperó 40 minutos.",
        ),
        (
            "Hi,\nBest, the bus was late again on Monday and Tuesday.\n\nBest regards, Maria",
            "Hi,\nBest, the bus was late again on Monday and Tuesday.",
        ),
    ],
    ids=["thanks-but", "gracias-pero", "best-the-bus"],
)
def test_a_sentence_starting_like_a_sign_off_is_kept(text: str, expected: str) -> None:
    # "Thanks, but ..." is what the parent wrote; "Thanks," on its own line signs it off
    assert written_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        'Hello,\n\nOn Monday the teacher wrote:\n"Your son was absent without excuse."\n'
        "But he was on the bus, which was 40 minutes late.",
        'Hola,\n\nEl maestro de mi hijo escribió:\n"Su hijo faltó sin excusa."\n'
        "Pero él estaba en el autobús, que llegó 40 minutos tarde.",
        'Hola,\n\nEl lunes 30 de noviembre de 2026 la maestra escribió:\n"Su hijo faltó."\n'
        "Pero estaba en el autobús.",
    ],
    ids=["on-monday-wrote", "el-maestro-escribio", "el-lunes-escribio"],
)
def test_a_parent_quoting_what_someone_wrote_keeps_it(text: str) -> None:
    # a mail client's attribution has a time or an address ("On Tue, Dec 1, 2026 at 8:03 AM
    # Bureau <...> wrote:"); a parent's "the teacher wrote:" is what they wrote
    assert written_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "Hello,\n\nWarning: the driver was texting while driving. I will also email the "
        "principal.\nPlease act.",
        "Hello,\n\nConfidential: my daughter told me about bullying; please reply by email "
        "only.\nThank you for your help with this.",
        "Hola,\n\nAviso: el conductor usa el teléfono mientras maneja. También mandaré un "
        "email a la directora.",
    ],
    ids=["warning", "confidential", "aviso"],
)
def test_a_sentence_of_the_parent_that_starts_like_a_disclaimer_is_kept(text: str) -> None:
    assert written_text(text) == text


def test_an_employers_legal_disclaimer_is_dropped() -> None:
    text = (
        "Hello,\n\nThe bus was late again today.\n\nCONFIDENTIALITY: This e-mail and any "
        "attachments are intended only for the named recipient. If you received this e-mail "
        "in error, please delete it."
    )
    assert written_text(text) == "Hello,\n\nThe bus was late again today."


def test_a_list_written_with_dashes_is_kept_and_the_signature_is_not() -> None:
    text = (
        "Hello,\n\nTwo problems with the bus:\n- it is late every day\n"
        "- the driver skips our stop\n\n-- \nMaria Gonzalez\n555-0123"
    )
    assert written_text(text) == (
        "Hello,\n\nTwo problems with the bus:\n- it is late every day\n- the driver skips our stop"
    )


def test_html_mail_keeps_accents_and_lists_as_written() -> None:
    # accents written as HTML entities stay accents ("Sí" is not "Si", "él" not "el"), a
    # numbered or dashed list is not escaped for Markdown, and the signature goes
    found = mail("new_html_only_spanish_entities.eml")
    assert found.language == "es"
    assert found.body == (
        "Buenos días,\n\n"
        "Les escribo porque el autobús de mi hija tiene dos problemas:\n\n"
        "1. Llega tarde casi todos los días.\n\n"
        "2. El conductor no para en nuestra esquina — la de Oak y la 5.\n\n"
        "- Ya hablé con la escuela y no me dieron información.\n\n"
        "¿Quién me puede ayudar?"
    )


def test_latin1_spanish_mail_is_decoded_and_detected_spanish() -> None:
    found = mail("new_spanish_latin1.eml")
    assert found.from_name == "José Martínez"
    assert found.subject == "Inscripción de mi hija"
    assert "¿Pueden ayudarme?" in found.body
    assert found.language == "es"


WRITTEN = "El autobús no llegó otra vez; mi niña esperó en la mañana fría."


def mail_in(charset: str | None, body: bytes) -> InboundMail:
    """A parent's mail of `body` declaring `charset` (or none), sent as 8-bit."""
    declared = f"; charset={charset}" if charset else ""
    head = (
        "From: Ana <ana@example.org>\r\nTo: bureau@district.example\r\nSubject: Bus\r\n"
        "Message-ID: <a1@example.org>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain{declared}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return read_mail(head.encode() + body, bureau_domain="district.example", own_addresses=BUREAU)


@pytest.mark.parametrize(
    ("charset", "encoding"),
    [
        ("windows-1252", "cp1252"),
        ("iso-8859-15", "iso-8859-15"),
        ("unknown-8bit", "cp1252"),  # RFC 1428: the relay could not tell
        ("unknown-8bit", "utf-8"),
        (None, "utf-8"),
        (None, "cp1252"),
        ("us-ascii", "cp1252"),  # a mailer that declares ASCII and writes 8-bit
        ("utf8x", "utf-8"),  # a charset Python does not know
    ],
)
def test_a_mail_in_any_charset_or_none_keeps_its_accents(
    charset: str | None, encoding: str
) -> None:
    found = mail_in(charset, WRITTEN.encode(encoding))
    assert found.body == WRITTEN and found.language == "es"


def test_a_few_broken_bytes_do_not_change_how_the_rest_is_read() -> None:
    found = mail_in("utf-8", WRITTEN.encode() + b" \xff")
    assert found.body.startswith(WRITTEN)


def test_sender_is_taken_from_from_in_lower_case() -> None:
    found = mail("new_plain_en.eml")
    assert (found.from_name, found.from_address) == ("Maria Gonzalez", "maria.gonzalez@example.org")
    assert found.message_id == "<CAF7k2x9Q@mail.example.org>"


def test_tracking_number_is_found_in_any_case() -> None:
    assert mail("reply_spanish_gmail.eml").tracking_number == "CS-2026-000002"
    assert tracking_number_in("re: cs-2026-000042 bus") == "CS-2026-000042"
    assert tracking_number_in("CS-26-1") is None


def test_only_the_bureaus_own_message_ids_are_references() -> None:
    found = mail("reply_gmail.eml")
    assert found.references == (
        "<0b8d7c36-8a6e-4d3e-9f5a-2c1e0d9b7a11.9f2c1e0d9b7a4f5e8d3c2b1a0f9e8d7c@district.example>",
    )


def test_attachments_are_read_with_name_type_and_content() -> None:
    found = mail("new_with_attachments.eml")
    assert [(a.filename, a.content_type) for a in found.attachments] == [
        ("letter.pdf", "application/pdf"),
        ("notice.png", "image/png"),
        ("run.exe", "application/x-msdownload"),
    ]
    assert found.attachments[0].data.startswith(b"%PDF-1.4")


def test_bounce_names_the_failed_address_and_the_bureaus_mail() -> None:
    bounce = mail("bounce_dsn.eml").bounce
    assert bounce is not None
    assert bounce.failed_recipients == ("no.such.parent@example.org",)
    assert bounce.status == "5.1.1"
    assert bounce.original_message_ids[0].endswith("@district.example>")


def test_forged_sender_is_not_authenticated() -> None:
    assert mail("forged_from.eml").sender_authenticated is False
    assert mail("new_plain_en.eml").sender_authenticated is True


DISTRICT_MX = frozenset({"mx.district.example"})


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("reply_authenticated.eml", SenderCheck.PASSED),  # the district's server: dmarc=pass
        ("reply_spoofed_authentication.eml", SenderCheck.UNCHECKED),  # another server's "pass"
        ("reply_gmail.eml", SenderCheck.UNCHECKED),  # no verdict at all (LMTP reached directly)
        ("forged_from.eml", SenderCheck.FAILED),  # the district's server: dmarc=fail
    ],
)
def test_only_the_district_mail_servers_verdict_vouches_for_a_sender(
    name: str, check: SenderCheck
) -> None:
    found = mail(name, trusted_authserv_ids=DISTRICT_MX)
    assert found.sender_check is check
    assert found.sender_authenticated is (check is SenderCheck.PASSED)


def with_results(name: str, *headers: str) -> bytes:
    """A corpus mail with Authentication-Results on top, in the order given (top first)."""
    lines = "".join(f"Authentication-Results: {h}\n" for h in headers)
    return lines.encode() + (CORPUS / name).read_bytes()


@pytest.mark.parametrize(
    ("headers", "check"),
    [
        # the server's own verdict is the topmost; one below it was in the mail it received
        (("mx.district.example; none", "mx.district.example; dmarc=pass"), SenderCheck.UNCHECKED),
        (
            ("mx.district.example; dmarc=fail", "mx.district.example; dmarc=pass"),
            SenderCheck.FAILED,
        ),
        # several servers of the district (one authserv-id each), in any case, with a version
        (("MX2.District.Example 1; dmarc=pass header.from=example.org",), SenderCheck.PASSED),
        # DKIM or SPF of the From domain (aligned) without DMARC
        (("mx.district.example; dkim=pass header.d=example.org",), SenderCheck.PASSED),
        (
            ("mx.district.example; spf=pass smtp.mailfrom=bulk@mail.example.org",),
            SenderCheck.PASSED,
        ),
        # a pass for another domain says nothing of the From address
        (
            (
                "mx.district.example; dkim=pass header.d=attacker.example; spf=pass "
                "smtp.mailfrom=bulk@attacker.example",
            ),
            SenderCheck.UNCHECKED,
        ),
        (("mx.district.example; spf=fail smtp.mailfrom=example.org",), SenderCheck.FAILED),
        (
            ("mx.district.example; dkim=pass (good (really)) header.d=example.org; dmarc=none",),
            SenderCheck.PASSED,
        ),
    ],
)
def test_the_topmost_verdict_of_a_trusted_server_decides(
    headers: tuple[str, ...], check: SenderCheck
) -> None:
    raw = with_results("reply_gmail.eml", *headers)
    trusted = DISTRICT_MX | {"mx2.district.example"}
    found = read_mail(raw, bureau_domain="district.example", trusted_authserv_ids=trusted)
    assert found.sender_check is check


def test_in_development_without_an_authserv_id_the_local_sink_is_trusted() -> None:
    # mails written by hand into a local listener carry no verdict: replies still thread
    assert mail("reply_gmail.eml").sender_check is SenderCheck.PASSED
    assert mail("forged_from.eml").sender_check is SenderCheck.FAILED


def test_null_envelope_sender_is_an_automatic_mail() -> None:
    assert mail("new_plain_en.eml", envelope_sender="").kind is Kind.AUTO_REPLY
    assert mail("new_plain_en.eml", envelope_sender="<>").kind is Kind.AUTO_REPLY


def test_mail_from_the_bureau_itself_is_a_loop() -> None:
    raw = (
        b"From: bureau@district.example\r\nTo: bureau@district.example\r\n"
        b"Subject: hello\r\n\r\nA mail the bureau sent to itself by mistake.\r\n"
    )
    assert (
        read_mail(raw, bureau_domain="district.example", own_addresses=BUREAU).kind
        is Kind.AUTO_REPLY
    )


def test_language_detection_defaults_when_undecided() -> None:
    assert detect_language("Hola, el autobús no llegó a la escuela") == "es"
    assert detect_language("The bus did not come to the school") == "en"
    assert detect_language("12345", default="es") == "es"


def test_description_uses_the_subject_when_the_body_is_too_short() -> None:
    raw = b"From: a@example.org\r\nSubject: Broken heating in room 12\r\n\r\nHelp\r\n"
    found = read_mail(raw, bureau_domain="district.example")
    assert description(found) == "Broken heating in room 12\n\nHelp"


def test_quoted_lines_without_attribution_are_dropped() -> None:
    assert written_text("Yes, Monday works.\n\n> Can you come on Monday?\n") == "Yes, Monday works."


def test_malformed_mail_does_not_raise() -> None:
    found = read_mail(b"\x00\xff garbage without headers", bureau_domain="district.example")
    assert found.kind is Kind.NEW and found.from_address is None
