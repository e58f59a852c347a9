"""World regions of countries, so balance figures can group participants by region.

Source: United Nations M49 standard, "Standard country or area codes for statistical use" (UNSD),
with its five continental regions and their sub-regions. Intermediate regions (Eastern Africa,
Caribbean, ...) are folded into their sub-region (Sub-Saharan Africa, Latin America and the Caribbean).

Codes are ISO 3166-1 alpha-2. Left out: AQ (Antarctica), which M49 lists under no region.
TW is not listed by M49 on its own; it is counted with China, so it falls in Eastern Asia.
XK (Kosovo) is not an ISO 3166-1 code and is not in the table.
"""

from __future__ import annotations

from enum import StrEnum


class Region(StrEnum):
    AFRICA = "africa"
    AMERICAS = "americas"
    ASIA = "asia"
    EUROPE = "europe"
    OCEANIA = "oceania"

    @property
    def label(self) -> str:
        return self.value.capitalize()


# (region, sub-region, codes); the comments name the M49 intermediate regions.
_TABLE: tuple[tuple[Region, str, str], ...] = (
    (Region.AFRICA, "Northern Africa", "DZ EG EH LY MA SD TN"),
    (
        Region.AFRICA,
        "Sub-Saharan Africa",
        # Eastern Africa
        "BI DJ ER ET IO KE KM MG MU MW MZ RE RW SC SO SS TF TZ UG YT ZM ZW"
        # Middle Africa
        " AO CD CF CG CM GA GQ ST TD"
        # Southern Africa
        " BW LS NA SZ ZA"
        # Western Africa
        " BF BJ CI CV GH GM GN GW LR ML MR NE NG SH SL SN TG",
    ),
    (
        Region.AMERICAS,
        "Latin America and the Caribbean",
        # Caribbean
        "AG AI AW BB BL BQ BS CU CW DM DO GD GP HT JM KN KY LC MF MQ MS PR SX TC TT VC VG VI"
        # Central America
        " BZ CR GT HN MX NI PA SV"
        # South America
        " AR BO BR BV CL CO EC FK GF GS GY PE PY SR UY VE",
    ),
    (Region.AMERICAS, "Northern America", "BM CA GL PM US"),
    (Region.ASIA, "Central Asia", "KG KZ TJ TM UZ"),
    (Region.ASIA, "Eastern Asia", "CN HK JP KP KR MN MO TW"),
    (Region.ASIA, "South-eastern Asia", "BN ID KH LA MM MY PH SG TH TL VN"),
    (Region.ASIA, "Southern Asia", "AF BD BT IN IR LK MV NP PK"),
    (Region.ASIA, "Western Asia", "AE AM AZ BH CY GE IL IQ JO KW LB OM PS QA SA SY TR YE"),
    (Region.EUROPE, "Eastern Europe", "BG BY CZ HU MD PL RO RU SK UA"),
    (Region.EUROPE, "Northern Europe", "AX DK EE FI FO GB GG IE IM IS JE LT LV NO SE SJ"),
    (Region.EUROPE, "Southern Europe", "AD AL BA ES GI GR HR IT ME MK MT PT RS SI SM VA"),
    (Region.EUROPE, "Western Europe", "AT BE CH DE FR LI LU MC NL"),
    (Region.OCEANIA, "Australia and New Zealand", "AU CC CX HM NF NZ"),
    (Region.OCEANIA, "Melanesia", "FJ NC PG SB VU"),
    (Region.OCEANIA, "Micronesia", "FM GU KI MH MP NR PW UM"),
    (Region.OCEANIA, "Polynesia", "AS CK NU PF PN TK TO TV WF WS"),
)


def _build() -> dict[str, tuple[Region, str]]:
    table: dict[str, tuple[Region, str]] = {}
    for region, subregion, codes in _TABLE:
        for code in codes.split():
            if code in table:
                raise ValueError(f"{code} is listed twice")
            table[code] = (region, subregion)
    return table


REGIONS: dict[str, tuple[Region, str]] = _build()


def _entry(country: str | None) -> tuple[Region, str] | None:
    if country is None:
        return None
    return REGIONS.get(country.strip().upper())


def region_of(country: str | None) -> Region | None:
    """The M49 region of an ISO 3166-1 alpha-2 code (any case); None if absent or unknown."""
    entry = _entry(country)
    return entry[0] if entry else None


def subregion_of(country: str | None) -> str | None:
    """The M49 sub-region name of an ISO 3166-1 alpha-2 code (any case); None if absent or unknown."""
    entry = _entry(country)
    return entry[1] if entry else None
