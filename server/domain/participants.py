"""Who takes part: registration fields, their allowed values and how names are cleaned."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import pycountry

from .errors import InvalidInput

NAME_MAX = 120
AFFILIATION_MAX = 200


class StakeholderGroup(StrEnum):
    GOVERNMENT = "government"
    PRIVATE_SECTOR = "private_sector"
    CIVIL_SOCIETY = "civil_society"
    ACADEMIC_TECHNICAL = "academic_technical"
    INTERNATIONAL_ORGANIZATION = "international_organization"

    @property
    def label(self) -> str:
        return GROUP_LABELS[self]


GROUP_LABELS: dict[StakeholderGroup, str] = {
    StakeholderGroup.GOVERNMENT: "Government",
    StakeholderGroup.PRIVATE_SECTOR: "Private sector",
    StakeholderGroup.CIVIL_SOCIETY: "Civil society",
    StakeholderGroup.ACADEMIC_TECHNICAL: "Academic and technical community",
    StakeholderGroup.INTERNATIONAL_ORGANIZATION: "International organization",
}


class Gender(StrEnum):
    WOMAN = "woman"
    MAN = "man"
    ANOTHER = "another"


class AgeBand(StrEnum):
    UNDER_25 = "under_25"
    FROM_25_TO_34 = "25_34"
    FROM_35_TO_49 = "35_49"
    FROM_50_TO_64 = "50_64"
    FROM_65 = "65_plus"

    @property
    def is_youth(self) -> bool:
        """Youth as the United Nations counts it for statistics: under 25."""
        return self is AgeBand.UNDER_25


# Bidirectional overrides and isolates can make a name display as something else; joiners (U+200C/D),
# needed in Arabic-script and Indic names, stay allowed.
_SPOOFING = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))

# Letters that draw nothing: Hangul fillers (U+115F, U+1160, U+3164, U+FFA0), the blank Braille pattern and
# the Khmer inherent vowels. Their categories (Lo, So, Mn) look like ink, so they are listed by hand.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5")
# In a name, formats (Cf: zero-width spaces, direction marks, the byte-order mark, invisible operators, tags),
# private-use and unassigned code points, and line or paragraph separators are refused: they make two names
# that look the same differ, or a name that looks empty.
_INVISIBLE_CATEGORIES = ("Cf", "Co", "Cn", "Zl", "Zp")
ZWNJ, ZWJ = "\u200c", "\u200d"


def _joins(text: str, index: int) -> bool:
    """A joiner between two letters (or marks) shapes Persian, Arabic and Indic names: "می\u200cخواهم".
    ZWJ also binds emoji into one picture (a person and a laptop)."""
    if index == 0 or index == len(text) - 1:
        return False
    before, after = unicodedata.category(text[index - 1]), unicodedata.category(text[index + 1])
    if before.startswith(("L", "M")) and after.startswith(("L", "M")):
        return True
    return text[index] == ZWJ and before == "So" and after == "So"


def clean_name(value: object, field: str, *, max_length: int, required: bool = True) -> str:
    """`clean_text`, and every character visible: what a person is called on everyone's screen.

    A name of fillers would show as nobody; a zero-width character would let two people look alike.
    """
    text = clean_text(value, field, max_length=max_length, required=required)
    for index, char in enumerate(text):
        invisible = char in _FILLERS or unicodedata.category(char) in _INVISIBLE_CATEGORIES
        if invisible and not (char in (ZWNJ, ZWJ) and _joins(text, index)):
            raise InvalidInput(
                f"{field} contains an invisible character (U+{ord(char):04X}): type the name with visible "
                "characters only",
                details={"field": field},
            )
    return text


def clean_text(value: object, field: str, *, max_length: int, required: bool = True) -> str:
    """NFC-normalise, collapse white space and reject control or spoofing characters.

    Any script is accepted: names in Arabic, Chinese, Cyrillic and Latin scripts are all valid.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text", details={"field": field})
    text = " ".join(unicodedata.normalize("NFC", value).split())
    for char in text:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Co", "Cn") or char in _SPOOFING:
            raise InvalidInput(
                f"{field} contains a character that is not allowed (U+{ord(char):04X})",
                details={"field": field},
            )
    if required and not text:
        raise InvalidInput(f"{field} is required", details={"field": field})
    if len(text) > max_length:
        raise InvalidInput(
            f"{field} is too long ({len(text)} characters, at most {max_length})", details={"field": field}
        )
    if required and not any(unicodedata.category(c).startswith(("L", "N")) for c in text):
        raise InvalidInput(f"{field} must contain letters", details={"field": field})
    return text


def clean_country(value: object) -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased."""
    if not isinstance(value, str) or len(value.strip()) != 2:
        raise InvalidInput("country must be a two-letter ISO 3166 code", details={"field": "country"})
    code = value.strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise InvalidInput(f"{code} is not an ISO 3166 country code", details={"field": "country"})
    return code


E = TypeVar("E", bound=StrEnum)


def _enum(kind: type[E], value: object, field: str) -> E:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidInput(f"{field} must be one of: {allowed}", details={"field": field}) from None


@dataclass(frozen=True)
class Registration:
    """An attendee's self-registration for an event, checked as it is built.

    Gender and age band are kept only with explicit consent: sending them without it is refused
    rather than silently stored or silently dropped.
    """

    display_name: str
    affiliation: str
    stakeholder_group: StakeholderGroup
    country: str
    consent_demographics: bool = False
    gender: Gender | None = None
    age_band: AgeBand | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "display_name", clean_name(self.display_name, "display_name", max_length=NAME_MAX))
        set_(self, "affiliation", clean_name(self.affiliation, "affiliation", max_length=AFFILIATION_MAX))
        set_(self, "stakeholder_group", _enum(StakeholderGroup, self.stakeholder_group, "stakeholder_group"))
        set_(self, "country", clean_country(self.country))
        if not isinstance(self.consent_demographics, bool):
            raise InvalidInput(
                "consent_demographics must be true or false", details={"field": "consent_demographics"}
            )
        if self.gender is not None:
            set_(self, "gender", _enum(Gender, self.gender, "gender"))
        if self.age_band is not None:
            set_(self, "age_band", _enum(AgeBand, self.age_band, "age_band"))
        if not self.consent_demographics and (self.gender is not None or self.age_band is not None):
            raise InvalidInput(
                "gender and age band are kept only with consent: set consent_demographics to true "
                "or leave them out",
                details={"field": "consent_demographics"},
            )
