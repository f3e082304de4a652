"""The front door's own answer (refused attachments) comes from its Babel catalogs: a family
writing in Spanish is answered in Spanish, and a message the Spanish catalog lacks fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from frontends.common.i18n import languages, messages_in_sources
from frontends.email import replies
from frontends.email.domain import InboundMail, read_mail
from frontends.email.replies import LOCALES, Refusal, refusal_reply

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).parent / "corpus"
EMAIL = Path(replies.__file__).resolve().parent
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
BUREAU = "Bureau <bureau@district.example>"


def mail(name: str) -> InboundMail:
    return read_mail(
        (CORPUS / name).read_bytes(),
        bureau_domain="district.example",
        own_addresses=frozenset({"bureau@district.example"}),
    )


def test_english_and_spanish_catalogs_exist() -> None:
    assert {"en", "es"} <= set(languages(LOCALES))


def test_every_message_of_the_front_door_is_translated_to_spanish() -> None:
    with (LOCALES / "es" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="es")
    translated = {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}
    found = messages_in_sources(EMAIL)
    assert "Some of your attachments were not accepted" in found
    assert not sorted(found - set(translated))
    for msgid, msgstr in translated.items():
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(msgstr)), msgid


def test_a_spanish_mail_is_told_in_spanish_which_file_was_refused_and_why() -> None:
    spanish = mail("new_spanish_latin1.eml")
    assert spanish.language == "es"
    refused = [
        Refusal("run.exe", 415, "This type of file is not accepted."),
        Refusal("scan.tiff", 400, "The file is empty."),
    ]
    reply = refusal_reply(spanish, refused, bureau_address=BUREAU, tracking_number="CS-2026-000009")
    text = reply.get_content()
    assert (
        reply["Subject"] == "Algunos de sus archivos adjuntos no fueron aceptados - CS-2026-000009"
    )
    assert "número de seguimiento CS-2026-000009" in text
    assert "- run.exe: no aceptamos este tipo de archivo" in text
    assert "- scan.tiff: The file is empty." in text  # intake's own words when none fit
    assert reply["Content-Language"] == "es"


def test_an_english_mail_is_answered_in_english_in_its_thread() -> None:
    english = mail("new_with_attachments.eml")
    reply = refusal_reply(
        english,
        [Refusal("big.pdf", 413, "Too large.")],
        bureau_address=BUREAU,
        tracking_number=None,
    )
    text = reply.get_content()
    assert reply["Subject"] == "Some of your attachments were not accepted"
    assert "We received your message, but could not keep" in text
    assert "- big.pdf: it is larger than we can accept" in text
    assert reply["In-Reply-To"] == english.message_id
    assert reply["Auto-Submitted"] == "auto-replied"
