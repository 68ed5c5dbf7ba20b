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


def language(strict: bool = True) -> str:
    """The language now in force: ``CODEER_LANG`` (``nl``, ``en``, also ``en_GB.UTF-8``), else
    ``nl``.

    Args:
        strict: Refuse a language codeer has no catalogue for. ``False`` falls back to Dutch:
            for texts made before a command can report an error (the command line's help is
            built when ``pipeline.cli`` is imported; the command itself then refuses the value).

    Raises:
        CodeerError: ``CODEER_LANG`` names a language codeer has no catalogue for (strict only).
    """
    value = os.environ.get(ENV, "").strip()
    if not value:
        return LANGUAGES[0]
    base = value.split(".")[0].replace("-", "_").split("_")[0].lower()
    if base not in LANGUAGES:
        if not strict:
            return LANGUAGES[0]
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


def lenient_gettext(message: str) -> str:
    """:func:`gettext`, but Dutch instead of an error when ``CODEER_LANG`` is unknown.

    For the command line's help texts, which are translated when ``pipeline.cli`` is imported:
    an import must not fail, and every command checks the language before it runs.
    """
    return translations(language(strict=False)).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, in the current language."""
    return translations(language()).ngettext(singular, plural, n)


def located(file: object, line: int | None, message: str) -> str:
    """``message`` prefixed with the file and, where known, the line: ``codebook.yaml line 19:
    ...`` (``regel`` in Dutch). One wording for every file codeer reads."""
    if line:
        return gettext("{file} line {line}: {message}").format(file=file, line=line,
                                                              message=message)
    return f"{file}: {message}"


def thousands(n: int) -> str:
    """``n`` with thousands separators as the language of the run writes them: 4.000.000 in
    Dutch, 4,000,000 in English."""
    text = f"{n:,}"
    return text.replace(",", ".") if language(strict=False) == "nl" else text


def decimal(value: float, digits: int = 1) -> str:
    """``value`` with ``digits`` decimals and the language's decimal mark: 28,5 in Dutch,
    28.5 in English (no thousands separator: these are percentages and seconds)."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if language(strict=False) == "nl" else text


def N_(message: str) -> str:  # the name gettext tools look for
    """Mark ``message`` for extraction without translating it now (module-level tables are
    built at import; translate with :func:`gettext` where the text is shown)."""
    return message


# Typer translates a few of its own texts (section titles, defaults, "required") with the
# standard library's gettext in the global text domain; its copy of click translates nothing,
# so ``pipeline.cli`` gives its commands the usage line, help option and usage errors itself.
# These are typer's texts exactly, marked so that extraction keeps them in codeer's catalogue;
# :func:`use_for_click` makes typer read that catalogue.
TYPER_MESSAGES = (
    N_("Options"), N_("Commands"), N_("Arguments"), N_("default: {default}"), N_("required"),
    N_("Aborted!"), N_("Missing command."), N_("No such command {name!r}."),
)


def use_for_click() -> None:
    """Make typer's own texts (:data:`TYPER_MESSAGES`) speak codeer's language.

    Typer looks them up with :func:`gettext.gettext`: in the global text domain, in the
    language of the ``LANGUAGE`` environment variable. Bind that domain to codeer's catalogue
    and set ``LANGUAGE`` from ``CODEER_LANG`` (leniently: the command refuses a bad value), in
    this process and the processes it starts.
    """
    _gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    _gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = language(strict=False)
