"""Family text from Babel gettext catalogs, for any frontend: `<frontend>/locales/<language>/
LC_MESSAGES/messages.po` (English message ids), compiled in memory when first used, so a fresh
clone needs no build step and a district corrects or adds a language by editing a `.po` file.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

# What `pybabel extract -k N_` looks for besides gettext's own names.
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is used."""
    return message


@functools.cache
def catalog(locales: Path, language: str) -> Translations:
    """The compiled catalog of one language in `locales` (English falls back to the ids)."""
    with (locales / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        messages = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, messages, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled)


def languages(locales: Path) -> tuple[str, ...]:
    """The languages with a catalog in `locales`, sorted."""
    return tuple(
        sorted(p.name for p in locales.iterdir() if (p / "LC_MESSAGES" / "messages.po").exists())
    )


def messages_in_sources(frontend: Path) -> set[str]:
    """The message ids `pybabel extract -F babel.cfg -k N_` finds in a frontend's sources (its
    `babel.cfg` names them, relative to the frontend's folder)."""
    with (frontend / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    return {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(frontend), method_map, options_map, keywords=KEYWORDS
        )
    }
