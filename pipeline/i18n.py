"""Translations: what researchers read is Dutch, English is there for contributors.

The source strings in the code are English; the Dutch catalogue
(``pipeline/locale/nl/LC_MESSAGES/codeer.po``, compiled to ``codeer.mo``) translates them. The
standard library's :mod:`gettext` reads the compiled catalogue at run time, Babel (a test
dependency) extracts and compiles it: see ``docs/vertalen.md``.

The language is ``CODEER_LANG`` (``nl`` or ``en``) when set, else Dutch. It is looked up at
every call, so a test (or a contributor's shell) can switch it without reloading anything.
Strings in module-level tables are marked with :func:`N_` and translated where they are shown.
"""

from __future__ import annotations

import gettext as _gettext
import os
from functools import cache
from pathlib import Path

from pipeline.errors import CodeerError

DOMAIN = "codeer"
LOCALE_DIR = Path(__file__).parent / "locale"
#: The environment variable that chooses the language.
ENV = "CODEER_LANG"
#: The languages codeer speaks; the first is the default (its users are Dutch researchers).
LANGUAGES = ("nl", "en")
#: The language of the source strings: no catalogue needed.
SOURCE_LANGUAGE = "en"


def language() -> str:
    """The language now in force: ``CODEER_LANG`` (``nl``, ``en``, also ``en_GB.UTF-8``), else
    ``nl``.

    Raises:
        CodeerError: ``CODEER_LANG`` names a language codeer has no catalogue for.
    """
    value = os.environ.get(ENV, "").strip()
    if not value:
        return LANGUAGES[0]
    base = value.split(".")[0].replace("-", "_").split("_")[0].lower()
    if base not in LANGUAGES:
        raise CodeerError(
            f"{ENV} must be one of {', '.join(LANGUAGES)}. Got {value!r} instead. "
            f"Unset it for Dutch, or set {ENV}=en for English."
        )
    return base


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The catalogue of ``lang`` (read once); English is the source text itself."""
    if lang == SOURCE_LANGUAGE:
        return _gettext.NullTranslations()
    # No fallback: a missing catalogue is a broken install, not something to hide.
    return _gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang])


def gettext(message: str) -> str:
    """``message`` (English) in the current language."""
    return translations(language()).gettext(message)


_ = gettext


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, in the current language."""
    return translations(language()).ngettext(singular, plural, n)


def N_(message: str) -> str:  # the name gettext tools look for
    """Mark ``message`` for extraction without translating it now (module-level tables are
    built at import; translate with :func:`gettext` where the text is shown)."""
    return message
