"""Family text from Babel catalogs: `locales/<lang>/LC_MESSAGES/messages.po`, compiled in
memory at startup (a fresh clone needs no build step). A district adds a language by adding a
catalog; `LANGUAGES` lists the ones offered."""

from __future__ import annotations

import gettext
from contextvars import ContextVar
from pathlib import Path

from frontends.common.i18n import N_ as N_  # the marker the web's modules import from here
from frontends.common.i18n import catalog, languages

LOCALES = Path(__file__).resolve().parent / "locales"
DEFAULT_LANGUAGE = "en"


def load_catalog(language: str) -> gettext.NullTranslations:
    """The compiled catalog of one language (English falls back to the msgids)."""
    return catalog(LOCALES, language)


def available_languages() -> tuple[str, ...]:
    """Every language with a catalog, English first."""
    found = languages(LOCALES)
    return (DEFAULT_LANGUAGE, *(lang for lang in found if lang != DEFAULT_LANGUAGE))


# Each language's name in itself, for the language switch.
NATIVE_NAMES = {
    "en": "English",
    "es": "Español",
    "hmn": "Hmoob",
    "so": "Soomaali",
    "ar": "العربية",
    "vi": "Tiếng Việt",
    "zh": "中文",
    "fr": "Français",
}
RIGHT_TO_LEFT = frozenset({"ar", "he", "fa", "ur"})


class Translations:
    """All catalogs, loaded once; the page being rendered picks one through `current`."""

    def __init__(self) -> None:
        self.languages = available_languages()
        self._catalogs = {lang: load_catalog(lang) for lang in self.languages}
        self._current: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)

    def use(self, language: str) -> None:
        """Render what follows (in this task) in `language`."""
        self._current.set(language if language in self._catalogs else DEFAULT_LANGUAGE)

    def gettext(self, message: str) -> str:
        return self._catalogs[self._current.get()].gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._catalogs[self._current.get()].ngettext(singular, plural, n)

    def negotiate(self, cookie: str | None, accept_language: str | None) -> str:
        """The family's choice (cookie), else the browser's first offered language."""
        if cookie in self._catalogs:
            return cookie
        for part in (accept_language or "").split(","):
            tag = part.split(";")[0].strip().lower().split("-")[0]
            if tag in self._catalogs:
                return tag
        return DEFAULT_LANGUAGE
