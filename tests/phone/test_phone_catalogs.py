"""Everything the phone says or texts is translated: a message in the phone's code that the
Spanish catalog lacks (or leaves fuzzy) fails here, before a Spanish-speaking caller hears
English; the English catalog and the template list every message too."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from frontends.common.i18n import languages, messages_in_sources
from frontends.phone.speech import LOCALES

pytestmark = pytest.mark.unit

PHONE = LOCALES.parent
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def catalog_of(path: str) -> dict[str, str]:
    with (LOCALES / path).open("rb") as po:
        return {str(m.id): str(m.string) for m in read_po(po) if m.id and not m.fuzzy}


@pytest.mark.parametrize("language", [lang for lang in languages(LOCALES) if lang != "en"])
def test_every_message_of_the_phone_is_translated(language: str) -> None:
    translated = {
        msgid: msgstr
        for msgid, msgstr in catalog_of(f"{language}/LC_MESSAGES/messages.po").items()
        if msgstr
    }
    missing = sorted(messages_in_sources(PHONE) - set(translated))
    assert not missing, f"{language} lacks a translation of: {missing}"
    for msgid, msgstr in translated.items():
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(msgstr)), msgid


def test_the_english_catalog_and_the_template_list_every_message() -> None:
    found = messages_in_sources(PHONE)
    assert found <= set(catalog_of("en/LC_MESSAGES/messages.po"))
    assert found <= set(catalog_of("messages.pot"))
