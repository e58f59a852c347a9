"""The printable report's words in the reader's language.

The report is written by the server, but its words are the pages' own: messages keyed by their English text
in web/i18n/<language>.json (the catalogues the browser uses), with `{name}` placeholders and plural forms by
category. A message a catalogue lacks reads in English. Only the plural rules of the six interface languages
are needed; they are the CLDR rules the browsers apply (Intl.PluralRules), for whole numbers.
"""

from __future__ import annotations

import gettext
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pycountry

CATALOGUES = Path(__file__).resolve().parent.parent / "web" / "i18n"
LANGUAGES = ("en", "fr", "es", "ar", "zh", "ru")
RTL = frozenset({"ar"})
# pycountry's ISO 3166 catalogues (Debian's iso-codes) name Chinese by its script's region.
_COUNTRY_LOCALES = {"zh": "zh_CN"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def plural_category(language: str, n: int) -> str:
    """CLDR's category of a whole number in a language (the ones the catalogues carry)."""
    n = abs(n)
    if language == "zh":
        return "other"
    if language == "fr":
        return "one" if n in (0, 1) else "many" if n != 0 and n % 1_000_000 == 0 else "other"
    if language == "es":
        return "one" if n == 1 else "many" if n != 0 and n % 1_000_000 == 0 else "other"
    if language == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    if language == "ar":
        if n in (0, 1, 2):
            return ("zero", "one", "two")[n]
        if 3 <= n % 100 <= 10:
            return "few"
        return "many" if 11 <= n % 100 <= 99 else "other"
    return "one" if n == 1 else "other"


@cache
def _messages(language: str) -> dict[str, Any]:
    if language not in LANGUAGES or language == "en":
        return {}
    try:
        data = json.loads((CATALOGUES / f"{language}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no catalogue: English, as in the browser
    messages: dict[str, Any] = data.get("messages", {})
    return messages


def _fill(text: str, values: dict[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


class Words:
    """`t` and `tn` for one language, as in js/i18n.js."""

    def __init__(self, language: str | None) -> None:
        self.language = language if language in LANGUAGES else "en"
        self.direction = "rtl" if self.language in RTL else "ltr"

    def t(self, message: str, **values: Any) -> str:
        found = _messages(self.language).get(message)
        return _fill(found if isinstance(found, str) else message, values)

    def country(self, code: str) -> str:
        """A country's name, for a code."""
        return country_name(code, self.language)

    def tn(self, count: int, one: str, other: str, **values: Any) -> str:
        values = {"count": count, **values}
        found = _messages(self.language).get(other)
        if isinstance(found, dict):
            form = found.get(plural_category(self.language, count)) or found.get("other")
            if isinstance(form, str):
                return _fill(form, values)
        return _fill(one if count == 1 else other, values)


@cache
def _country_names(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    locale = _COUNTRY_LOCALES.get(language, language)
    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[locale], fallback=True)


def country_name(code: str, language: str) -> str:
    """A country's name in the reader's language ("KE" → "Kenya", "كينيا"); the code when it is not one."""
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    if country is None:
        return code
    if language not in LANGUAGES or language == "en":
        return str(getattr(country, "common_name", None) or country.name)
    return _country_names(language).gettext(country.name)
