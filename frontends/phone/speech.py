"""What the phone says and texts, in the caller's language, from Babel gettext catalogs.

The catalogs are `locales/<language>/LC_MESSAGES/messages.po` (English message ids); they are
compiled in memory at start, so a district adds or corrects a language by editing a `.po`
file (`pybabel extract -F frontends/phone/babel.cfg` finds new messages).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from frontends.phone.domain import LANGUAGES, Language, local_time

LOCALES = Path(__file__).resolve().parent / "locales"


def N_(message: str) -> str:
    """Marks a message for extraction where it is translated later."""
    return message


@functools.cache
def translations(language: Language) -> Translations:
    """The compiled catalog of one language."""
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def translator(language: Language) -> Callable[[str], str]:
    """`_` for one language."""
    return translations(language).gettext


# How a status is said; the key is intake's status.
STATUS_WORDS = {
    "received": N_("received"),
    "acknowledged": N_("being worked on"),
    "awaiting_requester": N_("waiting for information from you"),
    "resolved": N_("resolved"),
    "reopened": N_("reopened and being worked on"),
    "closed": N_("closed"),
}


def status_words(status: str, language: Language) -> str:
    return translator(language)(STATUS_WORDS.get(status, N_("received")))


def spoken_time(moment: datetime, timezone: str, language: Language) -> str:
    """A due time as a person says it, on the district's clock, in the caller's language."""
    _ = translator(language)
    pattern = _("EEEE, MMMM d, 'at' h:mm a")
    return format_datetime(local_time(moment, timezone), pattern, locale=language)


def all_languages() -> tuple[Language, ...]:
    return LANGUAGES
