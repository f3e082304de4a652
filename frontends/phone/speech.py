"""What the phone says and texts, in the caller's language, from Babel gettext catalogs.

The catalogs are `locales/<language>/LC_MESSAGES/messages.po` (English message ids); they are
compiled in memory at start, so a district adds or corrects a language by editing a `.po`
file (`pybabel extract -F babel.cfg -k N_ -o locales/messages.pot .` from `frontends/phone/`
finds new messages).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from babel.dates import format_datetime
from babel.support import Translations

from frontends.common.i18n import N_ as N_  # the marker the phone's modules import from here
from frontends.common.i18n import catalog
from frontends.phone.domain import LANGUAGES, Language, local_time

LOCALES = Path(__file__).resolve().parent / "locales"


def translations(language: Language) -> Translations:
    """The compiled catalog of one language."""
    return catalog(LOCALES, language)


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
