"""UN M49 regions: the table covers every ISO 3166-1 country and places them as M49 does."""

from __future__ import annotations

import pycountry
import pytest

from server.domain.regions import REGIONS, Region, region_of, subregion_of

# Codes in ISO 3166-1 that M49 places in no region.
NOT_IN_ANY_REGION = {"AQ"}  # Antarctica

ISO_CODES = {country.alpha_2 for country in pycountry.countries}

SUBREGIONS = {
    Region.AFRICA: {"Northern Africa", "Sub-Saharan Africa"},
    Region.AMERICAS: {"Latin America and the Caribbean", "Northern America"},
    Region.ASIA: {"Central Asia", "Eastern Asia", "South-eastern Asia", "Southern Asia", "Western Asia"},
    Region.EUROPE: {"Eastern Europe", "Northern Europe", "Southern Europe", "Western Europe"},
    Region.OCEANIA: {"Australia and New Zealand", "Melanesia", "Micronesia", "Polynesia"},
}


def test_every_iso_code_has_a_region_except_the_documented_ones() -> None:
    missing = ISO_CODES - REGIONS.keys()
    assert missing == NOT_IN_ANY_REGION
    assert NOT_IN_ANY_REGION <= ISO_CODES


def test_every_code_in_the_table_is_an_iso_code() -> None:
    assert REGIONS.keys() - ISO_CODES == set()


def test_sub_regions_belong_to_their_region_and_all_are_used() -> None:
    for region, subregion in REGIONS.values():
        assert subregion in SUBREGIONS[region]
    used = {subregion for _, subregion in REGIONS.values()}
    assert used == set().union(*SUBREGIONS.values())


@pytest.mark.parametrize(
    ("code", "region", "subregion"),
    [
        # Africa
        ("EG", Region.AFRICA, "Northern Africa"),
        ("MA", Region.AFRICA, "Northern Africa"),
        ("SD", Region.AFRICA, "Northern Africa"),
        ("SN", Region.AFRICA, "Sub-Saharan Africa"),
        ("KE", Region.AFRICA, "Sub-Saharan Africa"),
        ("ZA", Region.AFRICA, "Sub-Saharan Africa"),
        ("NG", Region.AFRICA, "Sub-Saharan Africa"),
        ("IO", Region.AFRICA, "Sub-Saharan Africa"),
        ("TF", Region.AFRICA, "Sub-Saharan Africa"),
        # Americas
        ("MX", Region.AMERICAS, "Latin America and the Caribbean"),
        ("BR", Region.AMERICAS, "Latin America and the Caribbean"),
        ("BV", Region.AMERICAS, "Latin America and the Caribbean"),
        ("GS", Region.AMERICAS, "Latin America and the Caribbean"),
        ("US", Region.AMERICAS, "Northern America"),
        ("CA", Region.AMERICAS, "Northern America"),
        ("GL", Region.AMERICAS, "Northern America"),
        # Asia
        ("KZ", Region.ASIA, "Central Asia"),
        ("CN", Region.ASIA, "Eastern Asia"),
        ("JP", Region.ASIA, "Eastern Asia"),
        ("MN", Region.ASIA, "Eastern Asia"),
        ("TW", Region.ASIA, "Eastern Asia"),
        ("ID", Region.ASIA, "South-eastern Asia"),
        ("IN", Region.ASIA, "Southern Asia"),
        ("IR", Region.ASIA, "Southern Asia"),
        ("AF", Region.ASIA, "Southern Asia"),
        ("PK", Region.ASIA, "Southern Asia"),
        ("SA", Region.ASIA, "Western Asia"),
        ("CY", Region.ASIA, "Western Asia"),
        ("TR", Region.ASIA, "Western Asia"),
        ("GE", Region.ASIA, "Western Asia"),
        ("AM", Region.ASIA, "Western Asia"),
        ("AZ", Region.ASIA, "Western Asia"),
        # Europe
        ("RU", Region.EUROPE, "Eastern Europe"),
        ("PL", Region.EUROPE, "Eastern Europe"),
        ("UA", Region.EUROPE, "Eastern Europe"),
        ("GB", Region.EUROPE, "Northern Europe"),
        ("IT", Region.EUROPE, "Southern Europe"),
        ("FR", Region.EUROPE, "Western Europe"),
        ("DE", Region.EUROPE, "Western Europe"),
        ("CH", Region.EUROPE, "Western Europe"),
        # Oceania
        ("AU", Region.OCEANIA, "Australia and New Zealand"),
        ("NZ", Region.OCEANIA, "Australia and New Zealand"),
        ("HM", Region.OCEANIA, "Australia and New Zealand"),
        ("CX", Region.OCEANIA, "Australia and New Zealand"),
        ("CC", Region.OCEANIA, "Australia and New Zealand"),
        ("FJ", Region.OCEANIA, "Melanesia"),
        ("PG", Region.OCEANIA, "Melanesia"),
        ("KI", Region.OCEANIA, "Micronesia"),
        ("UM", Region.OCEANIA, "Micronesia"),
        ("WS", Region.OCEANIA, "Polynesia"),
    ],
)
def test_spot_checks(code: str, region: Region, subregion: str) -> None:
    assert region_of(code) is region
    assert subregion_of(code) == subregion
    assert REGIONS[code] == (region, subregion)


def test_none_unknown_and_lower_case() -> None:
    assert region_of(None) is None
    assert subregion_of(None) is None
    assert region_of("") is None
    assert region_of("XK") is None
    assert region_of("AQ") is None
    assert subregion_of("ZZ") is None
    assert region_of("fr") is Region.EUROPE
    assert subregion_of("mx") == "Latin America and the Caribbean"
    assert region_of(" jp ") is Region.ASIA


def test_labels() -> None:
    assert [region.label for region in Region] == ["Africa", "Americas", "Asia", "Europe", "Oceania"]
    assert [region.value for region in Region] == ["africa", "americas", "asia", "europe", "oceania"]
