"""Every family string of the web is translated: a message in a page or in the code that the
Spanish catalog lacks (or leaves fuzzy) fails here, before a Spanish-speaking parent sees
English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from frontends.web.i18n import LOCALES, Translations, available_languages

pytestmark = pytest.mark.unit

WEB = Path(LOCALES).parent
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def messages_in_sources() -> set[str]:
    """What `pybabel extract -F babel.cfg -k N_` finds in the templates and the code."""
    with (WEB / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, options_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("language", [lang for lang in available_languages() if lang != "en"])
def test_every_message_of_the_pages_is_translated(language: str) -> None:
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    translated = {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(messages_in_sources() - set(translated))
    assert not missing, f"{language} lacks a translation of: {missing}"
    for msgid, msgstr in translated.items():
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(msgstr)), msgid


def test_spanish_is_offered_and_english_is_first() -> None:
    assert available_languages()[:2] == ("en", "es")


def test_the_familys_choice_wins_over_the_browsers_language() -> None:
    i18n = Translations()
    assert i18n.negotiate("es", "en-US,en;q=0.9") == "es"
    assert i18n.negotiate(None, "es-MX,es;q=0.9,en;q=0.5") == "es"
    assert i18n.negotiate("xx", "fr-FR") == "en"
    i18n.use("es")
    assert i18n.gettext("Submit a concern") == "Enviar una inquietud"
